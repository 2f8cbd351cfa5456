/** doctor's server version and sessions checks, from buildInfo and hello replies as servers send them. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { serverVersionChecks, tooOldHint } from '../../../src/ops/server-version.js';

test('5.0 and later: the version and wire version; 4.4: supported, the portable counts said; older: unsupported with a hint', () => {
  const [v8, s8] = serverVersionChecks({ version: '8.0.4' }, { maxWireVersion: 25, logicalSessionTimeoutMinutes: 30 });
  assert.deepEqual(v8, { name: 'server version', ok: true, message: 'MongoDB 8.0.4 (wire version 25)' });
  assert.deepEqual(s8, { name: 'sessions', ok: true, message: 'logical sessions supported (timeout 30 min)' });
  const [v44] = serverVersionChecks({ version: '4.4.29' }, { maxWireVersion: 9, logicalSessionTimeoutMinutes: 30 });
  assert.equal(v44?.ok, true);
  assert.match(v44?.message ?? '', /^MongoDB 4\.4\.29 \(wire version 9\): supported; it lacks 5\.0 aggregation operators such as \$dateTrunc/);
  for (const [version, wire] of [['4.2.25', 8], ['4.0.28', 7], ['3.6.23', 6]] as const) {
    const [v] = serverVersionChecks({ version }, { maxWireVersion: wire });
    assert.equal(v?.ok, false, version);
    assert.match(v?.hint ?? '', /upgrade the server to MongoDB 4\.4 or later/);
  }
});

test('a server without logical sessions is named as such', () => {
  const [, s] = serverVersionChecks({ version: '7.0.2' }, { maxWireVersion: 21 });
  assert.deepEqual(s, { name: 'sessions', ok: true, message: 'no logical sessions: hello has no logicalSessionTimeoutMinutes' });
});

test('the driver\'s refusal of an old server gets the upgrade hint; other errors none', () => {
  assert.match(
    tooOldHint(new Error('Server at db:27017 reports maximum wire version 8, but this version of the Node.js Driver requires at least 9 (MongoDB 4.4)')) ?? '',
    /older than MongoDB 4\.4/,
  );
  assert.equal(tooOldHint(new Error('connect ECONNREFUSED 127.0.0.1:27017')), undefined);
});
