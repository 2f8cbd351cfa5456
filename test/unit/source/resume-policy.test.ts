import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MongoServerError } from 'mongodb';
import { isChangeStreamUnsupported, isHistoryLost, isInvalidResumeToken } from '../../../src/source/resume-policy.js';

function serverError(code: number, message: string, codeName?: string): MongoServerError {
  return new MongoServerError({ ok: 0, code, errmsg: message, ...(codeName ? { codeName } : {}) });
}

test('history lost: code 286, CappedPositionLost, and the old fatal message', () => {
  assert.ok(isHistoryLost(serverError(286, 'Resume of change stream was not possible', 'ChangeStreamHistoryLost')));
  assert.ok(isHistoryLost(serverError(136, 'CollectionScan died due to position in capped collection being deleted')));
  assert.ok(isHistoryLost(serverError(280, 'resume point may no longer be in the oplog')));
  assert.ok(!isHistoryLost(serverError(280, 'cannot resume stream; the resume token was not found')));
  assert.ok(!isHistoryLost(new Error('286')));
});

test('unusable tokens: InvalidResumeToken, KeyString errors, malformed hex, fatal change stream errors', () => {
  assert.ok(isInvalidResumeToken(serverError(260, 'Invalid resume token', 'InvalidResumeToken')));
  assert.ok(isInvalidResumeToken(serverError(9, 'resume token string was not a valid hex string', 'FailedToParse')));
  assert.ok(isInvalidResumeToken(serverError(280, 'cannot resume stream; the resume token was not found', 'ChangeStreamFatalError')));
  assert.ok(!isInvalidResumeToken(serverError(9, 'unknown operator $foo', 'FailedToParse')));
  assert.ok(!isInvalidResumeToken(serverError(11000, 'E11000 duplicate key error')));
});

test('change streams unsupported on a standalone server', () => {
  assert.ok(isChangeStreamUnsupported(serverError(40573, 'The $changeStream stage is only supported on replica sets')));
  assert.ok(!isChangeStreamUnsupported(serverError(59, 'no such command')));
});
