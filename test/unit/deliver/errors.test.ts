import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NoSuchBucket, S3ServiceException } from '@aws-sdk/client-s3';
import { CronLogError, ExitCode, exitCodeOf } from '../../../src/errors.js';
import {
  IntegrityError,
  ObjectNotFoundError,
  classifyS3Error,
  describeFsError,
  describeS3Error,
  isObjectNotFound,
  redactSecrets,
  safeEndpoint,
  type S3ErrorContext,
} from '../../../src/deliver/errors.js';

function s3Error(name: string, status: number, extra: Record<string, unknown> = {}): S3ServiceException {
  return Object.assign(new S3ServiceException({ name, $fault: status >= 500 ? 'server' : 'client', $metadata: { httpStatusCode: status }, message: `${name} message` }), extra);
}
const ctx = (operation: S3ErrorContext['operation'], extra: Partial<S3ErrorContext> = {}): S3ErrorContext => ({
  bucket: 'logs-bucket',
  region: 'eu-west-1',
  operation,
  ...extra,
});

test('403 maps to access denied naming the bucket, the IAM action and the resource', () => {
  assert.equal(
    describeS3Error(s3Error('AccessDenied', 403), ctx('put', { prefix: 'api-logs' })),
    'access denied to bucket logs-bucket: check the credentials and the IAM policy (s3:PutObject on logs-bucket/api-logs/*)',
  );
  assert.match(describeS3Error(s3Error('AccessDenied', 403), ctx('put', { key: 'api-logs/a.gz' })), /s3:PutObject on logs-bucket\/api-logs\/a\.gz\)$/);
  assert.match(describeS3Error(s3Error('AccessDenied', 403), ctx('list')), /s3:ListBucket on logs-bucket\)/);
  assert.match(describeS3Error(s3Error('AccessDenied', 403), ctx('delete', { key: 'k' })), /s3:DeleteObject/);
  // A HEAD 403 has no error code in its body.
  assert.equal(classifyS3Error(s3Error('Forbidden', 403), 'head'), 'access-denied');
  assert.match(describeS3Error(s3Error('AccessDenied', 403), ctx('put', { key: 'k', kmsKeyId: 'alias/logs' })), /kms:GenerateDataKey\/kms:Decrypt on alias\/logs/);
});

test('404 / NoSuchBucket maps to "bucket does not exist in region"', () => {
  const err = new NoSuchBucket({ $metadata: { httpStatusCode: 404 }, message: 'The specified bucket does not exist' });
  assert.equal(describeS3Error(err, ctx('list')), 'bucket logs-bucket does not exist in region eu-west-1');
  assert.equal(describeS3Error(s3Error('NotFound', 404), ctx('bucket', { endpoint: 'http://127.0.0.1:9000' })), 'bucket logs-bucket does not exist in region eu-west-1 (endpoint http://127.0.0.1:9000)');
  assert.equal(classifyS3Error(s3Error('NotFound', 404), 'head'), 'not-found');
});

test('bad key id, signature or token maps to "the AWS credentials are invalid"', () => {
  assert.equal(describeS3Error(s3Error('InvalidAccessKeyId', 403), ctx('list')), 'the AWS credentials are invalid: the access key id is not known to S3');
  assert.equal(describeS3Error(s3Error('SignatureDoesNotMatch', 403), ctx('put')), 'the AWS credentials are invalid: the request signature does not match: check the secret access key');
  assert.match(describeS3Error(s3Error('ExpiredToken', 400), ctx('put')), /credentials are invalid: the session token has expired/);
  const noCreds = Object.assign(new Error('Could not load credentials from any providers'), { name: 'CredentialsProviderError' });
  assert.match(describeS3Error(noCreds, ctx('put')), /^no AWS credentials found: set s3\.accessKeyId and s3\.secretAccessKey/);
});

test('network errors map to "cannot reach S3 endpoint"', () => {
  const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });
  assert.equal(describeS3Error(refused, ctx('list', { endpoint: 'http://127.0.0.1:1' })), 'cannot reach S3 endpoint http://127.0.0.1:1: ECONNREFUSED');
  const dns = Object.assign(new Error('getaddrinfo ENOTFOUND s3.eu-west-1.amazonaws.com'), { code: 'ENOTFOUND' });
  assert.match(describeS3Error(dns, ctx('list')), /^cannot reach S3 endpoint https:\/\/s3\.eu-west-1\.amazonaws\.com: ENOTFOUND/);
  const timeout = Object.assign(new Error('socket timed out'), { name: 'TimeoutError' });
  assert.match(describeS3Error(timeout, ctx('put')), /^cannot reach S3 endpoint .*timed out/);
});

test('wrong region, throttling and server errors', () => {
  const redirect = s3Error('PermanentRedirect', 301, { $response: { headers: { 'x-amz-bucket-region': 'us-west-2' } } });
  assert.equal(describeS3Error(redirect, ctx('list')), "bucket logs-bucket is not in region eu-west-1 (S3 says it is in us-west-2): set s3.region to the bucket's region");
  assert.match(describeS3Error(s3Error('AuthorizationHeaderMalformed', 400, { message: "the region 'eu-west-1' is wrong; expecting 'us-east-1'" }), ctx('list')), /is not in region eu-west-1/);
  assert.match(describeS3Error(s3Error('SlowDown', 503), ctx('put')), /^S3 is throttling requests to bucket logs-bucket \(SlowDown, HTTP 503\)/);
  assert.match(describeS3Error(s3Error('InternalError', 500), ctx('put')), /^S3 failed with InternalError \(HTTP 500\)/);
});

test('secrets never survive: redaction and endpoints without credentials', () => {
  assert.equal(redactSecrets('key wJalrXUtnFEMI/K7MDENG leaked, token abcd', ['wJalrXUtnFEMI/K7MDENG', undefined, 'ab']), 'key *** leaked, token abcd');
  assert.equal(safeEndpoint('https://user:pass@minio.local:9000/?x=1'), 'https://minio.local:9000');
  assert.equal(safeEndpoint('not a url'), '<invalid endpoint URL>');
});

test('file-system errors get a sentence naming the path', () => {
  const e = (code: string): Error => Object.assign(new Error(code), { code });
  assert.match(describeFsError(e('EACCES'), '/data/archive'), /^permission denied on \/data\/archive \(EACCES\): check the owner and mode/);
  assert.match(describeFsError(e('ENOTDIR'), '/a/b'), /not a directory/);
  assert.match(describeFsError(e('ENOSPC'), '/a'), /no space left/);
  assert.match(describeFsError(e('EROFS'), '/a'), /read-only/);
});

test('our own delivery failures have codes of their own: INTEGRITY_MISMATCH and OBJECT_NOT_FOUND (exit code 3, like DELIVERY_FAILED)', () => {
  const integrity = new IntegrityError('stored', 's3://b/k has 1 bytes after the upload, expected 2');
  const missing = new ObjectNotFoundError('s3://b', 'k');
  assert.equal(integrity.code, 'INTEGRITY_MISMATCH');
  assert.equal(missing.code, 'OBJECT_NOT_FOUND');
  assert.ok(isObjectNotFound(missing) && !isObjectNotFound(integrity));
  for (const e of [integrity, missing]) {
    assert.ok(e instanceof CronLogError);
    assert.equal(exitCodeOf(e), ExitCode.runtime);
  }
  assert.equal(classifyS3Error(integrity), 'integrity');
});
