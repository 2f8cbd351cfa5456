/**
 * The put of the Azure destination: one block blob at its key, verified, never partly visible.
 *
 *  1. The key check (unless `replace`): the properties of the blob at the key decide whether the
 *     put is a no-op (the same size and sha256 metadata: `alreadyPresent`), refused (other
 *     content and `noOverwrite`) or goes ahead.
 *  2. Staging: the source is read in blocks (blockSize, grown to stay within 50,000 blocks), each
 *     staged with Put Block and its Content-MD5, which the service checks (a block damaged in
 *     transit is refused with Md5Mismatch, and staged again); at most `concurrency` blocks in
 *     flight. Why MD5 rather than CRC64: Azure Storage and Azurite both verify Content-MD5 on
 *     Put Block, so the tests prove what production relies on (Azurite ignores x-ms-content-crc64).
 *     A block's id is derived from its index and the SHA-256 of its bytes: a put that restarts
 *     after a crash stages the same bytes under the same ids, and blocks the service still holds
 *     uncommitted (Get Block List, for a source of more than one block) are not sent again. Staged blocks are not a blob: nothing is
 *     visible at the key, head/get answer 404 and list() does not show them; the service drops
 *     them at the next commit of the key or after a week.
 *  3. The whole source is hashed on the way: a size or SHA-256 other than the declared one stops
 *     the put before anything is committed (IntegrityError 'source'); then `onSourceRead`.
 *  4. The commit (Put Block List) waits for `after`; it carries the metadata (our `sha256`), the
 *     Content-Type and the whole blob's Content-MD5, `If-None-Match: *` with `noOverwrite`, and
 *     the immutability policy / legal hold when configured. It is never cut off mid-way by an
 *     abort. When its outcome is unknown (a lost response retried into "already exists"), the
 *     blob's properties decide: the right size and sha256 at the key means it is committed.
 *  5. Verification: the blob's size, sha256 metadata and Content-MD5 are read back. The bytes of
 *     a committed blob are the concatenation of the blocks named in the list, each checked by
 *     the service against its MD5 when staged; the size check closes the argument.
 *
 * Retries: each request is retried on its own (src/deliver/azure-context.ts); a verification
 * failure restarts the whole put within the same `retryAttempts` budget. `PutResult.attempts`
 * = 1 + every request retry + restarts.
 */
import { createHash } from 'node:crypto';
import { open, stat } from 'node:fs/promises';
import type { BlobGetPropertiesResponse, BlockBlobCommitBlockListOptions } from '@azure/storage-blob';
import { CronLogError } from '../errors.js';
import { abortReason, backoffDelay, raceAbort, sleep } from '../retry.js';
import type { AzureContext } from './azure-context.js';
import { classifyAzureError } from './azure-errors.js';
import { azureMetadata, blobProperties } from './azure-objects.js';
import { blockSizeFor } from './azure-options.js';
import { SHA256_METADATA_KEY, afterGate, overwriteRefused, type ObjectSource, type PutInput, type PutResult } from './destination.js';
import { IntegrityError, describeFsError } from './errors.js';
import { contentTypeFor } from './s3-options.js';

/** What one put's requests did: its retries and its last failed request, for the error message. */
class PutRecord {
  retries = 0;
  lastError: unknown;
  lastRequest: string | undefined;
  reusedBlocks = 0;

  readonly countRetry = (): void => {
    this.retries++;
  };

  failed(request: string, err: unknown): never {
    this.lastError = err;
    this.lastRequest = request;
    throw err;
  }
}

/** The id of block `index` holding bytes whose SHA-256 is `sha256hex` (60 bytes before base64; all ids of a blob have the same length). */
export function blockId(index: number, sha256hex: string): string {
  return Buffer.from(`cls1-${String(index).padStart(6, '0')}-${sha256hex.slice(0, 48)}`).toString('base64');
}

/** The source in blocks of `blockSize` bytes (the last one shorter); each block is a new buffer (blocks in flight keep theirs). */
async function* blocksOf(source: ObjectSource, blockSize: number, signal: AbortSignal): AsyncGenerator<Buffer> {
  if ('body' in source) {
    for (let at = 0; at < source.body.length; at += blockSize) yield source.body.subarray(at, at + blockSize);
    return;
  }
  const fh = await open(source.path, 'r');
  try {
    for (;;) {
      if (signal.aborted) throw abortReason(signal);
      const buf = Buffer.allocUnsafe(blockSize);
      let filled = 0;
      while (filled < blockSize) {
        const { bytesRead } = await fh.read(buf, filled, blockSize - filled, null);
        if (bytesRead === 0) break;
        filled += bytesRead;
      }
      if (filled > 0) yield filled === blockSize ? buf : buf.subarray(0, filled);
      if (filled < blockSize) return;
    }
  } finally {
    await fh.close();
  }
}

/** Ids and sizes of the blocks staged but not committed at `key` (after a crash); empty when none or unknown. */
async function uncommittedBlocks(ctx: AzureContext, key: string, record: PutRecord, signal: AbortSignal): Promise<Map<string, number>> {
  try {
    const list = await ctx.send('GetBlockList', (abortSignal) => ctx.container.getBlockBlobClient(key).getBlockList('uncommitted', { abortSignal }), {
      signal,
      interruptible: true,
      onRetry: record.countRetry,
    });
    return new Map((list.uncommittedBlocks ?? []).map((b) => [b.name, b.size]));
  } catch (err) {
    if (signal.aborted) throw err;
    if (classifyAzureError(err) !== 'not-found') ctx.logger.debug('cannot list the staged blocks; staging every block', { key, error: ctx.describeError(err, 'head', key) });
    return new Map();
  }
}

interface Staged {
  ids: string[];
  /** MD5 of the whole source. */
  md5: Buffer;
}

/** Stages every block of the source (at most `concurrency` in flight), checking the source's size and SHA-256 on the way. */
async function stageBlocks(ctx: AzureContext, input: PutInput, record: PutRecord, signal: AbortSignal, onSourceRead: () => void): Promise<Staged> {
  const { key } = input;
  const label = 'path' in input.source ? input.source.path : `the body of ${key}`;
  if ('path' in input.source) {
    let size: number;
    try {
      size = (await stat(input.source.path)).size;
    } catch (err) {
      throw new CronLogError('DELIVERY_FAILED', `cannot read the source: ${describeFsError(err, input.source.path)}`, { cause: err });
    }
    if (size !== input.size) throw new IntegrityError('source', `${label} has ${size} bytes, expected ${input.size}: the source changed after it was sealed`);
  }
  const blob = ctx.container.getBlockBlobClient(key);
  const blockSize = blockSizeFor(ctx.settings, input.size);
  // A source of one block is simply staged again (no Get Block List round trip for a manifest).
  const staged = input.size > blockSize ? await uncommittedBlocks(ctx, key, record, signal) : new Map<string, number>();
  const stop = new AbortController();
  const stageSignal = AbortSignal.any([signal, stop.signal]);
  const whole = { sha: createHash('sha256'), md5: createHash('md5'), size: 0 };
  const ids: string[] = [];
  const inFlight = new Set<Promise<void>>();
  let failure: { error: unknown } | undefined;
  let problem: unknown;
  try {
    for await (const block of blocksOf(input.source, blockSize, stageSignal)) {
      if (failure !== undefined) break;
      whole.sha.update(block);
      whole.md5.update(block);
      whole.size += block.length;
      const id = blockId(ids.length, createHash('sha256').update(block).digest('hex'));
      ids.push(id);
      if (staged.get(id) === block.length) {
        record.reusedBlocks++;
        continue;
      }
      const md5 = createHash('md5').update(block).digest();
      const sent = ctx
        .send('PutBlock', (abortSignal) => blob.stageBlock(id, block, block.length, { transactionalContentMD5: md5, abortSignal }), {
          signal: stageSignal,
          interruptible: true,
          onRetry: record.countRetry,
        })
        .then(
          () => undefined,
          (error: unknown) => {
            if (failure !== undefined) return;
            failure = { error };
            stop.abort(error);
          },
        );
      inFlight.add(sent);
      void sent.finally(() => inFlight.delete(sent));
      if (inFlight.size >= ctx.settings.concurrency) await Promise.race(inFlight);
    }
  } catch (err) {
    problem = err;
  }
  if (problem === undefined && failure === undefined) {
    const sha = whole.sha.digest('hex');
    if (whole.size !== input.size) problem = new IntegrityError('source', `${label} has ${whole.size} bytes, expected ${input.size}: the source changed after it was sealed`);
    else if (sha !== input.sha256) problem = new IntegrityError('source', `${label} has sha256 ${sha}, expected ${input.sha256}: the source changed after it was sealed`);
    else onSourceRead();
  }
  if (problem !== undefined) stop.abort(problem);
  await Promise.all(inFlight);
  if (failure !== undefined) record.failed('PutBlock', failure.error);
  if (problem !== undefined) {
    if (problem instanceof IntegrityError || signal.aborted) throw problem;
    throw new CronLogError('DELIVERY_FAILED', `cannot read the source: ${describeFsError(problem, label)}`, { cause: problem });
  }
  return { ids, md5: whole.md5.digest() };
}

/** The commit's options: headers, metadata, the no-overwrite condition and the immutability settings. */
function commitOptions(ctx: AzureContext, input: PutInput, md5: Buffer): BlockBlobCommitBlockListOptions {
  const { azure } = ctx.settings;
  return {
    blobHTTPHeaders: { blobContentType: input.contentType ?? contentTypeFor(input.key), blobContentMD5: md5 },
    metadata: azureMetadata(input.metadata, input.sha256),
    ...(input.noOverwrite === true ? { conditions: { ifNoneMatch: '*' } } : {}),
    ...(azure.immutabilityDays !== undefined
      ? { immutabilityPolicy: { expiriesOn: new Date(Date.now() + azure.immutabilityDays * 86_400_000), policyMode: azure.immutabilityMode === 'locked' ? 'Locked' : 'Unlocked' } }
      : {}),
    ...(azure.legalHold === true ? { legalHold: true } : {}),
  };
}

function holds(props: BlobGetPropertiesResponse | undefined, input: PutInput): boolean {
  return props !== undefined && props.contentLength === input.size && props.metadata?.[SHA256_METADATA_KEY] === input.sha256;
}

/** Put Block List; when it fails, the blob's properties say whether it was committed anyway. */
async function commit(ctx: AzureContext, input: PutInput, staged: Staged, record: PutRecord): Promise<string | undefined> {
  const blob = ctx.container.getBlockBlobClient(input.key);
  try {
    const res = await ctx.send('PutBlockList', () => blob.commitBlockList(staged.ids, commitOptions(ctx, input, staged.md5)), { onRetry: record.countRetry });
    return res.etag;
  } catch (err) {
    // Outside the put's signal: the outcome of a commit that was sent must be known.
    const props = await blobProperties(ctx, input.key, { onRetry: record.countRetry }).catch(() => undefined);
    if (holds(props, input)) {
      ctx.logger.info('delivered (the commit was answered with an error but the blob is there; verified by its properties)', { key: input.key });
      return props?.etag;
    }
    if (input.noOverwrite === true && classifyAzureError(err) === 'already-exists') {
      throw overwriteRefused(input.key, { size: props?.contentLength ?? 0, sha256: props?.metadata?.[SHA256_METADATA_KEY] });
    }
    return record.failed('PutBlockList', err);
  }
}

/** Reads the committed blob's properties back: size, sha256 metadata and Content-MD5. */
async function verifyCommitted(ctx: AzureContext, input: PutInput, md5: Buffer, record: PutRecord, signal: AbortSignal): Promise<BlobGetPropertiesResponse> {
  let props: BlobGetPropertiesResponse | undefined;
  try {
    props = await blobProperties(ctx, input.key, { signal, onRetry: record.countRetry });
  } catch (err) {
    return record.failed('GetBlobProperties', err);
  }
  const where = `${ctx.describe()} ${input.key}`;
  if (props === undefined) throw new IntegrityError('stored', `${where} is missing after the commit`);
  if (props.contentLength !== input.size) throw new IntegrityError('stored', `${where} has ${String(props.contentLength)} bytes after the commit, expected ${input.size}`);
  const metaSha = props.metadata?.[SHA256_METADATA_KEY];
  if (metaSha !== input.sha256) throw new IntegrityError('stored', `${where} has sha256 metadata ${String(metaSha)} after the commit, expected ${input.sha256}`);
  if (props.contentMD5 !== undefined && !Buffer.from(props.contentMD5).equals(md5)) {
    throw new IntegrityError('stored', `${where} has Content-MD5 ${Buffer.from(props.contentMD5).toString('base64')} after the commit, expected ${md5.toString('base64')}`);
  }
  return props;
}

/**
 * The key check: the properties of the blob at the key when it holds the same bytes (the put is
 * a no-op), undefined when the put may go ahead; throws when it must not.
 */
async function checkExisting(ctx: AzureContext, input: PutInput, record: PutRecord, signal: AbortSignal): Promise<BlobGetPropertiesResponse | undefined> {
  let existing: BlobGetPropertiesResponse | undefined;
  try {
    existing = await blobProperties(ctx, input.key, { signal, onRetry: record.countRetry });
  } catch (err) {
    if (signal.aborted || input.noOverwrite === true) record.failed('GetBlobProperties', err);
    ctx.logger.warn('cannot check for an existing blob before uploading', { key: input.key, error: ctx.describeError(err, 'head', input.key) });
    return undefined;
  }
  if (existing === undefined) return undefined;
  if (holds(existing, input)) {
    ctx.logger.info('object already delivered', { key: input.key, size: input.size });
    return existing;
  }
  const other = { size: existing.contentLength ?? 0, sha256: existing.metadata?.[SHA256_METADATA_KEY] };
  if (input.noOverwrite === true) throw overwriteRefused(input.key, other);
  ctx.logger.warn('replacing an object with different content', { key: input.key, ...other });
  return undefined;
}

export async function putBlob(ctx: AzureContext, input: PutInput, signal: AbortSignal): Promise<PutResult> {
  const { key, size, sha256 } = input;
  const started = Date.now();
  const record = new PutRecord();
  const policy = ctx.settings.policy;
  let restarts = 0;
  const gate = afterGate(input.after);
  const after = gate.promise;
  let onSourceRead = input.onSourceRead;
  const sourceRead = (): void => {
    const callback = onSourceRead;
    onSourceRead = undefined;
    try {
      callback?.();
    } catch (err) {
      ctx.logger.warn('the onSourceRead callback of a put failed', { error: (err as Error).message });
    }
  };
  try {
    if (input.replace !== true) {
      const same = await checkExisting(ctx, input, record, signal);
      if (same !== undefined) return { key, size, sha256, attempts: 1 + record.retries, ...(same.etag !== undefined ? { etag: same.etag } : {}), alreadyPresent: true };
    }
    for (;;) {
      try {
        const staged = await stageBlocks(ctx, input, record, signal, sourceRead);
        if (after !== undefined) await raceAbort(after, signal);
        if (signal.aborted) throw abortReason(signal);
        const etag = await commit(ctx, input, staged, record);
        const props = await verifyCommitted(ctx, input, staged.md5, record, signal);
        const attempts = 1 + record.retries + restarts;
        ctx.logger.info('delivered', { key, size, attempts, reusedBlocks: record.reusedBlocks, blocks: staged.ids.length, ms: Date.now() - started });
        const tag = props.etag ?? etag;
        return { key, size, sha256, attempts, ...(tag !== undefined ? { etag: tag } : {}), ...(props.versionId !== undefined ? { versionId: props.versionId } : {}) };
      } catch (err) {
        gate.rethrowIfFailed();
        // Only a blob that failed its verification is worth a whole new try; a request failed after its own retries.
        if (signal.aborted || !(err instanceof IntegrityError && err.phase === 'stored') || restarts >= policy.retries) throw err;
        restarts++;
        const delay = backoffDelay(restarts, policy);
        ctx.logger.warn('restarting the upload', { key, error: err.message, delayMs: delay });
        await sleep(delay, signal);
      }
    }
  } catch (err) {
    gate.rethrowIfFailed();
    throw putFailure(ctx, input, err, record, restarts, signal);
  }
}

/** The error a failed put rejects with: ABORTED, our own error, or DELIVERY_FAILED naming the request and the attempts. */
function putFailure(ctx: AzureContext, input: PutInput, err: unknown, record: PutRecord, restarts: number, signal: AbortSignal): CronLogError {
  const where = `${input.key} to ${ctx.describe()}`;
  if (signal.aborted) return new CronLogError('ABORTED', `delivery of ${where} was aborted: ${abortReason(signal).message}`, { cause: err });
  if (err instanceof CronLogError && !(err instanceof IntegrityError)) return err;
  const cause = err instanceof IntegrityError ? err : (record.lastError ?? err);
  const attempts = 1 + record.retries + restarts;
  const request = record.lastRequest !== undefined && !(err instanceof IntegrityError) ? `${record.lastRequest}: ` : '';
  const committed = err instanceof IntegrityError && err.phase === 'stored';
  const outcome = committed ? '' : '; nothing was committed at the key (staged blocks are not a blob)';
  const message = `cannot deliver ${where}: ${request}${ctx.describeError(cause, 'put', input.key)} (after ${attempts} attempt${attempts === 1 ? '' : 's'})${outcome}`;
  const failure = new CronLogError('DELIVERY_FAILED', ctx.redact(message), { cause });
  return Object.assign(failure, { attempts });
}
