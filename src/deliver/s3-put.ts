/**
 * The put of the S3 destination: one object at its key, verified, never partly visible.
 *
 *  1. The key check: a HEAD of the key decides whether the put is a no-op (the same size and
 *     sha256 are there: `alreadyPresent`), refused (other content and `noOverwrite`) or goes
 *     ahead. It runs while the multipart upload is created and the first parts are read; the
 *     upload's `partsWaitFor` holds every part (and a single PutObject) until it has answered,
 *     so nothing is created at the key and no data sent when the object is there already (the
 *     multipart upload is then aborted). A put with `replace` (the manifests) skips it.
 *  2. The upload (src/deliver/part-upload.ts), whose `completionWaitsFor` is the caller's `after`
 *     (the seal's check of the file's facts and its ledger write): parts go up meanwhile, the
 *     object is only created once it resolves; its rejection stops the upload at once.
 *  3. Verification (src/deliver/s3-verify.ts): a HEAD checks the size, our `sha256` user
 *     metadata and the server's checksum or the ETag where they can be predicted from our part
 *     digests (else, in MD5 / NONE mode, the object is read back); a single PutObject whose
 *     answer proves the bytes needs none.
 *
 * Retries: each S3 request is retried on its own (src/deliver/s3-request.ts). Around that, the
 * whole upload restarts (new upload id) only when a request retry cannot help: the multipart
 * upload vanished (NoSuchUpload), the stored object failed verification, or a retryable failure
 * that was no request's (e.g. EMFILE reading the source); restarts come out of the same
 * `retryAttempts` budget. When CompleteMultipartUpload (or the single PutObject) was sent but its
 * outcome is unknown (e.g. the connection dropped before the response), a HEAD decides: the right
 * size and sha256 at the key means the object is complete. `PutResult.attempts` = 1 + all
 * request retries + restarts.
 *
 * Abort: the upload aborts its own multipart upload on failure; when a CreateMultipartUpload had
 * to be retried (its first response may have been lost, leaving an upload we never saw), uploads
 * of the same key initiated during this put are looked up with ListMultipartUploads and aborted.
 * An upload that cannot be aborted (S3 unreachable) is invisible anyway, and the error says so;
 * a bucket lifecycle rule AbortIncompleteMultipartUpload removes its parts eventually. On
 * `signal` abort, no new request is started, no more of the source is read, the requests in
 * flight finish, the upload is aborted and the put rejects with ABORTED.
 */
import { stat } from 'node:fs/promises';
import type { HeadObjectCommandOutput } from '@aws-sdk/client-s3';
import { CronLogError } from '../errors.js';
import { abortReason, backoffDelay, errorCode, sleep } from '../retry.js';
import type { ObjectDigest } from './checksum.js';
import { SHA256_METADATA_KEY, afterGate, overwriteRefused, type PutInput, type PutResult } from './destination.js';
import { IntegrityError, classifyS3Error, describeFsError } from './errors.js';
import { s3Sdk } from './s3-sdk.js';
import { uploadParts, type UploadOutcome, type UploadRequests } from './part-upload.js';
import type { S3Context } from './s3-context.js';
import { headObject } from './s3-objects.js';
import { contentTypeFor, objectParams, partSizeFor, writeParams } from './s3-options.js';
import type { RequestOptions } from './s3-request.js';
import { provenBy, verifyStored } from './s3-verify.js';
import { isRetryableError } from './retryable.js';

/** What one put's requests did: what its retries, restarts, cleanup and error message need. */
class PutRecord {
  /** Request-level retries of every request the put made. */
  retries = 0;
  /** Multipart upload ids created in this put and their state. */
  readonly uploads = new Map<string, 'open' | 'completed' | 'aborted'>();
  /** Upload ids that could not be aborted, with the reason. */
  readonly abortFailures = new Map<string, unknown>();
  /** The last failed S3 request of the current upload attempt and its name. */
  lastError: unknown;
  lastCommand: string | undefined;
  /** A CompleteMultipartUpload or PutObject was sent: the object may exist even if we saw an error. */
  sentComplete = false;
  /** A CreateMultipartUpload needed a retry: an upload we never heard of may exist. */
  createRetried = false;

  readonly countRetry = (): void => {
    this.retries++;
  };

  /** A new upload attempt: its failures are its own. */
  restart(): void {
    this.sentComplete = false;
    this.lastError = undefined;
    this.lastCommand = undefined;
  }

  failed(command: string, err: unknown): never {
    this.lastError = err;
    this.lastCommand = command;
    throw err;
  }
}

/** Stops an upload whose key check found the same object at the key already. */
class AlreadyPresent extends Error {}

/** The upload's requests, sent through the destination's retries and recorded in `record`. */
function recordedRequests(ctx: S3Context, record: PutRecord, signal: AbortSignal | undefined): UploadRequests {
  const { requests } = ctx;
  const { client } = requests;
  const options: RequestOptions = { signal, onRetry: record.countRetry };
  return {
    putObject: (input, body) => {
      record.sentComplete = true;
      return requests.send('PutObject', () => client.send(new (s3Sdk().PutObjectCommand)({ ...input, Body: body() })), options).catch((err: unknown) => record.failed('PutObject', err));
    },
    createMultipartUpload: async (input) => {
      const onRetry = (): void => {
        record.createRetried = true;
        record.countRetry();
      };
      const out = await requests.send('CreateMultipartUpload', () => client.send(new (s3Sdk().CreateMultipartUploadCommand)(input)), { signal, onRetry }).catch((err: unknown) => record.failed('CreateMultipartUpload', err));
      if (out.UploadId !== undefined) record.uploads.set(out.UploadId, 'open');
      return out;
    },
    // Each try gets a body of its own (a fresh stream of the part's range for a file source).
    uploadPart: (input, body) => requests.send('UploadPart', () => client.send(new (s3Sdk().UploadPartCommand)({ ...input, Body: body() })), options).catch((err: unknown) => record.failed('UploadPart', err)),
    completeMultipartUpload: async (input) => {
      record.sentComplete = true;
      const out = await requests.send('CompleteMultipartUpload', () => client.send(new (s3Sdk().CompleteMultipartUploadCommand)(input)), options).catch((err: unknown) => record.failed('CompleteMultipartUpload', err));
      if (input.UploadId !== undefined) record.uploads.set(input.UploadId, 'completed');
      return out;
    },
    abortMultipartUpload: (input) => abortUpload(ctx, input.Key as string, input.UploadId as string, record),
  };
}

/** Aborts an upload (outside the put's signal); NoSuchUpload counts as done. False when it stays open. */
async function abortUpload(ctx: S3Context, key: string, uploadId: string, record: PutRecord): Promise<boolean> {
  const { requests } = ctx;
  try {
    await requests.send('AbortMultipartUpload', () => requests.client.send(new (s3Sdk().AbortMultipartUploadCommand)({ Bucket: ctx.settings.bucket, Key: key, UploadId: uploadId })), { onRetry: record.countRetry });
  } catch (err) {
    if (errorCode(err) !== 'NoSuchUpload') {
      record.abortFailures.set(uploadId, err);
      ctx.logger.error('cannot abort a multipart upload', { key, uploadId, error: ctx.describeError(err, 'abort', { key }) });
      return false;
    }
  }
  record.abortFailures.delete(uploadId);
  record.uploads.set(uploadId, 'aborted');
  return true;
}

export async function putObject(ctx: S3Context, input: PutInput, signal: AbortSignal | undefined): Promise<PutResult> {
  const { key, size, sha256 } = input;
  const started = Date.now();
  const base = { key, size, sha256 };
  const record = new PutRecord();
  const policy = ctx.settings.policy;
  let restarts = 0;
  // The caller's condition gates the request that creates the object; its failure is the put's.
  const gate = afterGate(input.after);
  const after = gate.promise;
  try {
    const precheck = input.replace === true ? Promise.resolve(undefined) : checkExisting(ctx, input, record, signal);
    precheck.catch(() => undefined);
    const keyChecked = precheck.then((same) => {
      if (same !== undefined) throw new AlreadyPresent('already delivered');
    });
    keyChecked.catch(() => undefined);
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
    const partSize = partSizeFor(ctx.settings, size);
    for (;;) {
      record.restart();
      try {
        const { digest, single } = await uploadOnce(ctx, input, {
          partSize,
          requests: recordedRequests(ctx, record, signal),
          partsWaitFor: keyChecked,
          completionWaitsFor: after,
          onSourceRead: sourceRead,
          signal,
        });
        const stored = (single !== undefined ? provenBy(ctx, single, digest, input.source) : undefined) ?? (await verifyUpload(ctx, key, digest, record, signal));
        await cleanupOrphans(ctx, key, record, started);
        ctx.logger.info('delivered', { key, size, attempts: 1 + record.retries + restarts, ms: Date.now() - started });
        return putResult(base, record.retries + restarts, stored);
      } catch (err) {
        gate.rethrowIfFailed();
        // The key check's outcome comes first: an identical object, a refusal, or its own failure.
        const same = await precheck;
        if (same !== undefined) return { ...putResult(base, record.retries, same), alreadyPresent: true };
        if (signal?.aborted === true) throw err;
        if (err instanceof IntegrityError && err.phase === 'source') throw err;
        if (record.sentComplete && !(err instanceof IntegrityError)) {
          const recovered = await recover(ctx, input, record);
          if (recovered !== undefined) {
            await cleanupOrphans(ctx, key, record, started);
            ctx.logger.info('delivered (the completion response was lost; verified by HEAD)', { key, size });
            return putResult(base, record.retries + restarts, recovered);
          }
        }
        const cause = record.lastError ?? err;
        // A failed request went through its own retries already; restart the whole upload only
        // where that cannot help.
        const restartable =
          (err instanceof IntegrityError && err.phase === 'stored') ||
          classifyS3Error(cause) === 'no-such-upload' ||
          (record.lastError === undefined && isRetryableError(err));
        if (!restartable || restarts >= policy.retries) throw err;
        restarts++;
        const delay = backoffDelay(restarts, policy);
        ctx.logger.warn('restarting the upload', { key, error: ctx.describeError(cause, 'put', { key }), delayMs: delay });
        await sleep(delay, signal);
      }
    }
  } catch (err) {
    await cleanupOrphans(ctx, key, record, started);
    gate.rethrowIfFailed();
    throw putFailure(ctx, input, err, record, restarts, signal);
  }
}

/**
 * HEAD of the key before an upload: resolves with the object when the same bytes are there
 * already, undefined when the upload may go ahead; rejects when it must not (an object with
 * other content and noOverwrite, or the check failed and noOverwrite or aborted).
 */
async function checkExisting(ctx: S3Context, input: PutInput, record: PutRecord, signal: AbortSignal | undefined): Promise<HeadObjectCommandOutput | undefined> {
  const { key, size, sha256 } = input;
  let existing: HeadObjectCommandOutput | undefined;
  try {
    existing = await headObject(ctx, key, { signal, onRetry: record.countRetry });
  } catch (err) {
    if (signal?.aborted === true || input.noOverwrite === true) record.failed('HeadObject', err);
    // e.g. no s3:ListBucket (HEAD of a missing key is then 403): the upload may still be allowed.
    ctx.logger.warn('cannot check for an existing object before uploading', { key, error: ctx.describeError(err, 'head', { key }) });
    return undefined;
  }
  if (existing === undefined) return undefined;
  if (existing.ContentLength === size && existing.Metadata?.[SHA256_METADATA_KEY] === sha256) {
    ctx.logger.info('object already delivered', { key, size });
    return existing;
  }
  if (input.noOverwrite === true) {
    throw overwriteRefused(key, { size: existing.ContentLength ?? 0, sha256: existing.Metadata?.[SHA256_METADATA_KEY] });
  }
  ctx.logger.warn('replacing an object with different content', { key, size: existing.ContentLength, sha256: existing.Metadata?.[SHA256_METADATA_KEY] });
  return undefined;
}

interface UploadOnceOptions {
  partSize: number;
  requests: UploadRequests;
  partsWaitFor: Promise<unknown>;
  completionWaitsFor: Promise<unknown> | undefined;
  onSourceRead: () => void;
  signal: AbortSignal | undefined;
}

/** One upload of the source (src/deliver/part-upload.ts); resolves with the digest of the bytes sent. */
async function uploadOnce(ctx: S3Context, input: PutInput, options: UploadOnceOptions): Promise<UploadOutcome> {
  const label = 'path' in input.source ? input.source.path : `the body of ${input.key}`;
  if ('path' in input.source) {
    const path = input.source.path;
    let size: number;
    try {
      size = (await stat(path)).size;
    } catch (err) {
      throw new CronLogError('DELIVERY_FAILED', `cannot read the source: ${describeFsError(err, path)}`, { cause: err });
    }
    if (size !== input.size) {
      throw new IntegrityError('source', `${path} has ${size} bytes, expected ${input.size}: the source changed after it was sealed`);
    }
  }
  const { settings } = ctx;
  return uploadParts({
    requests: options.requests,
    params: {
      Bucket: settings.bucket,
      Key: input.key,
      ContentType: input.contentType ?? contentTypeFor(input.key),
      Metadata: { ...input.metadata, [SHA256_METADATA_KEY]: input.sha256 },
      ...writeParams(settings),
      ...objectParams(settings),
    },
    source: input.source,
    expected: { size: input.size, sha256: input.sha256, label },
    partSize: options.partSize,
    queueSize: settings.queueSize,
    algorithm: settings.algorithm,
    partsWaitFor: options.partsWaitFor,
    completionWaitsFor: options.completionWaitsFor,
    onSourceRead: options.onSourceRead,
    signal: options.signal,
  });
}

/** verifyStored for the put: a failed HEAD is the put's last failed request. */
async function verifyUpload(ctx: S3Context, key: string, uploaded: ObjectDigest, record: PutRecord, signal: AbortSignal | undefined): Promise<HeadObjectCommandOutput> {
  try {
    return await verifyStored(ctx, key, uploaded, { signal, onRetry: record.countRetry });
  } catch (err) {
    if (err instanceof IntegrityError) throw err;
    return record.failed('HeadObject', err);
  }
}

/** After an unknown outcome of the completion: is the right object at the key anyway? */
async function recover(ctx: S3Context, input: PutInput, record: PutRecord): Promise<HeadObjectCommandOutput | undefined> {
  try {
    // Outside the put's signal, and not "the last error": a 404 here is an answer.
    const h = await headObject(ctx, input.key, { onRetry: record.countRetry });
    if (h !== undefined && h.ContentLength === input.size && h.Metadata?.[SHA256_METADATA_KEY] === input.sha256) return h;
  } catch {
    // The original error is the one to report.
  }
  return undefined;
}

/**
 * When a CreateMultipartUpload was retried, its first attempt may have created an upload whose
 * id we never received. Abort uploads of exactly this key initiated since the put started.
 */
async function cleanupOrphans(ctx: S3Context, key: string, record: PutRecord, since: number): Promise<void> {
  if (!record.createRetried) return;
  record.createRetried = false;
  const { requests } = ctx;
  try {
    const res = await requests.send('ListMultipartUploads', () => requests.client.send(new (s3Sdk().ListMultipartUploadsCommand)({ Bucket: ctx.settings.bucket, Prefix: key })), { onRetry: record.countRetry });
    for (const u of res.Uploads ?? []) {
      if (u.Key !== key || u.UploadId === undefined || record.uploads.has(u.UploadId)) continue;
      if (u.Initiated !== undefined && u.Initiated.getTime() < since - 60_000) continue;
      ctx.logger.warn('aborting an orphaned multipart upload', { key, uploadId: u.UploadId });
      await abortUpload(ctx, key, u.UploadId, record);
    }
  } catch (err) {
    ctx.logger.warn('cannot list multipart uploads to clean up after a retried CreateMultipartUpload', { key, error: ctx.describeError(err, 'list', { key }) });
  }
}

function putResult(base: { key: string; size: number; sha256: string }, retries: number, stored: { ETag?: string | undefined; VersionId?: string | undefined }): PutResult {
  return {
    ...base,
    attempts: 1 + retries,
    ...(stored.ETag !== undefined ? { etag: stored.ETag } : {}),
    ...(stored.VersionId !== undefined ? { versionId: stored.VersionId } : {}),
  };
}

/** The error a failed put rejects with: ABORTED, our own error, or DELIVERY_FAILED naming the request and the attempts. */
function putFailure(ctx: S3Context, input: PutInput, err: unknown, record: PutRecord, restarts: number, signal: AbortSignal | undefined): CronLogError {
  const where = `${input.key} to ${ctx.describe()}`;
  if (signal?.aborted === true) {
    const reason = abortReason(signal);
    return new CronLogError('ABORTED', `delivery of ${where} was aborted: ${reason.message}`, { cause: err });
  }
  if (err instanceof CronLogError && !(err instanceof IntegrityError)) return err;
  const cause = err instanceof IntegrityError ? err : (record.lastError ?? err);
  const attempts = 1 + record.retries + restarts;
  const request = record.lastCommand !== undefined && !(err instanceof IntegrityError) ? `${record.lastCommand}: ` : '';
  let message = `cannot deliver ${where}: ${request}${ctx.describeError(cause, 'put', { key: input.key })} (after ${attempts} attempt${attempts === 1 ? '' : 's'})`;
  for (const [id, why] of record.abortFailures) {
    message += `; multipart upload ${id} could not be aborted (${ctx.describeError(why, 'abort', { key: input.key })}): nothing is visible at the key, and a bucket lifecycle rule AbortIncompleteMultipartUpload removes its parts`;
  }
  const failure = new CronLogError('DELIVERY_FAILED', ctx.redact(message), { cause });
  // The operation log records how many attempts a failed delivery made.
  return Object.assign(failure, { attempts });
}
