import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NoSuchBucket, S3ServiceException } from '@aws-sdk/client-s3';
import { CronLogError } from '../../../src/errors.js';
import { IntegrityError } from '../../../src/deliver/errors.js';
import { backoffDelay, isRetryableError, isThrottlingError, retryPolicy, sleep, withRetry } from '../../../src/deliver/retry.js';

function s3Error(name: string, status: number, extra: Record<string, unknown> = {}): S3ServiceException {
  return Object.assign(new S3ServiceException({ name, $fault: status >= 500 ? 'server' : 'client', $metadata: { httpStatusCode: status }, message: name }), extra);
}
const netError = (code: string): Error => Object.assign(new Error(`${code} happened`), { code });

test('isRetryableError: throttling, 5xx, timeouts and network errors are retried', () => {
  for (const err of [
    s3Error('SlowDown', 503),
    s3Error('ServiceUnavailable', 503),
    s3Error('InternalError', 500),
    s3Error('Unknown', 502),
    s3Error('RequestTimeout', 400),
    s3Error('BadDigest', 400),
    s3Error('ThrottlingException', 400),
    s3Error('Whatever', 429),
    s3Error('Whatever', 408),
    s3Error('Whatever', 400, { $retryable: {} }),
    s3Error('RequestTimeTooSkewed', 403, { $metadata: { httpStatusCode: 403, clockSkewCorrected: true } }),
    netError('ECONNRESET'),
    netError('ECONNREFUSED'),
    netError('EPIPE'),
    netError('ETIMEDOUT'),
    netError('EAI_AGAIN'),
    Object.assign(new Error('timed out'), { name: 'TimeoutError' }),
    new Error('wrapped', { cause: netError('ECONNRESET') }),
    netError('EMFILE'),
  ]) {
    assert.equal(isRetryableError(err), true, `${(err as Error).name} ${(err as { code?: string }).code ?? ''}`);
  }
});

test('isRetryableError: permissions, credentials, missing things and our own decisions are not', () => {
  for (const err of [
    s3Error('AccessDenied', 403),
    s3Error('InvalidAccessKeyId', 403),
    s3Error('SignatureDoesNotMatch', 403),
    new NoSuchBucket({ $metadata: { httpStatusCode: 404 }, message: 'no bucket' }),
    s3Error('NoSuchUpload', 404),
    s3Error('InvalidArgument', 400),
    s3Error('NotImplemented', 501),
    netError('ENOSPC'),
    netError('EACCES'),
    new IntegrityError('source', 'changed'),
    new CronLogError('DELIVERY_FAILED', 'x', { cause: netError('ECONNRESET') }),
    Object.assign(new Error('aborted'), { name: 'AbortError' }),
    'a string',
    undefined,
  ]) {
    assert.equal(isRetryableError(err), false, String((err as Error | undefined)?.name ?? err));
  }
  assert.equal(isThrottlingError(s3Error('SlowDown', 503)), true);
  assert.equal(isThrottlingError(s3Error('InternalError', 500)), false);
});

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
  assert.deepEqual(retryPolicy(3), { retries: 3, baseDelayMs: 200, maxDelayMs: 20_000 });
  assert.throws(() => retryPolicy(-1), /retryAttempts must be an integer/);
  assert.throws(() => retryPolicy(1.5), RangeError);
  assert.throws(() => retryPolicy(1, { baseDelayMs: 100, maxDelayMs: 10 }), RangeError);
});

test('withRetry: retries retryable errors up to the budget and reports the tries', async () => {
  const policy = retryPolicy(3, { baseDelayMs: 1, maxDelayMs: 2 });
  let calls = 0;
  const ok = await withRetry(async () => {
    calls++;
    if (calls < 3) throw netError('ECONNRESET');
    return 'done';
  }, policy);
  assert.deepEqual(ok, { value: 'done', attempts: 3 });

  calls = 0;
  const seen: number[] = [];
  await assert.rejects(
    withRetry(async () => {
      calls++;
      throw s3Error('SlowDown', 503);
    }, policy, { onRetry: (i) => seen.push(i.retry) }),
    (e: unknown) => (e as Error).name === 'SlowDown',
  );
  assert.equal(calls, 4);
  assert.deepEqual(seen, [1, 2, 3]);

  calls = 0;
  await assert.rejects(
    withRetry(async () => {
      calls++;
      throw s3Error('AccessDenied', 403);
    }, policy),
    /AccessDenied/,
  );
  assert.equal(calls, 1);
});

test('withRetry and sleep stop on abort with an ABORTED CronLogError', async () => {
  const ac = new AbortController();
  const policy = retryPolicy(5, { baseDelayMs: 10_000, maxDelayMs: 10_000 });
  const p = withRetry(async () => {
    throw netError('ECONNRESET');
  }, policy, { signal: ac.signal, random: () => 0.99 });
  setTimeout(() => ac.abort(), 20);
  await assert.rejects(p, (e: unknown) => e instanceof CronLogError && e.code === 'ABORTED');
  await assert.rejects(sleep(10, AbortSignal.abort()), (e: unknown) => e instanceof CronLogError && e.code === 'ABORTED');
  await sleep(1);
});
