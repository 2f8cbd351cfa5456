/**
 * Retry policy for delivery: one pure predicate decides what is worth retrying (throttling, 5xx,
 * timeouts, network errors; never credentials, permissions, missing buckets or our own integrity
 * failures), and exponential backoff with full jitter decides how long to wait:
 *
 *   delay(n) = random() × min(maxDelayMs, base × 2^(n-1))      (n = 1 for the first retry)
 *
 * with `base` = baseDelayMs, or 5 × baseDelayMs for throttling errors; a server Retry-After hint
 * raises the delay up to maxDelayMs. Full jitter spreads the retries of many clients
 * ("Exponential Backoff And Jitter", AWS Architecture Blog).
 *
 * `retries` counts retries after the first try: `retries: 0` tries once, `retries: 5` up to 6 times.
 * The S3 destination applies the same policy to every S3 request through the SDK (see s3.ts).
 */
import { CronLogError } from '../errors.js';

export interface RetryPolicy {
  /** Retries after the first try (0 = try once). */
  readonly retries: number;
  /** Base of the exponential backoff, milliseconds. */
  readonly baseDelayMs: number;
  /** Cap of a single delay, milliseconds. */
  readonly maxDelayMs: number;
}

export const DEFAULT_RETRY_BASE_DELAY_MS = 200;
export const DEFAULT_RETRY_MAX_DELAY_MS = 20_000;
export const MAX_RETRIES = 50;
const THROTTLING_FACTOR = 5;

export function retryPolicy(retries: number, overrides: Partial<Omit<RetryPolicy, 'retries'>> = {}): RetryPolicy {
  if (!Number.isInteger(retries) || retries < 0 || retries > MAX_RETRIES) {
    throw new RangeError(`retryAttempts must be an integer between 0 and ${MAX_RETRIES}, got ${String(retries)}`);
  }
  const baseDelayMs = overrides.baseDelayMs ?? DEFAULT_RETRY_BASE_DELAY_MS;
  const maxDelayMs = overrides.maxDelayMs ?? DEFAULT_RETRY_MAX_DELAY_MS;
  if (!(baseDelayMs >= 0) || !(maxDelayMs >= baseDelayMs)) {
    throw new RangeError(`retry delays must satisfy 0 <= baseDelayMs <= maxDelayMs, got ${baseDelayMs} and ${maxDelayMs}`);
  }
  return Object.freeze({ retries, baseDelayMs, maxDelayMs });
}

// Error names/codes as S3 and the AWS SDK report them.
const THROTTLING_CODES = new Set([
  'BandwidthLimitExceeded',
  'EC2ThrottledException',
  'LimitExceededException',
  'PriorRequestNotComplete',
  'ProvisionedThroughputExceededException',
  'RequestLimitExceeded',
  'RequestThrottled',
  'RequestThrottledException',
  'SlowDown',
  'ThrottledException',
  'Throttling',
  'ThrottlingException',
  'TooManyRequestsException',
  'TransactionInProgressException',
]);

const TRANSIENT_CODES = new Set([
  'InternalError',
  'ServiceUnavailable',
  'RequestTimeout',
  'RequestTimeoutException',
  'TimeoutError',
  // The body was damaged in transit: sending the same bytes again fixes it.
  'BadDigest',
  'XAmzContentSHA256Mismatch',
  'IncompleteBody',
  // "A conflicting conditional operation is currently in progress against this resource."
  'OperationAborted',
]);

/** Node.js / undici socket and DNS error codes that a later try may not hit. */
const NETWORK_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'ESOCKETTIMEDOUT',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
  'ENOTFOUND',
  'EAI_AGAIN',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'ERR_HTTP2_STREAM_ERROR',
]);

/** Local file-system errors that clear up by themselves. */
const FS_TRANSIENT_CODES = new Set(['EAGAIN', 'EBUSY', 'EMFILE', 'ENFILE', 'EINTR']);

interface ErrorShape {
  name?: unknown;
  code?: unknown;
  Code?: unknown;
  message?: unknown;
  cause?: unknown;
  $retryable?: { throttling?: boolean };
  $metadata?: { httpStatusCode?: number; clockSkewCorrected?: boolean };
}

function shape(err: unknown): ErrorShape | undefined {
  return typeof err === 'object' && err !== null ? (err as ErrorShape) : undefined;
}

/** The S3 error code / error name / Node error code of `err`, whichever it has. */
export function errorCode(err: unknown): string | undefined {
  const e = shape(err);
  if (e === undefined) return undefined;
  for (const c of [e.Code, e.code, e.name]) {
    if (typeof c === 'string' && c !== '' && c !== 'Error') return c;
  }
  return undefined;
}

export function httpStatusOf(err: unknown): number | undefined {
  const status = shape(err)?.$metadata?.httpStatusCode;
  return typeof status === 'number' ? status : undefined;
}

export function isAbortError(err: unknown): boolean {
  const e = shape(err);
  if (e === undefined) return false;
  return e.name === 'AbortError' || e.code === 'ABORT_ERR' || (err instanceof CronLogError && err.code === 'ABORTED');
}

export function isThrottlingError(err: unknown): boolean {
  const e = shape(err);
  if (e === undefined) return false;
  if (httpStatusOf(err) === 429 || e.$retryable?.throttling === true) return true;
  return [e.name, e.code, e.Code].some((c) => typeof c === 'string' && THROTTLING_CODES.has(c));
}

export function isNetworkError(err: unknown, depth = 0): boolean {
  const e = shape(err);
  if (e === undefined || depth > 5) return false;
  if (typeof e.code === 'string' && NETWORK_CODES.has(e.code)) return true;
  if (typeof e.message === 'string' && /socket hang up|ECONNRESET|EPIPE/.test(e.message)) return true;
  return e.cause !== undefined && isNetworkError(e.cause, depth + 1);
}

/**
 * The retry predicate: true when trying the same operation again may succeed. Pure: looks only at
 * the error (name, code, HTTP status, SDK retry traits, cause chain).
 */
export function isRetryableError(err: unknown): boolean {
  const e = shape(err);
  if (e === undefined) return false;
  if (isAbortError(err)) return false;
  // Our own errors are decisions (integrity mismatch, bad input, exhausted retries), not accidents.
  if (err instanceof CronLogError) return false;
  if (e.$retryable !== undefined) return true;
  // The SDK corrected its clock offset after RequestTimeTooSkewed: the next try is signed right.
  if (e.$metadata?.clockSkewCorrected === true) return true;
  if (isThrottlingError(err)) return true;
  const codes = [e.name, e.code, e.Code].filter((c): c is string => typeof c === 'string');
  if (codes.some((c) => TRANSIENT_CODES.has(c) || FS_TRANSIENT_CODES.has(c))) return true;
  const status = httpStatusOf(err);
  if (status !== undefined) {
    if (status === 408 || status === 429) return true;
    if (status >= 500 && status !== 501 && status !== 505) return true;
  }
  return isNetworkError(err);
}

/**
 * Full-jitter exponential backoff delay before retry number `retry` (1-based), milliseconds.
 * `random` is injectable for tests; it must return values in [0, 1).
 */
export function backoffDelay(
  retry: number,
  policy: Pick<RetryPolicy, 'baseDelayMs' | 'maxDelayMs'>,
  options: { throttled?: boolean; retryAfterMs?: number; random?: () => number } = {},
): number {
  const base = policy.baseDelayMs * (options.throttled === true ? THROTTLING_FACTOR : 1);
  const exp = Math.min(policy.maxDelayMs, base * 2 ** Math.max(0, retry - 1));
  const random = options.random ?? Math.random;
  let delay = Math.floor(random() * exp);
  if (options.retryAfterMs !== undefined && options.retryAfterMs > delay) {
    delay = Math.min(policy.maxDelayMs, Math.ceil(options.retryAfterMs));
  }
  return delay;
}

export function abortReason(signal: AbortSignal): CronLogError {
  const reason: unknown = signal.reason;
  if (reason instanceof CronLogError) return reason;
  return new CronLogError('ABORTED', 'the operation was aborted', { cause: reason });
}

/** Resolves after `ms`, or rejects with an ABORTED CronLogError as soon as `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted === true) return Promise.reject(abortReason(signal));
  if (ms <= 0) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(abortReason(signal as AbortSignal));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export interface RetryInfo {
  /** The retry about to happen, 1-based. */
  retry: number;
  delayMs: number;
  error: unknown;
}

export interface RetryOptions {
  signal?: AbortSignal;
  isRetryable?: (err: unknown) => boolean;
  onRetry?: (info: RetryInfo) => void;
  random?: () => number;
}

/**
 * Runs `fn` until it succeeds, fails with a non-retryable error, or `policy.retries` retries are
 * spent (then the last error is thrown). Resolves with the value and the number of tries made.
 */
export async function withRetry<T>(
  fn: (attempt: number) => Promise<T>,
  policy: RetryPolicy,
  options: RetryOptions = {},
): Promise<{ value: T; attempts: number }> {
  const isRetryable = options.isRetryable ?? isRetryableError;
  const signal = options.signal;
  const aborted = (): boolean => signal?.aborted === true;
  for (let attempt = 1; ; attempt++) {
    if (signal !== undefined && aborted()) throw abortReason(signal);
    try {
      return { value: await fn(attempt), attempts: attempt };
    } catch (err) {
      if (signal !== undefined && aborted()) throw abortReason(signal);
      if (attempt > policy.retries || !isRetryable(err)) throw err;
      const delayMs = backoffDelay(attempt, policy, {
        throttled: isThrottlingError(err),
        ...(options.random !== undefined ? { random: options.random } : {}),
      });
      options.onRetry?.({ retry: attempt, delayMs, error: err });
      await sleep(delayMs, options.signal);
    }
  }
}
