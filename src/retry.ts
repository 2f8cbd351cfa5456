/**
 * The one retry loop of the project: a policy (how many retries, the backoff), the backoff delay,
 * an abortable sleep and `withRetry`, which runs an operation until it succeeds, fails with an
 * error the caller's predicate does not retry, spends its retries, or its signal aborts.
 *
 * Backoff is exponential under a cap, with jitter:
 *
 *   exp(n)   = min(maxDelayMs, base × 2^(n-1))            (n = 1 for the first retry)
 *   delay(n) = random() × exp(n)                          jitter 'full' (the default)
 *   delay(n) = exp(n) × (1 - r + 2r × random())           jitter r (e.g. 0.2: ±20 %)
 *
 * with `base` = baseDelayMs, or 5 × baseDelayMs when the caller says the error is throttling;
 * a server's Retry-After hint raises the delay up to maxDelayMs. Full jitter spreads the retries
 * of many clients ("Exponential Backoff And Jitter", AWS Architecture Blog).
 *
 * `retries` counts retries after the first try: 0 tries once, 5 up to 6 times, and `Infinity`
 * retries until the operation succeeds, fails for good or the signal aborts (a process that
 * exists to wait for a dependency: "retry forever with capped backoff").
 *
 * What is worth retrying is the caller's: S3 classifies with the AWS SDK's classifiers
 * (src/deliver/retryable.ts), webhooks by HTTP status. `isNetworkError` here recognises the
 * Node.js and undici socket and DNS failures that every HTTP client meets.
 *
 * Ground floor: imports nothing of the project but src/errors.ts.
 */
import { CronLogError } from './errors.js';

export interface RetryPolicy {
  /** Retries after the first try: 0 = try once; Infinity = until success, a final error or abort. */
  readonly retries: number;
  /** Base of the exponential backoff, milliseconds. */
  readonly baseDelayMs: number;
  /** Cap of a single delay, milliseconds. */
  readonly maxDelayMs: number;
  /** 'full': a delay in [0, exp); a number r in (0, 1]: a delay in [exp × (1 - r), exp × (1 + r)). */
  readonly jitter: 'full' | number;
}

export const DEFAULT_RETRY_BASE_DELAY_MS = 200;
export const DEFAULT_RETRY_MAX_DELAY_MS = 20_000;
const THROTTLING_FACTOR = 5;

export function retryPolicy(retries: number, overrides: Partial<Omit<RetryPolicy, 'retries'>> = {}): RetryPolicy {
  if (!(retries === Infinity || (Number.isInteger(retries) && retries >= 0))) {
    throw new RangeError(`retryAttempts must be an integer >= 0 (or Infinity: retry until aborted), got ${String(retries)}`);
  }
  const baseDelayMs = overrides.baseDelayMs ?? DEFAULT_RETRY_BASE_DELAY_MS;
  const maxDelayMs = overrides.maxDelayMs ?? DEFAULT_RETRY_MAX_DELAY_MS;
  if (!(baseDelayMs >= 0) || !(maxDelayMs >= baseDelayMs) || maxDelayMs === Infinity) {
    throw new RangeError(`retry delays must satisfy 0 <= baseDelayMs <= maxDelayMs < Infinity, got ${baseDelayMs} and ${maxDelayMs}`);
  }
  const jitter = overrides.jitter ?? 'full';
  if (jitter !== 'full' && !(jitter > 0 && jitter <= 1)) {
    throw new RangeError(`retry jitter must be "full" or a number in (0, 1], got ${String(jitter)}`);
  }
  return Object.freeze({ retries, baseDelayMs, maxDelayMs, jitter });
}

/**
 * The delay before retry number `retry` (1-based), milliseconds. `random` is injectable for
 * tests; it must return values in [0, 1).
 */
export function backoffDelay(
  retry: number,
  policy: Pick<RetryPolicy, 'baseDelayMs' | 'maxDelayMs'> & { jitter?: RetryPolicy['jitter'] },
  options: { throttled?: boolean; retryAfterMs?: number | undefined; random?: () => number } = {},
): number {
  const base = policy.baseDelayMs * (options.throttled === true ? THROTTLING_FACTOR : 1);
  const exp = Math.min(policy.maxDelayMs, base * 2 ** Math.max(0, retry - 1));
  const random = options.random ?? Math.random;
  const jitter = policy.jitter ?? 'full';
  let delay = jitter === 'full' ? Math.floor(random() * exp) : Math.round(exp * (1 - jitter + 2 * jitter * random()));
  if (options.retryAfterMs !== undefined && options.retryAfterMs > delay) {
    delay = Math.min(policy.maxDelayMs, Math.ceil(options.retryAfterMs));
  }
  return delay;
}

/** The error an aborted operation rejects with: the signal's reason when it is ours, else ABORTED. */
export function abortReason(signal: AbortSignal): CronLogError {
  const reason: unknown = signal.reason;
  if (reason instanceof CronLogError) return reason;
  return new CronLogError('ABORTED', 'the operation was aborted', { cause: reason });
}

/** Throws `abortReason(signal)` when the signal has aborted. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted === true) throw abortReason(signal);
}

/** Resolves after `ms`, or rejects with `abortReason(signal)` as soon as `signal` aborts. */
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

/**
 * Settles as `promise` does, or rejects with `abortReason(signal)` as soon as `signal` aborts.
 * `promise` is left to run; its own rejection, if it comes later, is handled (never unhandled).
 */
export function raceAbort<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return promise;
  if (signal.aborted) {
    promise.catch(() => undefined);
    return Promise.reject(abortReason(signal));
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(abortReason(signal));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err);
      },
    );
  });
}

interface ErrorShape {
  name?: unknown;
  code?: unknown;
  Code?: unknown;
  message?: unknown;
  cause?: unknown;
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

/** An AbortError, an ABORT_ERR or an ABORTED CronLogError. */
export function isAbortError(err: unknown): boolean {
  const e = shape(err);
  if (e === undefined) return false;
  return e.name === 'AbortError' || e.code === 'ABORT_ERR' || (err instanceof CronLogError && err.code === 'ABORTED');
}

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

/** A socket or DNS failure (here or anywhere in the cause chain). */
export function isNetworkError(err: unknown, depth = 0): boolean {
  const e = shape(err);
  if (e === undefined || depth > 5) return false;
  if (typeof e.code === 'string' && NETWORK_CODES.has(e.code)) return true;
  if (typeof e.message === 'string' && /socket hang up|ECONNRESET|EPIPE/.test(e.message)) return true;
  return e.cause !== undefined && isNetworkError(e.cause, depth + 1);
}

export interface RetryInfo {
  /** The retry about to happen, 1-based. */
  retry: number;
  delayMs: number;
  error: unknown;
}

export interface RetryOptions {
  /** Whether trying again may succeed after `error`. Pure: looks only at the error. */
  isRetryable: (error: unknown) => boolean;
  /** Throttling errors back off from 5 × baseDelayMs. */
  isThrottling?: (error: unknown) => boolean;
  /** A server's hint of how long to wait (ms), e.g. from Retry-After. */
  retryAfterMs?: (error: unknown) => number | undefined;
  /** Stops the loop: before a try, and during a wait (which it cuts short). A try in flight is not interrupted. */
  signal?: AbortSignal;
  /** Called before each wait (for logs, counters, readiness). */
  onRetry?: (info: RetryInfo) => void;
  random?: () => number;
}

/**
 * Runs `fn` until it succeeds, fails with an error `isRetryable` refuses, or `policy.retries`
 * retries are spent (then the last error is thrown). Resolves with the value and the number of
 * tries made. When the signal aborts, rejects with `abortReason(signal)`.
 */
export async function withRetry<T>(
  fn: (attempt: number) => Promise<T>,
  policy: RetryPolicy,
  options: RetryOptions,
): Promise<{ value: T; attempts: number }> {
  const { signal } = options;
  for (let attempt = 1; ; attempt++) {
    throwIfAborted(signal);
    try {
      return { value: await fn(attempt), attempts: attempt };
    } catch (err) {
      throwIfAborted(signal);
      if (attempt > policy.retries || !options.isRetryable(err)) throw err;
      const delayMs = backoffDelay(attempt, policy, {
        throttled: options.isThrottling?.(err) === true,
        retryAfterMs: options.retryAfterMs?.(err),
        ...(options.random !== undefined ? { random: options.random } : {}),
      });
      options.onRetry?.({ retry: attempt, delayMs, error: err });
      await sleep(delayMs, signal);
    }
  }
}
