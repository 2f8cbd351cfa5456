/**
 * The MD5 and NONE checksum modes: what each part request carries, the ETag predicted from part
 * MD5s (S3's rule: a single PUT's ETag is the MD5 of the body, a multipart object's the MD5 of
 * the concatenated part MD5s, "-N"), and how a store's refusal of x-amz-checksum-* headers is
 * told: the setting and the value to use, only when the request carried such headers.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { S3ServiceException } from '@aws-sdk/client-s3';
import { digestBuffer, expectedMd5Etag, expectedS3Checksum } from '../../../src/deliver/checksum.js';
import { classifyS3Error, describeS3Error, type S3ErrorContext } from '../../../src/deliver/errors.js';
import { checksumParams } from '../../../src/deliver/part-upload.js';
import { isRetryableError } from '../../../src/deliver/retryable.js';

const md5 = (b: Buffer): Buffer => createHash('md5').update(b).digest();

test('ETags predicted from part MD5s: single PUT and multipart, MD5 and NONE alike; none for SHA256 / CRC32C', () => {
  const body = randomBytes(2500);
  for (const mode of ['MD5', 'NONE'] as const) {
    assert.equal(expectedMd5Etag(digestBuffer(body, 4096, mode)), `"${md5(body).toString('hex')}"`);
    // Parts of 1000 bytes: 1000, 1000, 500.
    const parts = [body.subarray(0, 1000), body.subarray(1000, 2000), body.subarray(2000)];
    const want = `"${createHash('md5').update(Buffer.concat(parts.map(md5))).digest('hex')}-3"`;
    assert.equal(expectedMd5Etag(digestBuffer(body, 1000, mode)), want);
  }
  assert.equal(expectedMd5Etag(digestBuffer(body, 1000, 'SHA256')), undefined);
  assert.equal(expectedMd5Etag(digestBuffer(body, 1000, 'CRC32C')), undefined);
  assert.equal(expectedS3Checksum(digestBuffer(body, 1000, 'MD5')), undefined, 'no x-amz-checksum is predicted in MD5 mode');
});

test('what a part request carries in each mode', () => {
  const digest = Buffer.from('00112233445566778899aabbccddeeff', 'hex');
  assert.deepEqual(checksumParams('MD5', digest), { ContentMD5: digest.toString('base64') });
  assert.deepEqual(checksumParams('NONE', digest), {});
  assert.deepEqual(checksumParams('SHA256', digest), { ChecksumSHA256: digest.toString('base64') });
  assert.deepEqual(checksumParams('CRC32C', digest), { ChecksumCRC32C: digest.toString('base64') });
});

function storeError(name: string, status: number, message: string): S3ServiceException {
  return new S3ServiceException({ name, $fault: status >= 500 ? 'server' : 'client', $metadata: { httpStatusCode: status }, message });
}
const ctx = (checksumAlgorithm: string, operation: S3ErrorContext['operation'] = 'put'): S3ErrorContext => ({ bucket: 'logs', region: 'auto', operation, checksumAlgorithm });

test("a store's refusal of the checksum headers names S3_CHECKSUM_ALGORITHM and the value to use, and is not retried", () => {
  const r2 = storeError('NotImplemented', 501, "Header 'x-amz-checksum-crc32c' with value 'AAAAAA==' not implemented");
  assert.equal(classifyS3Error(r2, 'put', 'CRC32C'), 'checksum-refused');
  assert.match(
    describeS3Error(r2, ctx('CRC32C')),
    /^the store refused the x-amz-checksum-crc32c header that S3_CHECKSUM_ALGORITHM=CRC32C sends \(NotImplemented, HTTP 501: Header .*\): set S3_CHECKSUM_ALGORITHM=MD5 /,
  );
  assert.equal(isRetryableError(r2), false);
  const b2 = storeError('InvalidArgument', 400, "Unsupported header 'x-amz-sdk-checksum-algorithm' received for this API call.");
  assert.match(describeS3Error(b2, ctx('SHA256')), /refused the x-amz-sdk-checksum-algorithm header that S3_CHECKSUM_ALGORITHM=SHA256 sends/);
  // GCS says only "Invalid argument.": on a write that carried the headers, that is the reason.
  const gcs = storeError('InvalidArgument', 400, 'Invalid argument.');
  assert.equal(classifyS3Error(gcs, 'put', 'SHA256'), 'checksum-refused');
  assert.equal(classifyS3Error(gcs, 'list', 'SHA256'), 'other', 'a listing carries no checksum header');
});

test('not a checksum refusal: MD5 / NONE modes, credentials, other 400s', () => {
  const r2 = storeError('NotImplemented', 501, "Header 'x-amz-checksum-crc32' with value 'AAAAAA==' not implemented");
  assert.notEqual(classifyS3Error(r2, 'put', 'MD5'), 'checksum-refused', 'MD5 mode sends no such header: something else sent it');
  assert.notEqual(classifyS3Error(r2, 'put', 'NONE'), 'checksum-refused');
  assert.equal(classifyS3Error(storeError('SignatureDoesNotMatch', 403, 'The request signature we calculated does not match'), 'put', 'SHA256'), 'invalid-credentials');
  assert.equal(classifyS3Error(storeError('InvalidArgument', 400, 'Part number must be an integer between 1 and 10000'), 'put', 'SHA256'), 'other');
  const lock = storeError('NotImplemented', 501, "Header 'x-amz-object-lock-mode' with value 'COMPLIANCE' not implemented");
  assert.notEqual(classifyS3Error(lock, 'put', 'SHA256'), 'checksum-refused', 'the store named another header');
  assert.doesNotMatch(describeS3Error(lock, ctx('SHA256')), /S3_CHECKSUM_ALGORITHM/);
  assert.equal(classifyS3Error(storeError('BadDigest', 400, 'The Content-MD5 you specified did not match what we received.'), 'put', 'MD5'), 'other');
});
