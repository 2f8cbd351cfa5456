/**
 * S3 destination: multipart uploads (src/deliver/part-upload.ts), verified, retried, aborted on
 * failure.
 *
 * Memory: a file is read part by part, with positioned reads straight into part buffers of
 * `partSize` bytes that the put reuses, and at most `queueSize` part uploads run at once, so a
 * put holds at most partSize × (queueSize + 1) bytes whatever the object size; the file is never
 * read whole. For objects larger than partSize × 10,000 (the S3 part limit) the part size grows
 * to size / 10,000 (rounded up to 1 MiB), and the bound grows with it.
 * (This replaced @aws-sdk/lib-storage's `Upload`, which joins the chunks of a read stream into
 * each part; docs/performance.md has the measurements. The deliver benchmark still uses `Upload`
 * as its baseline.)
 *
 * Checksums: the client runs with `requestChecksumCalculation: 'WHEN_REQUIRED'` and every upload
 * request names `ChecksumAlgorithm` (SHA256 or CRC32C) explicitly. Each part's checksum is
 * computed as the part is read and sent as a plain `x-amz-checksum-*` header with a Buffer body
 * (no `aws-chunked` encoding with trailers, which the default WHEN_SUPPORTED mode uses for
 * streaming bodies and which s3rver would store verbatim, corrupting the object). Real S3 verifies
 * each part against its header (BadDigest on mismatch, which we retry) and the part list at
 * CompleteMultipartUpload; s3rver ignores the headers. Independently of the server, the bytes are
 * hashed as they are read: a source whose size or SHA-256 differs from what the seal step
 * declared fails before its last part is sent, so it is never completed. After the upload, a HEAD
 * checks the size, our `sha256` user metadata and, when the server reports one (real S3 does,
 * s3rver does not), its checksum against the one predicted from our part digests. With SHA256,
 * the part's SHA-256 is also the SigV4 payload hash (`x-amz-content-sha256`), which the SDK would
 * otherwise compute with a second pass over the part.
 *
 * Existing objects: a HEAD of the key decides whether the put is a no-op (the same size and
 * sha256 are there), refused (other content and `noOverwrite`) or goes ahead. It runs while the
 * multipart upload is created (an upload id, not an object) and the first part is read; no part
 * and no single PutObject is sent before it has answered, so nothing is created at the key and
 * no data sent when the object is there already (the multipart upload is then aborted).
 * A put with `replace` (the manifests) skips this check.
 *
 * Retries: one policy (src/deliver/retry.ts) drives the SDK's retry middleware through a custom
 * retry strategy, so every S3 request (CreateMultipartUpload, each UploadPart, Complete, Head,
 * ...) is retried on its own up to `retryAttempts` times with full-jitter backoff: a failed part
 * is re-sent, not the whole file. Around that, a put restarts the whole upload (new upload id)
 * only when a request-level retry cannot help: the multipart upload vanished (NoSuchUpload), or
 * the stored object failed verification; restarts come out of the same `retryAttempts` budget.
 * When CompleteMultipartUpload (or the single PutObject) was sent but its outcome is unknown (e.g.
 * the connection dropped before the response), a HEAD decides: the right size and sha256 at the key
 * means the object is complete. `PutResult.attempts` = 1 + all request retries + restarts.
 *
 * Abort: when a part or the completion fails, no new part is sent, the parts in flight are waited
 * for, and every upload id this put created and did not complete is aborted (NoSuchUpload
 * counts as done), and when a CreateMultipartUpload had to be retried (its first response may have
 * been lost, leaving an upload we never saw), uploads of the same key initiated during this put are
 * looked up with ListMultipartUploads and aborted. An upload that cannot be aborted (S3
 * unreachable) is invisible anyway; a bucket lifecycle rule AbortIncompleteMultipartUpload removes
 * its parts eventually. On `signal` abort, no new request is started, no more of the source is read,
 * and the requests in flight finish before the upload is aborted and `put` rejects with ABORTED.
 *
 * Credentials: from the options when given, else the AWS default provider chain. Any region; any
 * S3-compatible endpoint (with forcePathStyle). SSE-S3 / SSE-KMS, storage class and Object Lock
 * retention (mode + retain-until = now + objectLockDays) are sent as request parameters.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { createHash, randomBytes } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { hostname } from 'node:os';
import { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  StorageClass,
  type HeadObjectCommandOutput,
  type PutObjectCommandInput,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { ConfigError, CronLogError } from '../errors.js';
import { uploadParts, type SinglePutAnswer, type UploadOutcome } from './part-upload.js';
import {
  digestBuffer,
  expectedS3Checksum,
  type ObjectDigest,
  type PartChecksumAlgorithm,
} from './checksum.js';
import {
  SHA256_METADATA_KEY,
  objectKeyProblem,
  overwriteRefused,
  putInputProblems,
  type Destination,
  type ObjectInfo,
  type ProbeResult,
  type ProbeStep,
  type PutInput,
  type PutResult,
} from './destination.js';
import { silentLogger } from '../log.js';
import type { Logger } from '../log.js';
import {
  IntegrityError,
  ObjectNotFoundError,
  classifyS3Error,
  describeFsError,
  describeS3Error,
  redactSecrets,
  safeEndpoint,
  type S3ErrorContext,
  type S3Operation,
} from './errors.js';
import {
  abortReason,
  backoffDelay,
  errorCode,
  isRetryableError,
  isThrottlingError,
  retryPolicy,
  sleep,
  type RetryPolicy,
} from './retry.js';

export interface S3Options {
  bucket: string;
  region: string;
  accessKeyId?: string;
  secretAccessKey?: string;
  sessionToken?: string;
  /** S3-compatible endpoint URL, e.g. `http://127.0.0.1:9000`. */
  endpoint?: string;
  /** Path-style URLs (`endpoint/bucket/key`), needed by most S3-compatible servers. Default false. */
  forcePathStyle?: boolean;
  /** Multipart part size in MiB. Default 8, minimum 5 (S3's limit), maximum 5120. */
  partSizeMB?: number;
  /** Parts uploaded concurrently. Default 4. */
  queueSize?: number;
  /** Checksum the server verifies for every part. Default SHA256. */
  checksumAlgorithm?: 'SHA256' | 'CRC32C';
  serverSideEncryption?: 'AES256' | 'aws:kms';
  /** KMS key id/ARN/alias; only with serverSideEncryption 'aws:kms'. */
  kmsKeyId?: string;
  storageClass?: string;
  objectLockMode?: 'GOVERNANCE' | 'COMPLIANCE';
  /** Retention of each object: retain-until = upload time + this many days. */
  objectLockDays?: number;
}

/** Advanced knobs, mostly for tests; the defaults suit production. */
export interface DestinationTuning {
  /** Base of the retry backoff (ms). Default 200. */
  retryBaseDelayMs?: number;
  /** Cap of one retry delay (ms). Default 20000. */
  retryMaxDelayMs?: number;
  /** TCP connect timeout (ms). Default 10000. */
  connectTimeoutMs?: number;
  /** A request whose socket sees no traffic for this long fails and is retried (ms). Default 120000. */
  socketTimeoutMs?: number;
  /** ListObjectsV2 page size. Default 1000. */
  listPageSize?: number;
}

export interface S3DestinationOptions {
  s3: S3Options;
  /** Retries of each failed request (0 = try once). */
  retryAttempts: number;
  logger?: Logger;
  tuning?: DestinationTuning;
}

const MiB = 1024 * 1024;
const MAX_PARTS = 10_000;
const DEFAULT_PART_SIZE_MB = 8;
const DEFAULT_QUEUE_SIZE = 4;
const PROBE_BODY = Buffer.from('cron-log-service probe object: safe to delete\n');

const STORAGE_CLASSES = new Set<string>(Object.values(StorageClass));

/** Every problem with `s3` (and retryAttempts), each naming the option and what is expected. */
export function s3OptionProblems(s3: S3Options, retryAttempts: number): string[] {
  const p: string[] = [];
  if (typeof s3 !== 'object' || s3 === null) return ['s3: expected an object with at least bucket and region'];
  if (typeof s3.bucket !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9._-]{1,254}$/.test(s3.bucket)) {
    p.push(`s3.bucket: expected a bucket name (letters, digits, ".", "-", "_"), got ${JSON.stringify(s3.bucket)}`);
  }
  if (typeof s3.region !== 'string' || !/^[a-z0-9][a-z0-9-]*$/.test(s3.region)) {
    p.push(`s3.region: expected a region such as "us-east-1", got ${JSON.stringify(s3.region)}`);
  }
  const hasId = s3.accessKeyId !== undefined && s3.accessKeyId !== '';
  const hasSecret = s3.secretAccessKey !== undefined && s3.secretAccessKey !== '';
  if (hasId !== hasSecret) p.push('s3.accessKeyId and s3.secretAccessKey: expected both or neither (neither = AWS default credential chain)');
  if (s3.sessionToken !== undefined && s3.sessionToken !== '' && !hasId) p.push('s3.sessionToken: expected only together with s3.accessKeyId and s3.secretAccessKey');
  if (s3.endpoint !== undefined) {
    let ok = false;
    try {
      const u = new URL(s3.endpoint);
      ok = u.protocol === 'http:' || u.protocol === 'https:';
    } catch {
      ok = false;
    }
    if (!ok) p.push('s3.endpoint: expected an http:// or https:// URL');
  }
  if (s3.forcePathStyle !== undefined && typeof s3.forcePathStyle !== 'boolean') p.push('s3.forcePathStyle: expected true or false');
  if (s3.partSizeMB !== undefined && !(typeof s3.partSizeMB === 'number' && s3.partSizeMB >= 5 && s3.partSizeMB <= 5120)) {
    p.push(`s3.partSizeMB: expected a number of MiB between 5 (S3's minimum part size) and 5120, got ${String(s3.partSizeMB)}`);
  }
  if (s3.queueSize !== undefined && !(Number.isInteger(s3.queueSize) && s3.queueSize >= 1 && s3.queueSize <= 64)) {
    p.push(`s3.queueSize: expected an integer between 1 and 64, got ${String(s3.queueSize)}`);
  }
  if (s3.checksumAlgorithm !== undefined && s3.checksumAlgorithm !== 'SHA256' && s3.checksumAlgorithm !== 'CRC32C') {
    p.push(`s3.checksumAlgorithm: expected "SHA256" or "CRC32C", got ${JSON.stringify(s3.checksumAlgorithm)}`);
  }
  if (s3.serverSideEncryption !== undefined && s3.serverSideEncryption !== 'AES256' && s3.serverSideEncryption !== 'aws:kms') {
    p.push(`s3.serverSideEncryption: expected "AES256" or "aws:kms", got ${JSON.stringify(s3.serverSideEncryption)}`);
  }
  if (s3.kmsKeyId !== undefined && s3.serverSideEncryption !== 'aws:kms') p.push('s3.kmsKeyId: expected only with s3.serverSideEncryption "aws:kms"');
  if (s3.storageClass !== undefined && !STORAGE_CLASSES.has(s3.storageClass)) {
    p.push(`s3.storageClass: expected one of ${[...STORAGE_CLASSES].join(', ')}, got ${JSON.stringify(s3.storageClass)}`);
  }
  if (s3.objectLockMode !== undefined && s3.objectLockMode !== 'GOVERNANCE' && s3.objectLockMode !== 'COMPLIANCE') {
    p.push(`s3.objectLockMode: expected "GOVERNANCE" or "COMPLIANCE", got ${JSON.stringify(s3.objectLockMode)}`);
  }
  if ((s3.objectLockMode === undefined) !== (s3.objectLockDays === undefined)) {
    p.push('s3.objectLockMode and s3.objectLockDays: expected both (retention mode and days) or neither');
  }
  if (s3.objectLockDays !== undefined && !(Number.isInteger(s3.objectLockDays) && s3.objectLockDays >= 1 && s3.objectLockDays <= 36500)) {
    p.push(`s3.objectLockDays: expected an integer number of days between 1 and 36500, got ${String(s3.objectLockDays)}`);
  }
  if (!Number.isInteger(retryAttempts) || retryAttempts < 0 || retryAttempts > 50) {
    p.push(`retryAttempts: expected an integer between 0 and 50, got ${String(retryAttempts)}`);
  }
  return p;
}

/** Per-operation bookkeeping, carried through the SDK middleware stack by AsyncLocalStorage. */
interface OpContext {
  /** Request-level retries made by the SDK under our strategy. */
  retries: number;
  /** Overrides the policy's retries (probe uses fewer). */
  maxRetries?: number;
  signal?: AbortSignal;
  /** Multipart upload ids created in this operation and their state. */
  uploads: Map<string, 'open' | 'completed' | 'aborted'>;
  /** Upload ids that could not be aborted, with the reason. */
  abortFailures: Map<string, unknown>;
  /** The last failed S3 request (other than an abort) and its command name. */
  lastError?: unknown;
  lastCommand?: string;
  /** A CompleteMultipartUpload or PutObject was sent: the object may exist even if we saw an error. */
  sentComplete: boolean;
  /** A CreateMultipartUpload needed a retry: an upload we never heard of may exist. */
  createRetried: boolean;
  /**
   * UploadPart waits for this before it is sent (the check for an existing object, which runs
   * while the multipart upload is created and its first part read); a rejection stops it.
   */
  gate?: Promise<void>;
  /**
   * The requests that create the object (CompleteMultipartUpload, PutObject) wait for this: the
   * gate and the caller's `after`. Parts are uploaded meanwhile; they are not an object.
   */
  commitGate?: Promise<void>;
  /** Settles once the last CreateMultipartUpload sent has been answered (or failed). */
  creating?: Promise<void>;
  /** The put's `onSourceRead`, until it has been called. */
  onSourceRead?: (() => void) | undefined;
}

/** Stops an upload whose pre-upload check found the same object at the key already. */
class AlreadyPresent extends Error {}

function newOpContext(signal?: AbortSignal, maxRetries?: number): OpContext {
  return {
    retries: 0,
    ...(maxRetries !== undefined ? { maxRetries } : {}),
    ...(signal !== undefined ? { signal } : {}),
    uploads: new Map(),
    abortFailures: new Map(),
    sentComplete: false,
    createRetried: false,
  };
}

type RetryStrategyV2 = Extract<NonNullable<S3ClientConfig['retryStrategy']>, { acquireInitialRetryToken: unknown }>;
type RetryToken = Awaited<ReturnType<RetryStrategyV2['acquireInitialRetryToken']>>;
type RetryErrorInfo = Parameters<RetryStrategyV2['refreshRetryTokenForRetry']>[1];

function retryToken(count: number): RetryToken {
  return { getRetryCount: () => count, getRetryDelay: () => 0 };
}

/**
 * For a request with a byte body that asks for a SHA256 checksum (UploadPart and PutObject with
 * `ChecksumAlgorithm: 'SHA256'`; part bodies are always Buffers), sets `x-amz-content-sha256`
 * (hex) from its `x-amz-checksum-sha256` (base64, the part digest part-upload.ts sends), or both
 * from one SHA-256 of the body when the request has no checksum yet.
 * The SDK leaves both alone when present: its checksum middleware skips a request that already
 * carries an `x-amz-checksum-*` header, and the SigV4 signer signs an `x-amz-content-sha256` it
 * finds instead of hashing the body again. The server checks the body against both, as before.
 * Runs in the build step, before the SDK's checksum middleware and before signing (each retry
 * re-signs the same headers and body).
 */
function bodySha256Headers(input: unknown, request: unknown): void {
  if ((input as { ChecksumAlgorithm?: unknown } | undefined)?.ChecksumAlgorithm !== 'SHA256') return;
  const req = request as { headers?: Record<string, string>; body?: unknown } | undefined;
  const headers = req?.headers;
  const body = req?.body;
  if (headers === undefined || !(body instanceof Uint8Array)) return;
  let checksum: string | undefined;
  for (const name of Object.keys(headers)) {
    const lower = name.toLowerCase();
    if (lower === 'x-amz-content-sha256') return;
    if (lower === 'x-amz-checksum-sha256') checksum = headers[name];
    else if (lower.startsWith('x-amz-checksum-')) return;
  }
  // The checksum the request carries already (the part digests of part-upload.ts) is the body's
  // SHA-256: it is the payload hash too.
  const digest = checksum !== undefined ? Buffer.from(checksum, 'base64') : createHash('sha256').update(body).digest();
  if (checksum === undefined) headers['x-amz-checksum-sha256'] = digest.toString('base64');
  headers['x-amz-content-sha256'] = digest.toString('hex');
}

function attemptsOf(x: unknown): number {
  const a = (x as { $metadata?: { attempts?: unknown } } | undefined)?.$metadata?.attempts;
  return typeof a === 'number' && a >= 1 ? a : 1;
}

export class S3Destination implements Destination {
  readonly kind = 's3' as const;
  readonly bucket: string;
  readonly region: string;
  private readonly s3: Readonly<S3Options>;
  private readonly endpoint: string | undefined;
  private readonly policy: RetryPolicy;
  private readonly partSize: number;
  private readonly queueSize: number;
  private readonly algorithm: PartChecksumAlgorithm;
  private readonly listPageSize: number;
  private readonly logger: Logger;
  private readonly client: S3Client;
  private readonly als = new AsyncLocalStorage<OpContext>();
  private readonly closing = new AbortController();
  private readonly inflight = new Set<Promise<unknown>>();
  private closePromise: Promise<void> | undefined;

  constructor(options: S3DestinationOptions) {
    const problems = s3OptionProblems(options.s3, options.retryAttempts);
    if (problems.length > 0) throw new ConfigError(problems);
    const s3 = options.s3;
    const tuning = options.tuning ?? {};
    this.s3 = Object.freeze({ ...s3 });
    this.bucket = s3.bucket;
    this.region = s3.region;
    this.endpoint = s3.endpoint !== undefined ? safeEndpoint(s3.endpoint) : undefined;
    this.policy = retryPolicy(options.retryAttempts, {
      ...(tuning.retryBaseDelayMs !== undefined ? { baseDelayMs: tuning.retryBaseDelayMs } : {}),
      ...(tuning.retryMaxDelayMs !== undefined ? { maxDelayMs: tuning.retryMaxDelayMs } : {}),
    });
    this.partSize = Math.round((s3.partSizeMB ?? DEFAULT_PART_SIZE_MB) * MiB);
    this.queueSize = s3.queueSize ?? DEFAULT_QUEUE_SIZE;
    this.algorithm = s3.checksumAlgorithm ?? 'SHA256';
    this.listPageSize = tuning.listPageSize ?? 1000;
    this.logger = options.logger ?? silentLogger;

    const agent = { keepAlive: true, maxSockets: Math.max(16, this.queueSize * 2 + 4) };
    this.client = new S3Client({
      region: s3.region,
      ...(s3.endpoint !== undefined ? { endpoint: s3.endpoint } : {}),
      forcePathStyle: s3.forcePathStyle ?? false,
      ...(s3.accessKeyId !== undefined && s3.accessKeyId !== '' && s3.secretAccessKey !== undefined
        ? {
            credentials: {
              accessKeyId: s3.accessKeyId,
              secretAccessKey: s3.secretAccessKey,
              ...(s3.sessionToken !== undefined && s3.sessionToken !== '' ? { sessionToken: s3.sessionToken } : {}),
            },
          }
        : {}),
      maxAttempts: this.policy.retries + 1,
      retryStrategy: this.sdkRetryStrategy(),
      // See the header comment: explicit checksums only, sent as headers, never aws-chunked.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      requestHandler: {
        connectionTimeout: tuning.connectTimeoutMs ?? 10_000,
        socketTimeout: tuning.socketTimeoutMs ?? 120_000,
        httpAgent: agent,
        httpsAgent: agent,
      },
    });
    this.client.middlewareStack.add(
      (next, context) => async (args) => {
        const op = this.als.getStore();
        if (op === undefined) return next(args);
        const command = context.commandName ?? 'S3Command';
        const input = args.input as { UploadId?: string };
        if (op.signal?.aborted === true && command !== 'AbortMultipartUploadCommand') throw abortReason(op.signal);
        const gate = command === 'UploadPartCommand' ? op.gate : command === 'CompleteMultipartUploadCommand' || command === 'PutObjectCommand' ? op.commitGate : undefined;
        if (gate !== undefined) {
          // Not a request failure: not recorded as the last error, never retried.
          await gate;
          if (op.signal?.aborted === true) throw abortReason(op.signal);
        }
        if (command === 'CompleteMultipartUploadCommand' || command === 'PutObjectCommand') op.sentComplete = true;
        // An upload that fails while its CreateMultipartUpload is in flight learns its id only
        // after that: abortOpenUploads waits for this so that the upload is aborted too.
        let created: (() => void) | undefined;
        if (command === 'CreateMultipartUploadCommand') op.creating = new Promise<void>((resolve) => (created = resolve));
        try {
          const result = await next(args);
          op.retries += attemptsOf(result.output) - 1;
          if (command === 'CreateMultipartUploadCommand') {
            const id = (result.output as { UploadId?: string }).UploadId;
            if (id !== undefined) op.uploads.set(id, 'open');
            if (attemptsOf(result.output) > 1) op.createRetried = true;
          } else if (command === 'CompleteMultipartUploadCommand' && input.UploadId !== undefined) {
            op.uploads.set(input.UploadId, 'completed');
          } else if (command === 'AbortMultipartUploadCommand' && input.UploadId !== undefined) {
            op.uploads.set(input.UploadId, 'aborted');
          }
          return result;
        } catch (err) {
          op.retries += attemptsOf(err) - 1;
          if (command === 'CreateMultipartUploadCommand' && attemptsOf(err) > 1) op.createRetried = true;
          if (command === 'AbortMultipartUploadCommand') {
            if (errorCode(err) === 'NoSuchUpload' && input.UploadId !== undefined) op.uploads.set(input.UploadId, 'aborted');
          } else if (command === 'HeadObjectCommand' && classifyS3Error(err, 'head') === 'not-found') {
            // An answer (no object there), not a failure of the put.
          } else {
            op.lastError = err;
            op.lastCommand = command.replace(/Command$/, '');
          }
          throw err;
        } finally {
          created?.();
        }
      },
      { step: 'initialize', name: 'cronLogOperationTracker' },
    );
    if (this.algorithm === 'SHA256') {
      // One SHA-256 of each body serves as both its part checksum and the SigV4 payload hash
      // (the SDK would otherwise hash every part twice, see bodySha256Headers).
      this.client.middlewareStack.add(
        (next) => async (args) => {
          bodySha256Headers(args.input, args.request);
          return next(args);
        },
        { step: 'build', name: 'cronLogBodySha256', priority: 'high' },
      );
    }
  }

  describe(): string {
    return this.endpoint !== undefined ? `s3://${this.bucket} (endpoint ${this.endpoint})` : `s3://${this.bucket}`;
  }

  /** The SDK retry strategy implementing our policy; sleeps itself so an abort cuts the wait. */
  private sdkRetryStrategy(): RetryStrategyV2 {
    return {
      acquireInitialRetryToken: async () => retryToken(0),
      refreshRetryTokenForRetry: async (token: RetryToken, info: RetryErrorInfo) => {
        const op = this.als.getStore();
        const count = token.getRetryCount();
        const max = op?.maxRetries ?? this.policy.retries;
        if (count >= max || op?.signal?.aborted === true || !isRetryableError(info.error)) throw info.error;
        const hint = info.retryAfterHint;
        const delay = backoffDelay(count + 1, this.policy, {
          throttled: info.errorType === 'THROTTLING' || isThrottlingError(info.error),
          ...(hint instanceof Date ? { retryAfterMs: hint.getTime() - Date.now() } : {}),
        });
        this.logger.debug('retrying an S3 request', { error: errorCode(info.error), retry: count + 1, delayMs: delay });
        await sleep(delay, op?.signal);
        return retryToken(count + 1);
      },
      recordSuccess: () => {},
    };
  }

  private errorContext(operation: S3Operation, extra: { key?: string; prefix?: string } = {}): S3ErrorContext {
    return {
      bucket: this.bucket,
      region: this.region,
      operation,
      ...(this.endpoint !== undefined ? { endpoint: this.endpoint } : {}),
      ...(this.s3.kmsKeyId !== undefined ? { kmsKeyId: this.s3.kmsKeyId } : {}),
      ...extra,
    };
  }

  private redact(text: string): string {
    return redactSecrets(text, [this.s3.secretAccessKey, this.s3.sessionToken]);
  }

  private describeError(err: unknown, operation: S3Operation, extra: { key?: string; prefix?: string } = {}): string {
    return this.redact(describeS3Error(err, this.errorContext(operation, extra)));
  }

  private assertOpen(): void {
    if (this.closePromise !== undefined) throw new CronLogError('DESTINATION_UNAVAILABLE', `${this.describe()} is closed`);
  }

  /** Runs `fn` as a tracked operation (close() waits for it) inside its own OpContext. */
  private run<T>(fn: (op: OpContext) => Promise<T>, opts: { signal?: AbortSignal; maxRetries?: number } = {}): Promise<T> {
    this.assertOpen();
    const signal = opts.signal !== undefined ? AbortSignal.any([opts.signal, this.closing.signal]) : this.closing.signal;
    const op = newOpContext(signal, opts.maxRetries);
    const p = this.als.run(op, () => fn(op));
    this.inflight.add(p);
    const forget = (): void => {
      this.inflight.delete(p);
    };
    p.then(forget, forget);
    return p;
  }

  private keyProblem(key: string, what: string): CronLogError | undefined {
    const problem = objectKeyProblem(key);
    return problem === undefined ? undefined : new CronLogError('USAGE', `invalid ${what} ${JSON.stringify(key)}: ${problem}`);
  }

  /** Part size for an object of `size` bytes: the configured one, grown to stay within 10,000 parts. */
  private partSizeFor(size: number): number {
    return Math.max(this.partSize, Math.ceil(size / MAX_PARTS / MiB) * MiB);
  }

  private commonWriteParams(): Partial<PutObjectCommandInput> {
    const s3 = this.s3;
    return {
      ChecksumAlgorithm: this.algorithm,
      ...(s3.serverSideEncryption !== undefined ? { ServerSideEncryption: s3.serverSideEncryption } : {}),
      ...(s3.kmsKeyId !== undefined ? { SSEKMSKeyId: s3.kmsKeyId } : {}),
    };
  }

  async put(input: PutInput): Promise<PutResult> {
    const problems = putInputProblems(input);
    if (problems.length > 0) throw new CronLogError('USAGE', `invalid put of ${String(input.key)}: ${problems.join('; ')}`);
    // A rejected `after` stops the upload at once (its parts are aborted), not only its completion.
    let signal = input.signal;
    if (input.after !== undefined) {
      const stop = new AbortController();
      input.after.catch((err: unknown) => stop.abort(err));
      signal = signal !== undefined ? AbortSignal.any([signal, stop.signal]) : stop.signal;
    }
    return this.run((op) => this.putOp(input, op), signal !== undefined ? { signal } : {});
  }

  private async putOp(input: PutInput, op: OpContext): Promise<PutResult> {
    const { key, size, sha256 } = input;
    const started = Date.now();
    const base = { key, size, sha256 };
    let restarts = 0;
    let afterFailed: { error: unknown } | undefined;
    try {
      // The check for an object already at the key runs while the multipart upload is created
      // and its first part read (and hashed); UploadPart (or PutObject for a single part) waits
      // for the check (op.gate), so its outcome decides exactly as if it had run first.
      const precheck = input.replace === true ? Promise.resolve(undefined) : this.checkExisting(input, op);
      precheck.catch(() => {});
      op.gate = precheck.then((same) => {
        if (same !== undefined) throw new AlreadyPresent('already delivered');
      });
      op.gate.catch(() => {});
      // The caller's condition (input.after) gates the request that creates the object
      // (CompleteMultipartUpload or PutObject); its failure is the put's.
      const after = input.after?.catch((error: unknown) => {
        afterFailed = { error };
        throw error;
      });
      op.commitGate = Promise.all([op.gate, after]).then(() => undefined);
      op.commitGate.catch(() => {});
      op.onSourceRead = input.onSourceRead;

      const partSize = this.partSizeFor(size);
      for (;;) {
        op.sentComplete = false;
        op.lastError = undefined;
        op.lastCommand = undefined;
        try {
          const { digest, single } = await this.uploadOnce(input, partSize, op);
          const stored = (single !== undefined ? this.provenBy(single, digest, input.source) : undefined) ?? (await this.verifyStored(key, digest));
          await this.cleanupOrphans(key, op, started);
          this.logger.info('delivered', { key, size, attempts: 1 + op.retries + restarts, ms: Date.now() - started });
          return this.putResult(base, op.retries + restarts, stored);
        } catch (err) {
          await this.abortOpenUploads(key, op);
          if (afterFailed !== undefined) throw afterFailed.error;
          // The check's outcome comes first: an identical object, a refusal, or its own failure.
          const same = await precheck;
          if (same !== undefined) return { ...this.putResult(base, op.retries, same), alreadyPresent: true };
          if (op.signal?.aborted === true) throw err;
          if (err instanceof IntegrityError && err.phase === 'source') throw err;
          if (op.sentComplete && !(err instanceof IntegrityError)) {
            const recovered = await this.recover(input, op);
            if (recovered !== undefined) {
              await this.cleanupOrphans(key, op, started);
              this.logger.info('delivered (the completion response was lost; verified by HEAD)', { key, size });
              return this.putResult(base, op.retries + restarts, recovered);
            }
          }
          const cause = op.lastError ?? err;
          // Request-level failures went through the SDK retries already (they carry
          // $metadata.attempts); restart the whole upload only where that cannot help.
          const restartable =
            (err instanceof IntegrityError && err.phase === 'stored') ||
            classifyS3Error(cause) === 'no-such-upload' ||
            (isRetryableError(cause) && (cause as { $metadata?: { attempts?: unknown } }).$metadata?.attempts === undefined);
          if (!restartable || restarts >= this.policy.retries) throw err;
          restarts++;
          const delay = backoffDelay(restarts, this.policy);
          this.logger.warn('restarting the upload', { key, error: this.describeError(cause, 'put', { key }), delayMs: delay });
          await sleep(delay, op.signal);
        }
      }
    } catch (err) {
      await this.cleanupOrphans(key, op, started);
      if (afterFailed !== undefined) throw afterFailed.error;
      throw this.putFailure(input, err, op, restarts);
    }
  }

  /**
   * HEAD of the key before an upload: resolves with the object when the same bytes are there
   * already, undefined when the upload may go ahead; rejects when it must not (an object with
   * other content and noOverwrite, or the check failed and noOverwrite or aborted).
   */
  private async checkExisting(input: PutInput, op: OpContext): Promise<HeadObjectCommandOutput | undefined> {
    const { key, size, sha256 } = input;
    let existing: HeadObjectCommandOutput | undefined;
    try {
      existing = await this.headRaw(key);
    } catch (err) {
      if (op.signal?.aborted === true || input.noOverwrite === true) {
        op.lastError = err;
        op.lastCommand = 'HeadObject';
        throw err;
      }
      // e.g. no s3:ListBucket (HEAD of a missing key is then 403): the upload may still be allowed.
      // The upload is under way already: this tolerated failure is not its "last error".
      if (op.lastError === err) {
        op.lastError = undefined;
        op.lastCommand = undefined;
      }
      this.logger.warn('cannot check for an existing object before uploading', { key, error: this.describeError(err, 'head', { key }) });
      return undefined;
    }
    if (existing === undefined) return undefined;
    if (existing.ContentLength === size && existing.Metadata?.[SHA256_METADATA_KEY] === sha256) {
      this.logger.info('object already delivered', { key, size });
      return existing;
    }
    if (input.noOverwrite === true) {
      throw overwriteRefused(key, { size: existing.ContentLength ?? 0, sha256: existing.Metadata?.[SHA256_METADATA_KEY] });
    }
    this.logger.warn('replacing an object with different content', { key, size: existing.ContentLength, sha256: existing.Metadata?.[SHA256_METADATA_KEY] });
    return undefined;
  }

  /**
   * A single PutObject whose answer proves the stored bytes needs no verification HEAD: the
   * server's checksum of them equals ours (real S3 returns the checksum it verified), or, for a
   * body, its ETag is the body's MD5 (S3 and s3rver for an object without SSE-KMS). Otherwise
   * undefined: the HEAD decides.
   */
  private provenBy(answer: SinglePutAnswer, digest: ObjectDigest, source: PutInput['source']): SinglePutAnswer | undefined {
    const ours = (digest.parts[0] as Buffer).toString('base64');
    const theirs = this.algorithm === 'SHA256' ? answer.ChecksumSHA256 : answer.ChecksumCRC32C;
    if (theirs !== undefined) return theirs === ours ? answer : undefined;
    if ('body' in source && answer.ETag === `"${createHash('md5').update(source.body).digest('hex')}"`) return answer;
    return undefined;
  }

  private putResult(base: { key: string; size: number; sha256: string }, retries: number, stored: { ETag?: string | undefined; VersionId?: string | undefined }): PutResult {
    return {
      ...base,
      attempts: 1 + retries,
      ...(stored.ETag !== undefined ? { etag: stored.ETag } : {}),
      ...(stored.VersionId !== undefined ? { versionId: stored.VersionId } : {}),
    };
  }

  private putFailure(input: PutInput, err: unknown, op: OpContext, restarts: number): CronLogError {
    const where = `${input.key} to ${this.describe()}`;
    if (op.signal?.aborted === true) {
      const reason = abortReason(op.signal);
      return new CronLogError('ABORTED', `delivery of ${where} was aborted: ${reason.message}`, { cause: err });
    }
    if (err instanceof CronLogError && !(err instanceof IntegrityError)) return err;
    const cause = err instanceof IntegrityError ? err : (op.lastError ?? err);
    const attempts = 1 + op.retries + restarts;
    const request = op.lastCommand !== undefined && !(err instanceof IntegrityError) ? `${op.lastCommand}: ` : '';
    let message = `cannot deliver ${where}: ${request}${this.describeError(cause, 'put', { key: input.key })} (after ${attempts} attempt${attempts === 1 ? '' : 's'})`;
    for (const [id, why] of op.abortFailures) {
      message += `; multipart upload ${id} could not be aborted (${this.describeError(why, 'abort', { key: input.key })}): nothing is visible at the key, and a bucket lifecycle rule AbortIncompleteMultipartUpload removes its parts`;
    }
    const failure = new CronLogError('DELIVERY_FAILED', this.redact(message), { cause });
    // The operation log records how many attempts a failed delivery made.
    return Object.assign(failure, { attempts });
  }

  /** Calls the put's `onSourceRead` the first time its source has been read whole. */
  private sourceRead(op: OpContext): void {
    const callback = op.onSourceRead;
    op.onSourceRead = undefined;
    try {
      callback?.();
    } catch (err) {
      this.logger.warn('the onSourceRead callback of a put failed', { error: (err as Error).message });
    }
  }

  /** One upload of the source (src/deliver/part-upload.ts); resolves with the digest of the bytes sent. */
  private async uploadOnce(input: PutInput, partSize: number, op: OpContext): Promise<UploadOutcome> {
    const label = 'path' in input.source ? input.source.path : `the body of ${input.key}`;
    const expected = { size: input.size, sha256: input.sha256, label };
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
    const s3 = this.s3;
    return uploadParts({
      client: this.client,
      params: {
        Bucket: this.bucket,
        Key: input.key,
        ContentType: input.contentType ?? contentTypeFor(input.key),
        Metadata: { ...input.metadata, [SHA256_METADATA_KEY]: input.sha256 },
        ...this.commonWriteParams(),
        ...(s3.storageClass !== undefined ? { StorageClass: s3.storageClass as StorageClass } : {}),
        ...(s3.objectLockMode !== undefined && s3.objectLockDays !== undefined
          ? { ObjectLockMode: s3.objectLockMode, ObjectLockRetainUntilDate: new Date(Date.now() + s3.objectLockDays * 86_400_000) }
          : {}),
      },
      source: input.source,
      expected,
      partSize,
      queueSize: this.queueSize,
      algorithm: this.algorithm,
      onSourceRead: () => this.sourceRead(op),
      ...(op.signal !== undefined ? { signal: op.signal } : {}),
    });
  }

  /**
   * HEAD the object and compare it with what we uploaded: its size, our sha256 metadata and,
   * when the server reports one (real S3 does, s3rver does not), its checksum against the one
   * predicted from the part digests.
   */
  private async verifyStored(key: string, uploaded: ObjectDigest): Promise<HeadObjectCommandOutput> {
    const h = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key, ChecksumMode: 'ENABLED' }));
    const where = `s3://${this.bucket}/${key}`;
    if (h.ContentLength !== uploaded.size) {
      throw new IntegrityError('stored', `${where} has ${String(h.ContentLength)} bytes after the upload, expected ${uploaded.size}`);
    }
    const metaSha = h.Metadata?.[SHA256_METADATA_KEY];
    if (metaSha !== uploaded.sha256) {
      throw new IntegrityError('stored', `${where} has sha256 metadata ${String(metaSha)} after the upload, expected ${uploaded.sha256}`);
    }
    const serverChecksum = this.algorithm === 'SHA256' ? h.ChecksumSHA256 : h.ChecksumCRC32C;
    if (serverChecksum !== undefined) {
      const want = expectedS3Checksum(uploaded, h.ChecksumType);
      if (want === undefined) {
        this.logger.debug('the server checksum type cannot be predicted; size and sha256 verified', { key, type: h.ChecksumType });
      } else if (want !== serverChecksum) {
        throw new IntegrityError('stored', `${where} has ${this.algorithm} checksum ${serverChecksum} after the upload, expected ${want}`);
      }
    }
    return h;
  }

  /** After an unknown outcome of the completion: is the right object at the key anyway? */
  private async recover(input: PutInput, op: OpContext): Promise<HeadObjectCommandOutput | undefined> {
    // Its own context: a 404 here must not replace the error of the upload as "the last error".
    const check = newOpContext(undefined, op.maxRetries);
    try {
      const h = await this.als.run(check, () => this.headRaw(input.key));
      if (h !== undefined && h.ContentLength === input.size && h.Metadata?.[SHA256_METADATA_KEY] === input.sha256) return h;
    } catch {
      // The original error is the one to report.
    } finally {
      op.retries += check.retries;
    }
    return undefined;
  }

  /** Aborts every upload id this operation created and did not complete (outside the abort signal). */
  private async abortOpenUploads(key: string, op: OpContext): Promise<void> {
    await op.creating;
    for (const [id, state] of op.uploads) {
      if (state !== 'open') continue;
      const ok = await this.abortUpload(key, id, op);
      if (ok) op.uploads.set(id, 'aborted');
    }
  }

  private async abortUpload(key: string, uploadId: string, op: OpContext): Promise<boolean> {
    const cleanup = newOpContext(undefined, op.maxRetries);
    try {
      await this.als.run(cleanup, () => this.client.send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: key, UploadId: uploadId })));
      op.abortFailures.delete(uploadId);
      return true;
    } catch (err) {
      if (errorCode(err) === 'NoSuchUpload') return true;
      op.abortFailures.set(uploadId, err);
      this.logger.error('cannot abort a multipart upload', { key, uploadId, error: this.describeError(err, 'abort', { key }) });
      return false;
    } finally {
      op.retries += cleanup.retries;
    }
  }

  /**
   * When a CreateMultipartUpload was retried, its first attempt may have created an upload whose
   * id we never received. Abort uploads of exactly this key initiated since the put started.
   */
  private async cleanupOrphans(key: string, op: OpContext, since: number): Promise<void> {
    if (!op.createRetried) return;
    op.createRetried = false;
    const cleanup = newOpContext(undefined, op.maxRetries);
    try {
      const res = await this.als.run(cleanup, () =>
        this.client.send(new ListMultipartUploadsCommand({ Bucket: this.bucket, Prefix: key })),
      );
      for (const u of res.Uploads ?? []) {
        if (u.Key !== key || u.UploadId === undefined || op.uploads.has(u.UploadId)) continue;
        if (u.Initiated !== undefined && u.Initiated.getTime() < since - 60_000) continue;
        this.logger.warn('aborting an orphaned multipart upload', { key, uploadId: u.UploadId });
        if (await this.abortUpload(key, u.UploadId, op)) op.uploads.set(u.UploadId, 'aborted');
      }
    } catch (err) {
      this.logger.warn('cannot list multipart uploads to clean up after a retried CreateMultipartUpload', {
        key,
        error: this.describeError(err, 'list', { key }),
      });
    } finally {
      op.retries += cleanup.retries;
    }
  }

  private async headRaw(key: string): Promise<HeadObjectCommandOutput | undefined> {
    try {
      return await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
    } catch (err) {
      if (classifyS3Error(err, 'head') === 'not-found') return undefined;
      throw err;
    }
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    const bad = this.keyProblem(key, 'key');
    if (bad !== undefined) throw bad;
    return this.run(async () => {
      try {
        const h = await this.headRaw(key);
        if (h === undefined) return undefined;
        const sha = h.Metadata?.[SHA256_METADATA_KEY];
        return { key, size: h.ContentLength ?? 0, ...(sha !== undefined ? { sha256: sha } : {}) };
      } catch (err) {
        throw new CronLogError('DESTINATION_UNAVAILABLE', `cannot inspect ${key} in ${this.describe()}: ${this.describeError(err, 'head', { key })}`, { cause: err });
      }
    });
  }

  async get(key: string): Promise<NodeJS.ReadableStream> {
    const bad = this.keyProblem(key, 'key');
    if (bad !== undefined) throw bad;
    return this.run(async () => {
      try {
        const out = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
        const body = out.Body;
        if (!(body instanceof Readable)) throw new CronLogError('INTERNAL', `GetObject of ${key} returned no readable body`);
        return body;
      } catch (err) {
        if (err instanceof CronLogError) throw err;
        if (classifyS3Error(err, 'get') === 'not-found') throw new ObjectNotFoundError(this.describe(), key, { cause: err });
        throw new CronLogError('DESTINATION_UNAVAILABLE', `cannot read ${key} from ${this.describe()}: ${this.describeError(err, 'get', { key })}`, { cause: err });
      }
    });
  }

  async delete(key: string): Promise<void> {
    const bad = this.keyProblem(key, 'key');
    if (bad !== undefined) throw bad;
    await this.run(async () => {
      try {
        await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
      } catch (err) {
        if (classifyS3Error(err, 'delete') === 'not-found') return;
        throw new CronLogError('DESTINATION_UNAVAILABLE', `cannot delete ${key} from ${this.describe()}: ${this.describeError(err, 'delete', { key })}`, { cause: err });
      }
    });
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    this.assertOpen();
    let token: string | undefined;
    do {
      const page = await this.run(async () => {
        try {
          return await this.client.send(
            new ListObjectsV2Command({
              Bucket: this.bucket,
              Prefix: prefix,
              MaxKeys: this.listPageSize,
              ...(token !== undefined ? { ContinuationToken: token } : {}),
            }),
          );
        } catch (err) {
          throw new CronLogError('DESTINATION_UNAVAILABLE', `cannot list ${prefix} in ${this.describe()}: ${this.describeError(err, 'list', { prefix })}`, { cause: err });
        }
      });
      for (const o of page.Contents ?? []) {
        if (o.Key !== undefined) yield { key: o.Key, size: o.Size ?? 0 };
      }
      token = page.IsTruncated === true ? page.NextContinuationToken : undefined;
    } while (token !== undefined);
  }

  async probe(prefix: string): Promise<ProbeResult> {
    const clean = prefix.replace(/^\/+|\/+$/g, '');
    const key = `${clean === '' ? '' : `${clean}/`}.cron-log-service-probe-${hostname().replace(/[^A-Za-z0-9-]/g, '-')}-${process.pid}-${randomBytes(4).toString('hex')}`;
    const steps: ProbeStep[] = [];
    const fail = (name: ProbeStep['name'], err: unknown, operation: S3Operation): void => {
      steps.push({ name, status: 'failed', message: this.describeError(err, operation, { key, prefix: clean }), reason: classifyS3Error(err, operation) });
    };
    const skip = (name: ProbeStep['name'], why: string): void => {
      steps.push({ name, status: 'skipped', message: why });
    };
    const bad = this.keyProblem(key, 'prefix');
    if (bad !== undefined) {
      steps.push({ name: 'bucket', status: 'failed', message: bad.message, reason: 'invalid-prefix' });
      return { ok: false, destination: this.describe(), steps };
    }
    const maxRetries = Math.min(1, this.policy.retries);
    await this.run(
      async () => {
        // 1. The bucket: a GET (not HEAD) so that errors carry their S3 error code.
        try {
          await this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: clean, MaxKeys: 1 }));
          steps.push({ name: 'bucket', status: 'ok', message: `bucket ${this.bucket} is reachable in region ${this.region}` });
        } catch (err) {
          fail('bucket', err, 'list');
        }
        // 2. put (no Object Lock retention and the default storage class, so the probe can be read and deleted).
        let put = false;
        try {
          const digest = digestBuffer(PROBE_BODY, this.partSize, this.algorithm);
          await this.client.send(
            new PutObjectCommand({
              Bucket: this.bucket,
              Key: key,
              Body: PROBE_BODY,
              ContentType: 'text/plain',
              Metadata: { [SHA256_METADATA_KEY]: digest.sha256 },
              ...this.commonWriteParams(),
            }),
          );
          await this.verifyStored(key, digest);
          put = true;
          steps.push({ name: 'put', status: 'ok', message: `wrote and verified ${key}` });
        } catch (err) {
          fail('put', err, 'put');
        }
        // 3. get
        if (!put) {
          skip('get', 'skipped: the probe object could not be written');
        } else {
          try {
            const out = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
            const bytes = Buffer.from((await out.Body?.transformToByteArray()) ?? []);
            if (!bytes.equals(PROBE_BODY)) throw new IntegrityError('stored', `reading ${key} back returned different bytes`);
            steps.push({ name: 'get', status: 'ok', message: `read ${key} back` });
          } catch (err) {
            fail('get', err, 'get');
          }
        }
        // 4. delete (also after a failed get: do not leave the probe behind)
        if (!put) {
          skip('delete', 'skipped: the probe object could not be written');
        } else {
          try {
            await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
            if ((await this.headRaw(key)) !== undefined) throw new IntegrityError('stored', `${key} is still there after DeleteObject`);
            steps.push({ name: 'delete', status: 'ok', message: `deleted ${key}` });
          } catch (err) {
            fail('delete', err, 'delete');
          }
        }
      },
      { maxRetries },
    );
    return { ok: steps.every((s) => s.status === 'ok'), destination: this.describe(), steps };
  }

  close(): Promise<void> {
    this.closePromise ??= (async () => {
      this.closing.abort(new CronLogError('ABORTED', `${this.describe()} was closed`));
      await Promise.allSettled([...this.inflight]);
      this.client.destroy();
    })();
    return this.closePromise;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

export function contentTypeFor(key: string): string {
  if (key.endsWith('.gz')) return 'application/gzip';
  if (key.endsWith('.json')) return 'application/json';
  if (key.endsWith('.ndjson')) return 'application/x-ndjson';
  return 'application/octet-stream';
}
