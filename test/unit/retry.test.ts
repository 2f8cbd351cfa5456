import { test } from 'node:test';
import assert from 'node:assert/strict';
import { S3ServiceException } from '@aws-sdk/client-s3';
import { CronLogError } from '../../src/errors.js';
import { isRetryableError } from '../../src/deliver/retryable.js';
import { abortReason, backoffDelay, isNetworkError, raceAbort, retryPolicy, sleep, withRetry } from '../../src/retry.js';

function s3Error(name: string, status: number, extra: Record<string, unknown> = {}): S3ServiceException {
  return Object.assign(new S3ServiceException({ name, $fault: status >= 500 ? 'server' : 'client', $metadata: { httpStatusCode: status }, message: name }), extra);
}
const netError = (code: string): Error => Object.assign(new Error(`${code} happened`), { code });

test('backoffDelay: full jitter under an exponential cap, throttling and Retry-After raise it', () => {
  const policy = { baseDelayMs: 100, maxDelayMs: 5_000 };
  const top = (): number => 0.999999;
  assert.equal(backoffDelay(1, policy, { random: top }), 99);
  assert.equal(backoffDelay(2, policy, { random: top }), 199);
  assert.equal(backoffDelay(4, policy, { random: top }), 799);
  assert.equal(backoffDelay(20, policy, { random: top }), 4999);
  assert.equal(backoffDelay(3, policy, { random: () => 0 }), 0);
  assert.equal(backoffDelay(1, policy, { random: top, throttled: true }), 499);
  assert.equal(backoffDelay(1, policy, { random: () => 0, retryAfterMs: 1234 }), 1234);
  assert.equal(backoffDelay(1, policy, { random: () => 0, retryAfterMs: 60_000 }), 5_000);
  for (let i = 0; i < 200; i++) {
    const d = backoffDelay(3, policy);
    assert.ok(d >= 0 && d < 400);
  }
});

test('retryPolicy validates its numbers', () => {
  assert.deepEqual(retryPolicy(3), { retries: 3, baseDelayMs: 200, maxDelayMs: 20_000, jitter: 'full' });
  assert.equal(retryPolicy(Infinity).retries, Infinity);
  assert.throws(() => retryPolicy(-1), /retryAttempts must be an integer/);
  assert.throws(() => retryPolicy(1.5), RangeError);
  assert.throws(() => retryPolicy(1, { baseDelayMs: 100, maxDelayMs: 10 }), RangeError);
  assert.throws(() => retryPolicy(Infinity, { maxDelayMs: Infinity }), RangeError);
  assert.throws(() => retryPolicy(1, { jitter: 0 }), /jitter/);
  assert.throws(() => retryPolicy(1, { jitter: 1.5 }), /jitter/);
});

test('withRetry: retries retryable errors up to the budget and reports the tries', async () => {
  const policy = retryPolicy(3, { baseDelayMs: 1, maxDelayMs: 2 });
  let calls = 0;
  const ok = await withRetry(async () => {
    calls++;
    if (calls < 3) throw netError('ECONNRESET');
    return 'done';
  }, policy, { isRetryable: isRetryableError });
  assert.deepEqual(ok, { value: 'done', attempts: 3 });

  calls = 0;
  const seen: number[] = [];
  await assert.rejects(
    withRetry(async () => {
      calls++;
      throw s3Error('SlowDown', 503);
    }, policy, { isRetryable: isRetryableError, onRetry: (i) => seen.push(i.retry) }),
    (e: unknown) => (e as Error).name === 'SlowDown',
  );
  assert.equal(calls, 4);
  assert.deepEqual(seen, [1, 2, 3]);

  calls = 0;
  await assert.rejects(
    withRetry(async () => {
      calls++;
      throw s3Error('AccessDenied', 403);
    }, policy, { isRetryable: isRetryableError }),
    /AccessDenied/,
  );
  assert.equal(calls, 1);
});

test('withRetry and sleep stop on abort with an ABORTED CronLogError', async () => {
  const ac = new AbortController();
  const policy = retryPolicy(5, { baseDelayMs: 10_000, maxDelayMs: 10_000 });
  const p = withRetry(async () => {
    throw netError('ECONNRESET');
  }, policy, { isRetryable: isRetryableError, signal: ac.signal, random: () => 0.99 });
  setTimeout(() => ac.abort(), 20);
  await assert.rejects(p, (e: unknown) => e instanceof CronLogError && e.code === 'ABORTED');
  await assert.rejects(sleep(10, AbortSignal.abort()), (e: unknown) => e instanceof CronLogError && e.code === 'ABORTED');
  await sleep(1);
});

test('backoffDelay with a proportional jitter: ±r around the exponential delay, under the cap', () => {
  const policy = retryPolicy(5, { baseDelayMs: 1000, maxDelayMs: 4000, jitter: 0.2 });
  assert.equal(backoffDelay(1, policy, { random: () => 0 }), 800);
  assert.equal(backoffDelay(1, policy, { random: () => 0.5 }), 1000);
  assert.equal(backoffDelay(2, policy, { random: () => 0.999999 }), 2400);
  assert.equal(backoffDelay(9, policy, { random: () => 0.5 }), 4000);
  assert.equal(backoffDelay(9, policy, { random: () => 0 }), 3200);
});

test('withRetry: the throttling predicate lengthens the backoff and a Retry-After hint raises it', async () => {
  const policy = retryPolicy(2, { baseDelayMs: 10, maxDelayMs: 1000 });
  const delays: number[] = [];
  let calls = 0;
  const r = await withRetry(
    async () => {
      if (++calls < 3) throw new Error(calls === 1 ? 'throttled' : 'busy');
      return calls;
    },
    policy,
    {
      isRetryable: () => true,
      isThrottling: (e) => (e as Error).message === 'throttled',
      retryAfterMs: (e) => ((e as Error).message === 'busy' ? 30 : undefined),
      random: () => 0.999999,
      onRetry: (i) => delays.push(i.delayMs),
    },
  );
  assert.deepEqual(r, { value: 3, attempts: 3 });
  // Retry 1, throttled: up to 5 × 10 ms; retry 2: up to 20 ms, raised to the hint of 30 ms.
  assert.deepEqual(delays, [49, 30]);
});

test('withRetry with retries: Infinity keeps going (capped backoff) until success or abort', async () => {
  const policy = retryPolicy(Infinity, { baseDelayMs: 1, maxDelayMs: 2 });
  let calls = 0;
  const done = await withRetry(async () => {
    if (++calls < 40) throw netError('ECONNREFUSED');
    return 'connected';
  }, policy, { isRetryable: isNetworkError });
  assert.deepEqual(done, { value: 'connected', attempts: 40 });

  const ac = new AbortController();
  const waits: number[] = [];
  const forever = withRetry(async () => {
    throw netError('ECONNREFUSED');
  }, policy, {
    isRetryable: isNetworkError,
    signal: ac.signal,
    onRetry: (i) => {
      waits.push(i.delayMs);
      if (i.retry === 25) ac.abort(new CronLogError('ABORTED', 'shutting down'));
    },
  });
  await assert.rejects(forever, (e: unknown) => e instanceof CronLogError && e.code === 'ABORTED' && e.message === 'shutting down');
  assert.equal(waits.length, 25);
  assert.ok(waits.every((d) => d >= 0 && d <= 2), `every wait is capped: ${waits.join(',')}`);
  // A non-retryable error ends it at once.
  await assert.rejects(
    withRetry(async () => {
      throw new Error('bad credentials');
    }, policy, { isRetryable: isNetworkError }),
    /bad credentials/,
  );
});

test('raceAbort: the promise, or the abort reason as soon as the signal aborts', async () => {
  assert.equal(await raceAbort(Promise.resolve(7), undefined), 7);
  assert.equal(await raceAbort(Promise.resolve(7), new AbortController().signal), 7);
  await assert.rejects(raceAbort(Promise.reject(new Error('own')), new AbortController().signal), /own/);
  await assert.rejects(raceAbort(new Promise(() => undefined), AbortSignal.abort()), (e: unknown) => e instanceof CronLogError && e.code === 'ABORTED');
  const ac = new AbortController();
  const pending = raceAbort(new Promise(() => undefined), ac.signal);
  ac.abort(new CronLogError('ABORTED', 'destroyed'));
  await assert.rejects(pending, /destroyed/);
  assert.equal(abortReason(AbortSignal.abort(new Error('x'))).code, 'ABORTED');
});

test('raceAbort: the raced promise rejecting later is never an unhandled rejection, aborted before or after', async () => {
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown): void => void unhandled.push(reason);
  process.on('unhandledRejection', onUnhandled);
  try {
    const late = (): Promise<never> => new Promise((_, reject) => setTimeout(() => reject(new Error('topology closed')), 10));
    await assert.rejects(raceAbort(late(), AbortSignal.abort()), (e: unknown) => e instanceof CronLogError && e.code === 'ABORTED');
    const ac = new AbortController();
    const pending = raceAbort(late(), ac.signal);
    ac.abort();
    await assert.rejects(pending, (e: unknown) => e instanceof CronLogError && e.code === 'ABORTED');
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(unhandled, []);
  } finally {
    process.off('unhandledRejection', onUnhandled);
  }
});
