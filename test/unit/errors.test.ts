import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, CronLogError, ExitCode, exitCodeOf } from '../../src/errors.js';

test('errors map to documented exit codes', () => {
  assert.equal(exitCodeOf(new ConfigError(['dbUri: required'])), ExitCode.badInput);
  assert.equal(exitCodeOf(new CronLogError('SPOOL_IO', 'disk full')), ExitCode.spool);
  assert.equal(exitCodeOf(new Error('boom')), ExitCode.runtime);
  const e = new ConfigError(['a: bad', 'b: missing']);
  assert.match(e.message, /a: bad\n {2}- b: missing/);
  assert.equal(e.code, 'CONFIG_INVALID');
});
