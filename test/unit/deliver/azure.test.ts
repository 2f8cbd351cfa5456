/** Pure parts of the Azure destination: block sizes and ids, which errors are retried, and how they are told. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RestError } from '@azure/storage-blob';
import { classifyAzureError, isAzureRetryable } from '../../../src/deliver/azure-errors.js';
import { blockSizeFor, MAX_BLOCKS } from '../../../src/deliver/azure-options.js';
import { blockId } from '../../../src/deliver/azure-put.js';
import { CronLogError } from '../../../src/errors.js';

const MiB = 1024 * 1024;

test('the block size is the configured one, grown to whole MiB only past 50,000 blocks', () => {
  assert.equal(blockSizeFor({ blockSize: 256 * 1024 }, 5 * 256 * 1024 + 17), 256 * 1024);
  assert.equal(blockSizeFor({ blockSize: 8 * MiB }, 0), 8 * MiB);
  assert.equal(blockSizeFor({ blockSize: 8 * MiB }, 8 * MiB * MAX_BLOCKS), 8 * MiB);
  assert.equal(blockSizeFor({ blockSize: 8 * MiB }, 8 * MiB * MAX_BLOCKS + 1), 9 * MiB);
});

test('block ids: the same index and bytes give the same id; all ids of a blob have the same length (at most 64 bytes)', () => {
  const a = blockId(0, 'a'.repeat(64));
  assert.equal(a, blockId(0, 'a'.repeat(64)));
  assert.notEqual(a, blockId(1, 'a'.repeat(64)));
  assert.notEqual(a, blockId(0, 'b'.repeat(64)));
  assert.equal(blockId(999_999, 'c'.repeat(64)).length, a.length);
  assert.ok(Buffer.from(a, 'base64').length <= 64);
});

function restError(statusCode: number, code: string, message = code): RestError {
  return new RestError(message, { statusCode, code });
}

test('retried: throttling, 408, 5xx but 501/505, a block damaged in transit, network errors; never: auth, missing, conflicts, our own errors', () => {
  for (const e of [restError(503, 'ServerBusy'), restError(500, 'InternalError'), restError(408, 'OperationTimedOut'), restError(429, 'TooManyRequests'), restError(400, 'Md5Mismatch'), restError(400, 'InvalidOperation', "Provided contentMD5 doesn't match."), new RestError('connect ECONNREFUSED', { code: 'ECONNREFUSED' })]) {
    assert.equal(isAzureRetryable(e), true, `${String(e.code)} is retried`);
  }
  for (const e of [restError(403, 'AuthenticationFailed'), restError(403, 'AuthorizationPermissionMismatch'), restError(404, 'ContainerNotFound'), restError(409, 'BlobAlreadyExists'), restError(501, 'NotImplemented'), restError(400, 'InvalidOperation', 'other'), new CronLogError('DELIVERY_FAILED', 'x'), Object.assign(new Error('aborted'), { name: 'AbortError' })]) {
    assert.equal(isAzureRetryable(e), false, `${String((e as { code?: string }).code ?? e.name)} is not retried`);
  }
});

test('classification: what the probe reports as `reason`', () => {
  assert.equal(classifyAzureError(restError(403, 'AuthenticationFailed')), 'invalid-credentials');
  assert.equal(classifyAzureError(restError(403, 'AuthorizationFailure', 'Server failed to authenticate the request.')), 'invalid-credentials');
  assert.equal(classifyAzureError(restError(403, 'AuthorizationFailure', 'This request is not authorized to perform this operation.')), 'access-denied');
  assert.equal(classifyAzureError(restError(404, 'ContainerNotFound')), 'no-such-container');
  assert.equal(classifyAzureError(restError(404, 'BlobNotFound')), 'not-found');
  assert.equal(classifyAzureError(restError(409, 'BlobImmutableDueToPolicy')), 'immutable');
  assert.equal(classifyAzureError(Object.assign(new Error('no credential'), { name: 'CredentialUnavailableError' })), 'no-credentials');
});

test('the error code of an answer without a body (HEAD) comes from its x-ms-error-code header', () => {
  const head = new RestError('', { statusCode: 403 });
  Object.assign(head, { details: { errorCode: 'AuthenticationFailed' } });
  assert.equal(classifyAzureError(head), 'invalid-credentials');
  const missing = new RestError('', { statusCode: 404 });
  Object.assign(missing, { details: { errorCode: 'ContainerNotFound' } });
  assert.equal(classifyAzureError(missing), 'no-such-container');
});
