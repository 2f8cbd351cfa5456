/**
 * The dashboard's cell states (src/ops/dashboard/cell-states.ts) and the live ring buffer
 * (src/observe/sample-ring.ts): a state from the ledger record, a verdict the table does not
 * know still shows with a label, the ring keeps the last hour in order; the DASHBOARD_TOKEN option.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cellState, describe, legend } from '../../../src/ops/dashboard/cell-states.js';
import { SampleRing } from '../../../src/observe/sample-ring.js';
import { parseConfig } from '../../../src/config/index.js';
import { safeConfigView } from '../../../src/config/view.js';
import { ConfigError } from '../../../src/errors.js';

const at = new Date('2024-01-15T10:00:00Z');
const reconcile = (status: string) => ({ mongo: 3, archived: 3, status, at });

test('a cell takes the ledger state, else the reconcile verdict, else open or not-archived', () => {
  assert.equal(cellState({ state: 'sealed', lastError: 'S3 503' }, false), 'sealed');
  assert.equal(cellState({ state: 'delivered' }, false), 'delivered');
  assert.equal(cellState({ state: 'verified', reconcile: reconcile('ok') }, false), 'ok');
  assert.equal(cellState({ state: 'verified', reconcile: reconcile('deleted-at-source') }, false), 'deleted-at-source');
  assert.equal(cellState({ state: 'mismatch', reconcile: reconcile('missing') }, false), 'missing');
  assert.equal(cellState({ reconcile: reconcile('not-archived') }, false), 'not-archived');
  assert.equal(cellState({ reconcile: reconcile('not-archived') }, true), 'open');
  assert.equal(cellState(undefined, true), 'open');
  assert.equal(cellState(undefined, false), 'not-archived');
});

test('every state has a label and a glyph; a verdict added later shows up in the legend with its name', () => {
  for (const s of legend([])) {
    assert.ok(s.label.length > 0 && s.glyph.trim().length > 0, s.state);
  }
  const states = legend([]).map((s) => s.state);
  for (const s of ['ok', 'mismatch', 'missing', 'not-archived', 'sealed', 'open', 'purged']) assert.ok(states.includes(s), s);
  const added = describe('quarantined-at-source');
  assert.equal(added.label, 'quarantined at source');
  assert.equal(added.tone, 'fail');
  assert.ok(legend(['ok', 'quarantined-at-source']).some((s) => s.state === 'quarantined-at-source'));
  assert.equal(new Set(legend([]).map((s) => s.glyph)).size, legend([]).length, 'no two states share a glyph');
});

test('the ring buffer keeps the last samples in order with events per second between them', () => {
  const ring = new SampleRing({ intervalMs: 1000, capacity: 3 });
  const sample = (captured: number, t: number) => ({
    captured,
    duplicatesSkipped: 0,
    repaired: 0,
    checkpoints: 0,
    lastEventAt: new Date(t - 2000),
    lastCheckpointAt: undefined,
    streamOpen: true,
    openSpoolBytes: 100 * captured,
    pendingBytes: 5,
  });
  const t0 = 1_700_000_000_000;
  ring.add(sample(0, t0), t0);
  ring.add(sample(10, t0 + 1000), t0 + 1000);
  ring.add(sample(30, t0 + 3000), t0 + 3000);
  ring.add(sample(5, t0 + 4000), t0 + 4000); // a new tailer: its count starts over
  const list = ring.list();
  assert.deepEqual(list.map((s) => s.at), [t0 + 1000, t0 + 3000, t0 + 4000]);
  assert.deepEqual(list.map((s) => s.eventsPerSecond), [10, 10, 5]);
  assert.deepEqual(list.map((s) => s.spoolBytes), [1005, 3005, 505]);
  assert.equal(list[0]!.lagSeconds, 2);
});

test('DASHBOARD_TOKEN: too short is refused naming it; a valid one is masked in the config view', () => {
  const base = { DB_URI: 'mongodb://localhost:27017/app', UPLOAD_PROVIDER: 'file' };
  assert.throws(() => parseConfig({}, { ...base, DASHBOARD_TOKEN: 'short' }), (err: unknown) => err instanceof ConfigError && /DASHBOARD_TOKEN \(dashboardToken\): expected a token of at least 16 characters/.test(err.message));
  const token = 'a-dashboard-token-of-some-length';
  const config = parseConfig({}, { ...base, DASHBOARD_TOKEN: token });
  assert.equal(config.dashboardToken, token);
  assert.ok(!JSON.stringify(safeConfigView(config)).includes(token));
});
