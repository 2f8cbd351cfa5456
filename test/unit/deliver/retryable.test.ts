import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NoSuchBucket, S3ServiceException } from '@aws-sdk/client-s3';
import { CronLogError } from '../../../src/errors.js';
import { IntegrityError } from '../../../src/deliver/errors.js';
import { isRetryableError, isThrottlingError, retryAfterMs } from '../../../src/deliver/retryable.js';

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

test('throttling is the AWS SDK classifier\'s: its codes, 429 and the throttling trait', () => {
  for (const err of [
    s3Error('RequestThrottledException', 400),
    s3Error('TooManyRequestsException', 400),
    s3Error('ProvisionedThroughputExceededException', 400),
    s3Error('Whatever', 429),
    s3Error('Whatever', 400, { $retryable: { throttling: true } }),
  ]) {
    assert.equal(isThrottlingError(err), true, (err as Error).name);
    assert.equal(isRetryableError(err), true, (err as Error).name);
  }
  assert.equal(isThrottlingError(s3Error('Whatever', 400, { $retryable: {} })), false);
  assert.equal(isThrottlingError(undefined), false);
  assert.equal(isThrottlingError('SlowDown'), false);
});

test('other 5xx are retried but 501 and 505; S3 codes the SDK does not list are retried whatever the status', () => {
  assert.equal(isRetryableError(s3Error('Whatever', 507)), true);
  assert.equal(isRetryableError(s3Error('Whatever', 505)), false);
  // CompleteMultipartUpload can fail inside a 200 response.
  assert.equal(isRetryableError(s3Error('InternalError', 200)), true);
  assert.equal(isRetryableError(s3Error('OperationAborted', 409)), true);
  assert.equal(isRetryableError(s3Error('XAmzContentSHA256Mismatch', 400)), true);
  // A network error inside our own error is still our decision.
  assert.equal(isRetryableError(new CronLogError('DESTINATION_UNAVAILABLE', 'x', { cause: netError('ECONNRESET') })), false);
});

test('retryAfterMs: the Retry-After or x-amz-retry-after header of the error\'s response', async () => {
  const { HttpResponse } = await import('@smithy/core/protocols');
  const withHeaders = (headers: Record<string, string>): unknown => s3Error('SlowDown', 503, { $response: new HttpResponse({ statusCode: 503, headers }) });
  const seconds = retryAfterMs(withHeaders({ 'retry-after': '3' }));
  assert.ok(seconds !== undefined && seconds > 2_900 && seconds <= 3_000, String(seconds));
  const ms = retryAfterMs(withHeaders({ 'x-amz-retry-after': '1500' }));
  assert.ok(ms !== undefined && ms > 1_400 && ms <= 1_500, String(ms));
  assert.equal(retryAfterMs(withHeaders({})), undefined);
  assert.equal(retryAfterMs(s3Error('SlowDown', 503)), undefined);
  assert.equal(retryAfterMs(undefined), undefined);
});
