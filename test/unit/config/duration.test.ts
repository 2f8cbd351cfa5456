import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkDuration, parseDuration } from '../../../src/config/duration.js';
import { parseConfig } from '../../../src/config/index.js';

test('durations: a whole number and s, m, h, d or w', () => {
  assert.equal(parseDuration('30d'), 30 * 86_400_000);
  assert.equal(parseDuration('12h'), 12 * 3_600_000);
  assert.equal(parseDuration(' 90m '), 90 * 60_000);
  assert.equal(parseDuration('2W'), 2 * 604_800_000);
  assert.equal(parseDuration('45s'), 45_000);
  for (const bad of ['', '30', 'd', '1.5d', '-1d', '0d', '30 days', '1y']) assert.equal(parseDuration(bad), undefined, bad);
  assert.match(checkDuration('30 days') ?? '', /expected a duration such as "30d".*got "30 days"/);
});

test('PURGE_AFTER is validated, off by default, and refused with CAPTURE_OPERATIONS containing delete', () => {
  const base = { DB_URI: 'mongodb://localhost:27017/app', UPLOAD_PROVIDER: 'file' };
  assert.equal(parseConfig({}, base).purge.after, undefined);
  assert.deepEqual(parseConfig({}, { ...base, PURGE_AFTER: '30d' }).purge, { after: '30d', batchSize: 1000, maxDocumentsPerSecond: 5000 });
  assert.throws(() => parseConfig({}, { ...base, PURGE_AFTER: 'a month' }), /PURGE_AFTER \(purge\.after\): expected a duration/);
  assert.throws(() => parseConfig({}, { ...base, PURGE_AFTER: '30d', CAPTURE_OPERATIONS: 'insert,delete' }), /purge\.after.*captureOperations contains "delete"/s);
});
