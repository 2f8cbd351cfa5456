import { test } from 'node:test';
import assert from 'node:assert/strict';

import { Registry } from 'prom-client';

import type { PutInput, PutResult } from '../../../src/deliver/destination.js';
import type { CaptureSample } from '../../../src/observe/metrics.js';
import {
  Metrics,
  captureLagSeconds,
  captureReadiness,
  instrumentDestination,
  mongoUnavailableSeconds,
  spoolSample,
  standbyReadiness,
} from '../../../src/observe/metrics.js';
import type { SealReport } from '../../../src/seal/report.js';

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses the text exposition format (enough of it for these metrics). */
function parse(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(m, `unparsable exposition line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1] ?? ''] = l[2] ?? '';
    out.push({ name: m[1] ?? '', labels, value: Number(m[3]) });
  }
  return out;
}

async function value(metrics: Metrics, name: string, labels: Record<string, string> = {}): Promise<number | undefined> {
  const want = { namespace: metrics.namespace, ...labels };
  const hits = parse(await metrics.metricsText()).filter(
    (s) => s.name === name && Object.entries(want).every(([k, v]) => s.labels[k] === v),
  );
  assert.ok(hits.length <= 1, `${name} ${JSON.stringify(want)} matches ${hits.length} series`);
  return hits[0]?.value;
}

const NOW = Date.parse('2024-01-15T10:00:00Z');

function stats(over: Partial<CaptureSample> = {}): CaptureSample {
  return {
    captured: 0,
    duplicatesSkipped: 0,
    repaired: 0,
    checkpoints: 0,
    lastEventAt: undefined,
    lastCheckpointAt: undefined,
    streamOpen: false,
    ...over,
  };
}

test('every series exists at 0 from the start, with the cronlog_ prefix and the namespace label', async () => {
  const metrics = new Metrics({ namespace: 'myapp.apilogs' });
  const text = await metrics.metricsText();
  for (const name of [
    'cronlog_events_captured_total',
    'cronlog_duplicates_skipped_total',
    'cronlog_documents_repaired_total',
    'cronlog_hours_sealed_total',
    'cronlog_hours_delivered_total',
    'cronlog_hours_verified_total',
    'cronlog_delivery_failures_total',
    'cronlog_upload_retries_total',
    'cronlog_reconcile_mismatches_total',
    'cronlog_reconcile_failures_total',
    'cronlog_spool_pending_bytes',
    'cronlog_spool_open_bytes',
    'cronlog_stream_open',
    'cronlog_seal_run_duration_seconds_count',
  ]) {
    assert.equal(await value(metrics, name), 0, name);
  }
  assert.match(text, /^# TYPE cronlog_capture_lag_seconds gauge$/m);
  assert.match(text, /^# TYPE cronlog_checkpoint_age_seconds gauge$/m);
  assert.match(text, /^# TYPE cronlog_delivery_duration_seconds histogram$/m);
  for (const s of parse(text)) assert.ok(s.name.startsWith('cronlog_'), s.name);
  assert.match(metrics.contentType, /^text\/plain; version=0\.0\.4/);
});

test('observeCapture: counters follow cumulative totals by delta; a total that went down counts as a reset', async () => {
  const metrics = new Metrics({ namespace: 'db.c' });
  metrics.observeCapture(stats({ captured: 10, duplicatesSkipped: 2, repaired: 5, checkpoints: 3 }), NOW);
  metrics.observeCapture(stats({ captured: 25, duplicatesSkipped: 2, repaired: 5, checkpoints: 4 }), NOW);
  assert.equal(await value(metrics, 'cronlog_events_captured_total'), 25);
  assert.equal(await value(metrics, 'cronlog_duplicates_skipped_total'), 2);
  assert.equal(await value(metrics, 'cronlog_documents_repaired_total'), 5);
  assert.equal(await value(metrics, 'cronlog_checkpoints_total'), 4);
  // A new tailer starts from 0 again: its 7 events are new, the counter never decreases.
  metrics.observeCapture(stats({ captured: 7 }), NOW);
  assert.equal(await value(metrics, 'cronlog_events_captured_total'), 32);
  metrics.observeCapture(stats({ captured: 9 }), NOW);
  assert.equal(await value(metrics, 'cronlog_events_captured_total'), 34);
});

test('observeCapture: lag from the cluster time, checkpoint age, spool bytes, stream open', async () => {
  const metrics = new Metrics({ namespace: 'db.c' });
  metrics.observeCapture(
    stats({
      streamOpen: true,
      clusterTime: new Date(NOW - 42_000),
      lastEventAt: new Date(NOW - 1000),
      lastCheckpointAt: new Date(NOW - 2500),
      pendingBytes: 1234,
      openSpoolBytes: 98_765,
    }),
    NOW,
  );
  assert.equal(await value(metrics, 'cronlog_capture_lag_seconds'), 42);
  assert.equal(await value(metrics, 'cronlog_checkpoint_age_seconds'), 2.5);
  assert.equal(await value(metrics, 'cronlog_spool_pending_bytes'), 1234);
  assert.equal(await value(metrics, 'cronlog_spool_open_bytes'), 98_765);
  assert.equal(await value(metrics, 'cronlog_stream_open'), 1);
  metrics.observeCapture(stats({ streamOpen: false }), NOW);
  assert.equal(await value(metrics, 'cronlog_stream_open'), 0);
});

test('captureLagSeconds: cluster time first, else the later of last event and last checkpoint', () => {
  assert.equal(captureLagSeconds(stats(), NOW), undefined);
  assert.equal(captureLagSeconds(stats({ clusterTime: new Date(NOW - 5000), lastEventAt: new Date(NOW) }), NOW), 5);
  assert.equal(captureLagSeconds(stats({ lastEventAt: new Date(NOW - 9000), lastCheckpointAt: new Date(NOW - 3000) }), NOW), 3);
  assert.equal(captureLagSeconds(stats({ lastEventAt: new Date(NOW - 9000) }), NOW), 9);
  // A cluster time ahead of the local clock (skew) is no negative lag.
  assert.equal(captureLagSeconds(stats({ clusterTime: new Date(NOW + 3000) }), NOW), 0);
});

test('captureReadiness: ready only with the stream open and the lag under the threshold', () => {
  const open = stats({ streamOpen: true, clusterTime: new Date(NOW - 10_000) });
  assert.deepEqual(captureReadiness(open, { maxLagSeconds: 60, now: NOW }), {
    ready: true,
    streamOpen: true,
    lagSeconds: 10,
    maxLagSeconds: 60,
  });
  const slow = captureReadiness({ ...open, clusterTime: new Date(NOW - 120_000) }, { maxLagSeconds: 60, now: NOW });
  assert.equal(slow.ready, false);
  assert.match(String(slow.reason), /capture lag 120\.0s exceeds 60s/);
  const closed = captureReadiness({ ...open, streamOpen: false }, { maxLagSeconds: 60, now: NOW });
  assert.equal(closed.ready, false);
  assert.match(String(closed.reason), /not open/);
  assert.equal(captureReadiness(stats({ streamOpen: true }), { maxLagSeconds: 60, now: NOW }).ready, false);
});

test('captureReadiness: not ready while MongoDB is unreachable, naming the server, since when and the cause', () => {
  const outage = { server: 'db1:27017,db2:27017', since: new Date(NOW - 42_500), error: 'MongoServerSelectionError: connect ECONNREFUSED 10.0.0.1:27017' };
  const r = captureReadiness(stats({ streamOpen: true, clusterTime: new Date(NOW - 1000), mongoOutage: outage }), { maxLagSeconds: 60, now: NOW });
  assert.equal(r.ready, false);
  assert.equal(
    r.reason,
    'MongoDB at db1:27017,db2:27017 is unreachable since 2024-01-15T09:59:17.500Z (42.5s): MongoServerSelectionError: connect ECONNREFUSED 10.0.0.1:27017; ' +
      'capture waits and resumes from its checkpoint when it is back',
  );
  assert.equal(r.mongoUnavailableSeconds, 42.5);
  assert.equal(mongoUnavailableSeconds(stats(), NOW), 0);
});

test('cronlog_role: both 0 until a role is set, then 1 for the role held and 0 for the other; close() removes them', async () => {
  const registry = new Registry();
  const metrics = new Metrics({ namespace: 'db.c', registry });
  assert.equal(await value(metrics, 'cronlog_role', { role: 'active' }), 0);
  assert.equal(await value(metrics, 'cronlog_role', { role: 'standby' }), 0);
  metrics.setRole('standby');
  assert.equal(await value(metrics, 'cronlog_role', { role: 'active' }), 0);
  assert.equal(await value(metrics, 'cronlog_role', { role: 'standby' }), 1);
  metrics.setRole('active');
  assert.equal(await value(metrics, 'cronlog_role', { role: 'active' }), 1);
  assert.equal(await value(metrics, 'cronlog_role', { role: 'standby' }), 0);
  assert.match(await metrics.metricsText(), /^# TYPE cronlog_role gauge$/m);
  metrics.close();
  assert.doesNotMatch(await registry.metrics(), /^cronlog_role\{/m);
});

test('standbyReadiness: ready, naming the holder it waits for; not ready while MongoDB is unreachable', () => {
  const holder = '"run" on host-1 (pid 42, epoch 7) since 2024-01-15T09:00:00.000Z';
  assert.deepEqual(standbyReadiness(stats(), holder, { maxLagSeconds: 60, now: NOW }), {
    ready: true,
    role: 'standby',
    standby: `waiting for the lease held by ${holder}`,
  });
  const outage = { server: 'db1:27017', since: new Date(NOW - 5000), error: 'connect ECONNREFUSED' };
  const down = standbyReadiness(stats({ mongoOutage: outage }), holder, { maxLagSeconds: 60, now: NOW });
  assert.equal(down.ready, false);
  assert.equal(down.role, 'standby');
  assert.match(String(down.reason), /MongoDB at db1:27017 is unreachable/);
});

test('observeCapture: cronlog_mongo_up, cronlog_mongo_unavailable_seconds and cronlog_mongo_outages_total', async () => {
  const metrics = new Metrics({ namespace: 'db.c' });
  assert.equal(await value(metrics, 'cronlog_mongo_up'), 1, 'reachable until told otherwise');
  assert.equal(await value(metrics, 'cronlog_mongo_unavailable_seconds'), 0);
  assert.equal(await value(metrics, 'cronlog_mongo_outages_total'), 0);
  const outage = { server: 'db1:27017', since: new Date(NOW - 30_000), error: 'MongoNetworkError: connection reset' };
  metrics.observeCapture(stats({ mongoOutage: outage, mongoOutages: 1 }), NOW);
  assert.equal(await value(metrics, 'cronlog_mongo_up'), 0);
  assert.equal(await value(metrics, 'cronlog_mongo_unavailable_seconds'), 30);
  assert.equal(await value(metrics, 'cronlog_mongo_outages_total'), 1);
  metrics.observeCapture(stats({ mongoOutages: 1 }), NOW);
  assert.equal(await value(metrics, 'cronlog_mongo_up'), 1);
  assert.equal(await value(metrics, 'cronlog_mongo_unavailable_seconds'), 0);
  metrics.observeCapture(stats({ mongoOutages: 3 }), NOW);
  assert.equal(await value(metrics, 'cronlog_mongo_outages_total'), 3, 'outages between two scrapes are counted');
});

test('observeCapture: cronlog_spool_gzip_burst_members_total follows the members compressed at the burst level', async () => {
  const metrics = new Metrics({ namespace: 'db.c' });
  assert.equal(await value(metrics, 'cronlog_spool_gzip_burst_members_total'), 0, 'the series exists from the start');
  metrics.observeCapture(stats({ gzipBurstMembers: 4 }), NOW);
  metrics.observeCapture(stats({ gzipBurstMembers: 9 }), NOW);
  assert.equal(await value(metrics, 'cronlog_spool_gzip_burst_members_total'), 9);
  metrics.observeCapture(stats(), NOW);
  assert.equal(await value(metrics, 'cronlog_spool_gzip_burst_members_total'), 9, 'a sample without the figure leaves it');
});

test('spoolSample sums the durable offsets of the open files', () => {
  const spool = { pendingBytes: 77, openFiles: () => [{ offset: 100 }, { offset: 23 }] };
  assert.deepEqual(spoolSample(spool), { pendingBytes: 77, openSpoolBytes: 123 });
});

test('observeSeal: sealed/delivered/verified/failures/mismatches and the run duration', async () => {
  const metrics = new Metrics({ namespace: 'db.c' });
  const report: SealReport = {
    dueBefore: NOW,
    hours: [
      { hour: '2024-01-15T07', start: 0, count: 100, key: 'k1', status: 'delivered' },
      { hour: '2024-01-15T08', start: 0, count: 0, status: 'empty' },
      { hour: '2024-01-15T09', start: 0, count: 0, status: 'failed', error: 'boom' },
    ],
    reconciled: [
      { hour: '2024-01-15T06', mongo: 5, archived: 5, status: 'ok' },
      { hour: '2024-01-15T05', mongo: 3, archived: 4, status: 'expired-at-source' },
      { hour: '2024-01-15T04', mongo: 9, archived: 8, status: 'mismatch' },
    ],
    failed: 1,
  };
  metrics.observeSeal(report, 2500, NOW);
  assert.equal(await value(metrics, 'cronlog_hours_sealed_total'), 2);
  assert.equal(await value(metrics, 'cronlog_hours_delivered_total'), 1);
  assert.equal(await value(metrics, 'cronlog_documents_archived_total'), 100);
  assert.equal(await value(metrics, 'cronlog_delivery_failures_total'), 1);
  assert.equal(await value(metrics, 'cronlog_hours_verified_total'), 2);
  assert.equal(await value(metrics, 'cronlog_reconcile_mismatches_total'), 1);
  assert.equal(await value(metrics, 'cronlog_reconcile_mismatched_hours'), 1);
  assert.equal(await value(metrics, 'cronlog_seal_run_duration_seconds_count'), 1);
  assert.equal(await value(metrics, 'cronlog_seal_run_duration_seconds_sum'), 2.5);
  assert.equal(await value(metrics, 'cronlog_seal_run_duration_seconds_bucket', { le: '1' }), 0);
  assert.equal(await value(metrics, 'cronlog_seal_run_duration_seconds_bucket', { le: '5' }), 1);
  assert.equal(await value(metrics, 'cronlog_last_seal_run_timestamp_seconds'), NOW / 1000);

  metrics.observeSeal({ hours: [], reconciled: [], failed: 0 }, 100, NOW);
  assert.equal(await value(metrics, 'cronlog_reconcile_mismatched_hours'), 0, 'the gauge reflects the last run');
  assert.equal(await value(metrics, 'cronlog_reconcile_mismatches_total'), 1);
  metrics.observeSealError(50);
  assert.equal(await value(metrics, 'cronlog_seal_run_failures_total'), 1);
  assert.equal(await value(metrics, 'cronlog_seal_run_duration_seconds_count'), 3);
});

test('observeSeal: a run whose reconcile failed counts its delivered hours and one reconcile failure, not a seal run failure', async () => {
  const metrics = new Metrics({ namespace: 'db.c' });
  metrics.observeSeal({ hours: [], reconciled: [{ status: 'mismatch' }], failed: 0 }, 100, NOW);
  metrics.observeSeal(
    { hours: [{ status: 'delivered', count: 7 }], reconciled: [], failed: 0, reconcileError: 'MongoServerError InvalidPipelineOperator (code 168): x' },
    100,
    NOW,
  );
  assert.equal(await value(metrics, 'cronlog_hours_delivered_total'), 1);
  assert.equal(await value(metrics, 'cronlog_documents_archived_total'), 7);
  assert.equal(await value(metrics, 'cronlog_delivery_failures_total'), 0);
  assert.equal(await value(metrics, 'cronlog_seal_run_failures_total'), 0);
  assert.equal(await value(metrics, 'cronlog_reconcile_failures_total'), 1);
  assert.equal(await value(metrics, 'cronlog_reconcile_mismatched_hours'), 1, 'the last known mismatches stay until a reconcile runs');
});

test('instrumentDestination: times puts, sums attempts - 1 as retries, passes other members through', async () => {
  const metrics = new Metrics({ namespace: 'db.c' });
  let next: PutResult | Error = { key: 'a', size: 1, sha256: 'x', attempts: 3 };
  const inner = {
    kind: 's3' as const,
    calls: 0,
    describe() {
      return `s3://bucket (${this.calls} puts)`;
    },
    async put(input: PutInput): Promise<PutResult> {
      this.calls++;
      await new Promise((r) => setTimeout(r, 5));
      if (next instanceof Error) throw next;
      return { ...next, key: input.key };
    },
  };
  const dest = instrumentDestination(inner, metrics);
  const put = (source: PutInput['source']) => dest.put({ key: 'k', source, size: 1, sha256: 'x' });

  assert.equal((await put({ path: '/tmp/x' })).key, 'k');
  next = { key: 'm', size: 1, sha256: 'x', attempts: 1 };
  await put({ body: Buffer.from('{}') });
  next = Object.assign(new Error('S3 down'), { attempts: 4 });
  await assert.rejects(put({ path: '/tmp/y' }), /S3 down/);
  next = new Error('no attempts property');
  await assert.rejects(put({ path: '/tmp/z' }), /no attempts/);

  assert.equal(dest.kind, 's3');
  assert.equal(dest.describe(), 's3://bucket (4 puts)', 'methods stay bound to the destination');
  assert.equal(await value(metrics, 'cronlog_upload_retries_total'), 2 + 0 + 3 + 0);
  assert.equal(await value(metrics, 'cronlog_delivery_duration_seconds_count', { outcome: 'ok', object: 'data' }), 1);
  assert.equal(await value(metrics, 'cronlog_delivery_duration_seconds_count', { outcome: 'ok', object: 'manifest' }), 1);
  assert.equal(await value(metrics, 'cronlog_delivery_duration_seconds_count', { outcome: 'error', object: 'data' }), 2);
  const sum = await value(metrics, 'cronlog_delivery_duration_seconds_sum', { outcome: 'ok', object: 'data' });
  assert.ok(sum !== undefined && sum >= 0.004 && sum < 5, `duration ${sum}`);
});

test('a capture sampler is read at every scrape; a throwing sampler does not break the scrape', async () => {
  const metrics = new Metrics({ namespace: 'db.c' });
  let captured = 0;
  metrics.setCaptureSampler(() => stats({ captured, streamOpen: true }));
  captured = 5;
  assert.equal(await value(metrics, 'cronlog_events_captured_total'), 5);
  captured = 8;
  assert.equal(await value(metrics, 'cronlog_events_captured_total'), 8);
  metrics.setCaptureSampler(() => {
    throw new Error('tailer gone');
  });
  assert.equal(await value(metrics, 'cronlog_events_captured_total'), 8);
});

test('separate Metrics do not collide; archivers sharing a registry differ by namespace', async () => {
  const a = new Metrics({ namespace: 'db.a' });
  const b = new Metrics({ namespace: 'db.b' });
  assert.notEqual(a.registry, b.registry);
  a.observeCapture(stats({ captured: 3 }), NOW);
  assert.equal(await value(b, 'cronlog_events_captured_total'), 0);

  const registry = new Registry();
  const x = new Metrics({ namespace: 'db.x', registry });
  const y = new Metrics({ namespace: 'db.y', registry });
  x.setCaptureSampler(() => stats({ captured: 11 }));
  y.setCaptureSampler(() => stats({ captured: 22 }));
  // One scrape samples both archivers.
  const samples = parse(await x.metricsText()).filter((s) => s.name === 'cronlog_events_captured_total');
  assert.deepEqual(
    samples.map((s) => [s.labels.namespace, s.value]).sort(),
    [
      ['db.x', 11],
      ['db.y', 22],
    ],
  );
  assert.throws(() => new Metrics({ namespace: 'db.y', registry }), /already registered/);
  y.close();
  y.close();
  new Metrics({ namespace: 'db.y', registry }).close();
  const after = parse(await x.metricsText()).filter((s) => s.name === 'cronlog_events_captured_total');
  assert.deepEqual(after.map((s) => s.labels.namespace), ['db.x']);
});

test('defaultMetrics adds the process metrics once per registry', async () => {
  const registry = new Registry();
  const a = new Metrics({ namespace: 'db.a', registry, defaultMetrics: true });
  new Metrics({ namespace: 'db.b', registry, defaultMetrics: true });
  const text = await a.metricsText();
  assert.match(text, /^process_cpu_user_seconds_total /m);
  assert.equal(text.match(/^# TYPE process_cpu_user_seconds_total /gm)?.length, 1);
});
