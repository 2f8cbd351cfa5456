/**
 * Delivery destinations: where sealed hours (and their manifests) end up. Three implementations
 * share this interface: S3 (src/deliver/s3.ts, multipart uploads), Azure Blob Storage
 * (src/deliver/azure.ts, staged and committed blocks) and a local directory
 * (src/deliver/file.ts). The seal step only talks to `Destination`.
 *
 * Contract of `put`:
 *  - atomic: nothing is visible at `key` unless the whole object is (S3: an aborted multipart
 *    upload never becomes an object; Azure: staged blocks are not a blob until their list is
 *    committed; file: temp name + fsync + rename + directory fsync);
 *  - verified: the bytes read from the source must hash to `sha256` and count `size`, otherwise the
 *    write is abandoned; after the write, the stored object is checked (size, our `sha256`
 *    metadata, and the server checksum where the server reports one) before `put` resolves;
 *  - idempotent: putting the same key with the same bytes again yields the same object (S3 skips
 *    the upload when an object with the same size and sha256 is already there);
 *  - bounded memory whatever the object size (S3: parts streamed from the file's ranges; file: stream copy).
 */
import { CronLogError } from '../errors.js';

/** A local file (streamed, bounded memory) or small in-memory bytes (manifests). */
export type ObjectSource = { path: string } | { body: Buffer };

export interface PutInput {
  key: string;
  source: ObjectSource;
  /** Exact byte length of the object. */
  size: number;
  /** Lowercase hex SHA-256 of the whole object. */
  sha256: string;
  contentType?: string;
  /** User metadata (ASCII keys and values). `sha256` is reserved: the destination sets it. */
  metadata?: Record<string, string>;
  /**
   * Never replace an object with other content: when `key` holds different bytes (by size and
   * sha256), fail with DELIVERY_FAILED. An identical object counts as delivered (`alreadyPresent`).
   */
  noOverwrite?: boolean;
  /**
   * Replace whatever is at `key` without looking first (S3: no HEAD of the key before the
   * upload, one request less). For objects rewritten whole each time, like an hour's manifest.
   * Cannot be combined with `noOverwrite`; `alreadyPresent` is then never reported.
   */
  replace?: boolean;
  /**
   * Nothing is created at `key` before this settles: the put may read its source, check the key
   * and stage its bytes meanwhile (S3: create the multipart upload and send its parts, which are
   * not an object until completed; file: nothing). When it rejects, the put stops, rejects with
   * the same error and creates nothing. (The seal step passes the check of the file's facts and
   * the ledger write that reserves the key, so they run while the upload sends the file.)
   */
  after?: Promise<unknown>;
  /**
   * Called once when the put has read all of its source (S3 with a file source: its last byte
   * was read and the size and sha256 matched, while the last parts may still be in flight; a
   * body source, or the file destination: at once, before `after` is awaited). The seal starts
   * its check of the file's facts here, so that the check's CPU work does not delay the reads
   * and hashing of the parts. Not called when the put fails before that point.
   */
  onSourceRead?: () => void;
  signal?: AbortSignal;
}

/**
 * The caller's `after` condition, as a put uses it: `promise` settles as `after` does (its
 * rejection is always handled), and `rethrowIfFailed()` throws `after`'s own error once it has
 * failed, so the put fails with the caller's error rather than with the abort it caused.
 */
export interface AfterGate {
  readonly promise: Promise<unknown> | undefined;
  rethrowIfFailed(): void;
}

export function afterGate(after: Promise<unknown> | undefined): AfterGate {
  let failed: { error: unknown } | undefined;
  const promise = after?.catch((error: unknown) => {
    failed = { error };
    throw error;
  });
  promise?.catch(() => undefined);
  return {
    promise,
    rethrowIfFailed() {
      if (failed !== undefined) throw failed.error;
    },
  };
}

/** The error of a put with `noOverwrite` that found other content at its key. */
export function overwriteRefused(key: string, existing: { size: number; sha256?: string | undefined }): CronLogError {
  return new CronLogError('DELIVERY_FAILED', `refusing to overwrite ${key}: it holds other content (sha256 ${existing.sha256 ?? 'unknown'}, ${existing.size} bytes)`);
}

export interface PutResult {
  key: string;
  size: number;
  sha256: string;
  /**
   * 1 + every retry the put needed (request-level retries of any S3 request it made, plus
   * whole-upload restarts). 1 means everything succeeded at the first try.
   */
  attempts: number;
  etag?: string;
  versionId?: string;
  /** True when an identical object (same size and sha256) was already at `key`; nothing was written. */
  alreadyPresent?: boolean;
}

export interface ObjectInfo {
  key: string;
  size: number;
  /** Hex SHA-256 of the object, from our metadata (S3) or computed (file). Absent in `list()`. */
  sha256?: string;
}

export type ProbeStepName = 'bucket' | 'container' | 'directory' | 'put' | 'get' | 'delete';

export interface ProbeStep {
  name: ProbeStepName;
  status: 'ok' | 'failed' | 'skipped';
  /** One line, for humans: what was checked, or what is wrong and what to do about it. */
  message: string;
  /** Stable classification of a failure (e.g. `access-denied`, `no-such-bucket`, `network`). */
  reason?: string;
  /** What to change for a failure, when it is a setting (e.g. `set S3_CHECKSUM_ALGORITHM=MD5 ...`). */
  hint?: string;
}

export interface ProbeResult {
  ok: boolean;
  /** `describe()` of the destination. */
  destination: string;
  steps: ProbeStep[];
}

export interface Destination {
  readonly kind: 's3' | 'azure' | 'file';
  /** e.g. `s3://bucket` or `file:///abs/dir`; never contains a secret. */
  describe(): string;
  put(input: PutInput): Promise<PutResult>;
  /** `undefined` when there is no object at `key`. */
  head(key: string): Promise<ObjectInfo | undefined>;
  /** Throws an ObjectNotFoundError (a CronLogError) when missing. */
  get(key: string): Promise<NodeJS.ReadableStream>;
  /** Deleting a missing key is not an error. */
  delete(key: string): Promise<void>;
  /** Every object whose key starts with `prefix`, in key order. */
  list(prefix: string): AsyncIterable<ObjectInfo>;
  /** For `doctor`: reachability and put/get/delete of a probe object under `prefix`. */
  probe(prefix: string): Promise<ProbeResult>;
  /**
   * Refuses new operations and waits for the running ones to finish, then releases the
   * destination's resources. Idempotent.
   */
  close(): Promise<void>;
  /**
   * Refuses new operations and aborts the running ones (a put rejects with ABORTED and leaves
   * nothing at its key), waits for them to stop, then releases the resources. Idempotent; may
   * follow close() to cut its wait short.
   */
  destroy(): Promise<void>;
  /** close(). */
  [Symbol.asyncDispose](): Promise<void>;
}

/** Metadata key (S3 user metadata `x-amz-meta-sha256`) holding the whole-object hex SHA-256. */
export const SHA256_METADATA_KEY = 'sha256';

const SHA256_HEX = /^[0-9a-f]{64}$/;
// eslint-disable-next-line no-control-regex
const CONTROL_CHARS = /[\u0000-\u001f\u007f]/;

/**
 * Why `key` cannot be used as an object key (both destinations use the same rules, so a layout
 * that works on one works on the other), or undefined when it is fine.
 */
export function objectKeyProblem(key: string): string | undefined {
  if (typeof key !== 'string' || key.length === 0) return 'the key is empty';
  if (Buffer.byteLength(key) > 1024) return 'the key is longer than 1024 bytes';
  if (key.startsWith('/')) return 'the key starts with "/"';
  if (key.includes('\\')) return 'the key contains "\\"';
  if (CONTROL_CHARS.test(key)) return 'the key contains a control character';
  const segments = key.split('/');
  if (segments.some((s) => s === '')) return 'the key has an empty path segment';
  if (segments.some((s) => s === '.' || s === '..')) return 'the key has a "." or ".." segment';
  return undefined;
}

/**
 * The checks every destination's put starts with, and its signal: throws USAGE for an invalid
 * input; the signal also fires when `after` rejects (that stops the upload at once, its retries
 * and waits included).
 */
export function checkedPut(input: PutInput): AbortSignal | undefined {
  const problems = putInputProblems(input);
  if (problems.length > 0) throw new CronLogError('USAGE', `invalid put of ${String(input.key)}: ${problems.join('; ')}`);
  if (input.after === undefined) return input.signal;
  const stop = new AbortController();
  input.after.catch((err: unknown) => stop.abort(err));
  return input.signal !== undefined ? AbortSignal.any([input.signal, stop.signal]) : stop.signal;
}

/** Validates the fields of a PutInput that do not depend on the destination; returns problems. */
export function putInputProblems(input: PutInput): string[] {
  const problems: string[] = [];
  const keyProblem = objectKeyProblem(input.key);
  if (keyProblem !== undefined) problems.push(`invalid key ${JSON.stringify(input.key)}: ${keyProblem}`);
  if (!Number.isSafeInteger(input.size) || input.size < 0) problems.push(`size must be a non-negative integer, got ${String(input.size)}`);
  if (typeof input.sha256 !== 'string' || !SHA256_HEX.test(input.sha256)) problems.push('sha256 must be 64 lowercase hex digits');
  const src = input.source as Partial<{ path: unknown; body: unknown }> | undefined;
  if (src === undefined || (typeof src.path !== 'string' && !Buffer.isBuffer(src.body))) {
    problems.push('source must be { path: string } or { body: Buffer }');
  }
  if (input.replace === true && input.noOverwrite === true) problems.push('replace and noOverwrite cannot be combined');
  for (const [k, v] of Object.entries(input.metadata ?? {})) {
    if (!/^[a-z0-9][a-z0-9-]*$/.test(k)) problems.push(`metadata key ${JSON.stringify(k)} must be lowercase letters, digits and "-"`);
    if (typeof v !== 'string' || !/^[\u0020-\u007e]*$/.test(v)) problems.push(`metadata value of ${JSON.stringify(k)} must be printable ASCII`);
  }
  return problems;
}
