/**
 * When the raw change stream resumes after a getMore error (the change streams specification's
 * rule, as the driver applies it): on servers 4.4+ only what the server labels resumable (and
 * CursorNotFound); on older servers, which label nothing, a list of codes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MongoNetworkError, MongoServerError } from 'mongodb';
import { isResumableChangeStreamError } from '../../../src/source/raw-change-stream.js';

function serverError(code: number, labels: string[] = []): MongoServerError {
  return new MongoServerError({ ok: 0, code, errmsg: `code ${code}`, ...(labels.length > 0 ? { errorLabels: labels } : {}) });
}

test('servers 4.4+ (wire version 9+, or unknown): the ResumableChangeStreamError label decides, and CursorNotFound', () => {
  for (const wire of [undefined, 9, 25]) {
    assert.equal(isResumableChangeStreamError(serverError(91), wire), false, `an unlabelled ShutdownInProgress surfaces (wire ${wire})`);
    assert.equal(isResumableChangeStreamError(serverError(91, ['ResumableChangeStreamError']), wire), true);
    assert.equal(isResumableChangeStreamError(serverError(50, ['ResumableChangeStreamError']), wire), true, 'any labelled code');
    assert.equal(isResumableChangeStreamError(serverError(43), wire), true);
    assert.equal(isResumableChangeStreamError(serverError(43, ['NonResumableChangeStreamError']), wire), false);
    assert.equal(isResumableChangeStreamError(new MongoNetworkError('reset'), wire), true);
    assert.equal(isResumableChangeStreamError(new Error('x'), wire), false);
  }
});

test('servers before 4.4 (wire version < 9) label nothing: their resumable codes resume, other codes surface', () => {
  for (const code of [6, 7, 89, 91, 189, 262, 9001, 10107, 11600, 11602, 13435, 13436, 63, 150, 13388, 234, 133, 43]) {
    assert.equal(isResumableChangeStreamError(serverError(code), 8), true, `code ${code}`);
  }
  assert.equal(isResumableChangeStreamError(serverError(2), 8), false);
  assert.equal(isResumableChangeStreamError(serverError(280), 8), false);
  assert.equal(isResumableChangeStreamError(serverError(286), 8), false);
  assert.equal(isResumableChangeStreamError(new MongoNetworkError('reset'), 8), true);
});
