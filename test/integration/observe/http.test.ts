import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';

import type { HttpServerHandle } from '../../../src/observe/http-server.js';
import { startHttpServer } from '../../../src/observe/http-server.js';
import type { CaptureSample } from '../../../src/observe/metrics.js';
import { Metrics, captureReadiness } from '../../../src/observe/metrics.js';

let server: HttpServerHandle;
let metrics: Metrics;
let sample: CaptureSample;

before(async () => {
  metrics = new Metrics({ namespace: 'myapp.apilogs' });
  sample = {
    captured: 42,
    duplicatesSkipped: 1,
    repaired: 7,
    checkpoints: 3,
    lastEventAt: new Date(),
    lastCheckpointAt: new Date(),
    streamOpen: true,
    clusterTime: new Date(Date.now() - 2000),
    pendingBytes: 512,
    openSpoolBytes: 4096,
  };
  metrics.setCaptureSampler(() => sample);
  server = await startHttpServer({
    port: 0,
    host: '127.0.0.1',
    metrics,
    ready: () => captureReadiness(sample, { maxLagSeconds: 60 }),
  });
});

after(async () => {
  await server.close();
});

test('listens on a free port and reports its URL', () => {
  assert.ok(server.port > 0);
  assert.equal(server.url, `http://127.0.0.1:${server.port}`);
});

test('GET /metrics: Prometheus text with the observed values', async () => {
  metrics.observeSeal(
    { hours: [{ count: 10, status: 'delivered' }], reconciled: [{ status: 'ok' }], failed: 0 },
    1500,
  );
  const res = await fetch(`${server.url}/metrics`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  const text = await res.text();
  const ns = '{namespace="myapp.apilogs"}';
  assert.match(text, new RegExp(`^cronlog_events_captured_total${ns} 42$`, 'm'));
  assert.match(text, new RegExp(`^cronlog_duplicates_skipped_total${ns} 1$`, 'm'));
  assert.match(text, new RegExp(`^cronlog_documents_repaired_total${ns} 7$`, 'm'));
  assert.match(text, new RegExp(`^cronlog_spool_pending_bytes${ns} 512$`, 'm'));
  assert.match(text, new RegExp(`^cronlog_spool_open_bytes${ns} 4096$`, 'm'));
  assert.match(text, new RegExp(`^cronlog_stream_open${ns} 1$`, 'm'));
  assert.match(text, new RegExp(`^cronlog_hours_delivered_total${ns} 1$`, 'm'));
  assert.match(text, new RegExp(`^cronlog_hours_verified_total${ns} 1$`, 'm'));
  assert.match(text, new RegExp(`^cronlog_seal_run_duration_seconds_sum${ns} 1\\.5$`, 'm'));
  const lag = /^cronlog_capture_lag_seconds\{namespace="myapp.apilogs"\} (\S+)$/m.exec(text);
  assert.ok(lag, 'capture lag exported');
  assert.ok(Number(lag[1]) >= 2 && Number(lag[1]) < 30, `lag ${lag[1]}`);

  // The next scrape samples the tailer again.
  sample = { ...sample, captured: 50 };
  const again = await (await fetch(`${server.url}/metrics`)).text();
  assert.match(again, new RegExp(`^cronlog_events_captured_total${ns} 50$`, 'm'));
});

test('GET /healthz: 200 {"status":"ok"}', async () => {
  const res = await fetch(`${server.url}/healthz`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
  assert.deepEqual(await res.json(), { status: 'ok' });
});

test('GET /readyz: 200 while ready, 503 with the reason when the stream closes or lags', async () => {
  const ok = await fetch(`${server.url}/readyz`);
  assert.equal(ok.status, 200);
  const okBody = (await ok.json()) as Record<string, unknown>;
  assert.equal(okBody.status, 'ready');
  assert.equal(okBody.streamOpen, true);

  sample = { ...sample, streamOpen: false };
  const closed = await fetch(`${server.url}/readyz`);
  assert.equal(closed.status, 503);
  const closedBody = (await closed.json()) as Record<string, unknown>;
  assert.equal(closedBody.status, 'not ready');
  assert.match(String(closedBody.reason), /change stream is not open/);

  sample = { ...sample, streamOpen: true, clusterTime: new Date(Date.now() - 600_000) };
  const lagging = await fetch(`${server.url}/readyz`);
  assert.equal(lagging.status, 503);
  assert.match(String(((await lagging.json()) as Record<string, unknown>).reason), /capture lag \d+\.\ds exceeds 60s/);

  sample = { ...sample, clusterTime: new Date() };
  assert.equal((await fetch(`${server.url}/readyz`)).status, 200);
});

test('a readiness callback that throws means 503, with its message redacted', async () => {
  const other = await startHttpServer({
    port: 0,
    host: '127.0.0.1',
    metrics,
    ready: () => Promise.reject(new Error('ping failed for mongodb://archiver:hunter22@db1:27017')),
  });
  try {
    const res = await fetch(`${other.url}/readyz`);
    assert.equal(res.status, 503);
    const body = await res.text();
    assert.match(body, /readiness check failed/);
    assert.doesNotMatch(body, /hunter22/);
  } finally {
    await other.close();
  }
});

test('unknown paths are 404, other methods on known paths 405, query strings ignored', async () => {
  const missing = await fetch(`${server.url}/nope`);
  assert.equal(missing.status, 404);
  await missing.body?.cancel();
  const post = await fetch(`${server.url}/metrics`, { method: 'POST', body: 'x' });
  assert.equal(post.status, 405);
  assert.equal(post.headers.get('allow'), 'GET, HEAD');
  await post.body?.cancel();
  const withQuery = await fetch(`${server.url}/healthz?verbose=1`);
  assert.equal(withQuery.status, 200);
  await withQuery.body?.cancel();
});

test('close() is idempotent and frees the port; a busy port is a clear error', async () => {
  const s = await startHttpServer({ port: 0, host: '127.0.0.1', metrics, ready: () => ({ ready: true }) });
  // Keep-alive connection open: close() must still resolve.
  await (await fetch(`${s.url}/healthz`)).text();
  const first = s.close();
  assert.equal(s.close(), first);
  await first;
  await assert.rejects(fetch(`${s.url}/healthz`));

  const blocker = createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  const port = (blocker.address() as { port: number }).port;
  try {
    await assert.rejects(
      startHttpServer({ port, host: '127.0.0.1', metrics, ready: () => ({ ready: true }) }),
      (err: Error & { code?: string }) => err.code === 'USAGE' && /port is in use/.test(err.message),
    );
  } finally {
    await new Promise((resolve) => blocker.close(resolve));
  }
});
