/**
 * What a destination retries: one pure predicate over the error (name, code, HTTP status, SDK
 * retry traits, cause chain), used for every S3 request (src/deliver/s3-request.ts), for
 * whole-upload restarts and for local writes (src/deliver/file.ts).
 *
 * AWS errors are classified with the AWS SDK's own classifiers (`@smithy/core/retry`, which the
 * SDK's retry middleware uses): throttling, transient errors (timeouts, 500/502/503/504, the
 * retryable trait, a corrected clock skew, network errors), and other server errors but 501 Not
 * Implemented and 505 HTTP Version Not Supported. Added to them: S3's error codes for a body
 * damaged in transit (sending the same bytes again fixes it) and for a conflicting operation in
 * progress, 408, Node/undici network errors (src/retry.ts) and local file-system errors that clear
 * up by themselves. Never retried: credentials, permissions, missing buckets or keys, aborts, and
 * our own CronLogErrors (an integrity mismatch, bad input, exhausted retries are decisions, not
 * accidents).
 *
 * The classifiers are loaded by the first error classified, not with this module (about 30 ms
 * and 5 MiB with the rest of `@smithy/core` on Node 20, measured with the S3 SDK's own loading:
 * src/deliver/s3-sdk.ts); the package is CommonJS for Node, so `require` keeps this synchronous.
 */
import { createRequire } from 'node:module';
import type * as SmithyRetry from '@smithy/core/retry';
import { CronLogError } from '../errors.js';
import { errorCode, isAbortError, isNetworkError } from '../retry.js';

type SdkError = Parameters<typeof SmithyRetry.isTransientError>[0];

const require = createRequire(import.meta.url);
let classifiers: typeof SmithyRetry | undefined;

/** `@smithy/core/retry`, loaded by the first call. */
function sdkRetry(): typeof SmithyRetry {
  classifiers ??= require('@smithy/core/retry') as typeof SmithyRetry;
  return classifiers;
}

/** S3 error codes the SDK's classifiers do not know as retryable. */
const S3_RETRYABLE_CODES = new Set([
  // S3 reports these with HTTP 500/503 (then the SDK knows them too) but also inside a 200
  // response (CompleteMultipartUpload).
  'InternalError',
  'ServiceUnavailable',
  // The body was damaged in transit: sending the same bytes again fixes it.
  'BadDigest',
  'XAmzContentSHA256Mismatch',
  'IncompleteBody',
  // "A conflicting conditional operation is currently in progress against this resource."
  'OperationAborted',
]);

/** Local file-system errors that clear up by themselves. */
const FS_TRANSIENT_CODES = new Set(['EAGAIN', 'EBUSY', 'EMFILE', 'ENFILE', 'EINTR']);

function sdkError(err: unknown): SdkError | undefined {
  return typeof err === 'object' && err !== null ? (err as SdkError) : undefined;
}

export function httpStatusOf(err: unknown): number | undefined {
  const status = (err as { $metadata?: { httpStatusCode?: unknown } } | undefined)?.$metadata?.httpStatusCode;
  return typeof status === 'number' ? status : undefined;
}

/** Throttling, as the AWS SDK classifies it (429, SlowDown, Throttling…, the throttling trait). */
export function isThrottlingError(err: unknown): boolean {
  const e = sdkError(err);
  return e !== undefined && sdkRetry().isThrottlingError(e);
}

/** The retry predicate: true when trying the same operation again may succeed. */
export function isRetryableError(err: unknown): boolean {
  const e = sdkError(err);
  if (e === undefined) return false;
  if (isAbortError(err)) return false;
  if (err instanceof CronLogError) return false;
  const sdk = sdkRetry();
  if (sdk.isThrottlingError(e) || sdk.isTransientError(e)) return true;
  const status = httpStatusOf(err);
  if (sdk.isServerError(e) && status !== 501 && status !== 505) return true;
  if (status === 408) return true;
  const code = errorCode(err);
  if (code !== undefined && (S3_RETRYABLE_CODES.has(code) || FS_TRANSIENT_CODES.has(code))) return true;
  return isNetworkError(err);
}

/** The server's Retry-After (or x-amz-retry-after) hint of an SDK error, in ms from now. */
export function retryAfterMs(err: unknown): number | undefined {
  const response = (err as { $response?: unknown } | undefined)?.$response;
  const hint = response === undefined ? undefined : sdkRetry().getRetryAfterHint(response);
  return hint instanceof Date ? hint.getTime() - Date.now() : undefined;
}
