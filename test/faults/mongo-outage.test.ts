/**
 * Issue 15, item 2: MongoDB unreachable for longer than the driver's server selection timeout.
 *
 * A real `run` child process reaches MongoDB through a TCP proxy (test/helpers/tcp-proxy.ts) with
 * serverSelectionTimeoutMS=2000 in its URI. The proxy cuts every connection and refuses new ones
 * for 8 s, while seal runs come every 2 s and documents keep being inserted (straight into
 * MongoDB). The process must stay alive and say why it is not ready (`/readyz` 503, the
 * `cronlog_mongo_up` metric, a webhook once the outage passes its threshold, `status`), then
 * resume from its checkpoint when MongoDB is back: every document delivered exactly once, no
 * exit at all.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ConnectionString } from 'mongodb-connection-string-url';
import { archiveEnv, waitFor } from '../helpers/archive-env.js';
import type { ArchiveEnv } from '../helpers/archive-env.js';
import { runCli, startCli } from '../helpers/archiver-process.js';
import { startTestMongo } from '../helpers/mongo.js';
import type { TestMongo } from '../helpers/mongo.js';
import { readArchiveDir, readSpool, spoolNow } from '../helpers/spool-reader.js';
import { startTcpProxy } from '../helpers/tcp-proxy.js';
import type { TcpProxy } from '../helpers/tcp-proxy.js';

const OUTAGE_MS = 8000;
const BATCH = 40;

let mongo: TestMongo;
let env: ArchiveEnv;
let proxy: TcpProxy;
let hookServer: Server;
const hooks: Array<{ event?: { kind?: string; error?: string } }> = [];

before(async () => {
  mongo = await startTestMongo();
  env = await archiveEnv(mongo);
  const [first] = new ConnectionString(mongo.uri).hosts;
  const [host = '127.0.0.1', port = '27017'] = (first ?? '').split(/:(?=\d+$)/);
  proxy = await startTcpProxy({ host, port: Number(port) });
  hookServer = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      hooks.push(JSON.parse(body) as (typeof hooks)[number]);
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => hookServer.listen(0, '127.0.0.1', resolve));
});
after(async () => {
  await proxy.close();
  await new Promise<void>((resolve) => hookServer.close(() => resolve()));
  await env.close();
  await mongo.close();
});

async function get(url: string): Promise<{ status: number; text: string }> {
  const res = await fetch(url);
  return { status: res.status, text: await res.text() };
}

function metric(text: string, name: string): number | undefined {
  const m = new RegExp(`^${name}\\{[^}]*\\} (\\S+)$`, 'm').exec(text);
  return m?.[1] === undefined ? undefined : Number(m[1]);
}

test('MongoDB unreachable for 8 s: run stays up, reports it, resumes from its checkpoint without loss or duplicates', { timeout: 120_000 }, async () => {
  const proxied = `mongodb://${proxy.address}/${env.db}?directConnection=true&serverSelectionTimeoutMS=2000`;
  const status = async (): Promise<{ code: number | null; report: { mongo: { reachable: boolean; error: string | null }; recentFailures: Array<{ op: string; error: string }> } }> => {
    const r = await runCli(['status', '--no-env-file', '--json'], env.env({ DB_URI: proxied }));
    assert.doesNotMatch(r.stderr, /unexpected error/);
    return { code: r.code, report: JSON.parse(r.stdout) as Awaited<ReturnType<typeof status>>['report'] };
  };
  const run = startCli(
    ['run', '--no-env-file'],
    env.env({
      DB_URI: proxied,
      METRICS_PORT: '0',
      SEAL_SCHEDULE: '*/2 * * * * *',
      MONGO_RETRY_MAX_DELAY_MS: '1000',
      MONGO_NOTIFY_AFTER_SECONDS: '3',
      WEBHOOK_URL: `http://127.0.0.1:${(hookServer.address() as AddressInfo).port}/hook`,
    }),
  );
  let exited = false;
  void run.exited.then(() => (exited = true));
  try {
    await run.waitFor('archiver started', 60_000);
    const base = /"url":"(http:\/\/[^"]+)"/.exec(run.output().stderr)?.[1];
    assert.ok(base, 'the metrics URL is logged');
    const coll = env.client.db(env.db).collection('apilogs');
    // Documents of an hour that is already due, so the seal runs (every 2 s) deliver them.
    const at = new Date(Date.now() - 2 * 3_600_000);
    const batch = (n: number) => Array.from({ length: BATCH }, (_, i) => ({ createdAt: at, batch: n, i }));
    const delivered = async (): Promise<string[]> => (await readArchiveDir(env.archiveDirectory)).flatMap((o) => o.lines.map((l) => String((JSON.parse(l) as { _id: unknown })._id)));

    await coll.insertMany(batch(1));
    await waitFor(async () => (await delivered()).length >= BATCH, 30_000, 'the first batch delivered');
    assert.equal((await get(`${base}/readyz`)).status, 200);

    await proxy.cut();
    const cutAt = Date.now();
    await coll.insertMany(batch(2));
    // `status` cannot reach MongoDB either: it says so, naming the server, with exit code 3.
    const during = status();
    // Past the server selection timeout (2 s) MongoDB counts as down: not ready, metric 0.
    await waitFor(async () => (await get(`${base}/readyz`)).status === 503, OUTAGE_MS, '/readyz 503');
    const readyz = await get(`${base}/readyz`);
    assert.equal(readyz.status, 503);
    const reason = (JSON.parse(readyz.text) as { reason: string }).reason;
    assert.match(reason, /MongoDB/, reason);
    assert.match(reason, new RegExp(proxy.address.replace(/\./g, '\\.')), `the reason names the server: ${reason}`);
    await waitFor(async () => metric((await get(`${base}/metrics`)).text, 'cronlog_mongo_up') === 0, OUTAGE_MS, 'cronlog_mongo_up 0');
    const offline = await during;
    assert.equal(offline.code, 3);
    assert.equal(offline.report.mongo.reachable, false);
    assert.match(offline.report.mongo.error ?? '', new RegExp(`${proxy.address.replace(/\./g, '\\.')}.*ECONNREFUSED`));
    // The outage lasts past its notification threshold (3 s) and several seal runs.
    await waitFor(() => hooks.some((h) => h.event?.kind === 'mongo-unavailable'), OUTAGE_MS, 'the mongo-unavailable webhook');
    while (Date.now() - cutAt < OUTAGE_MS) {
      assert.equal(exited, false, `run exited during the outage:\n${run.output().stderr.slice(-3000)}`);
      await new Promise((r) => setTimeout(r, 250));
    }
    const down = await get(`${base}/metrics`);
    assert.equal(metric(down.text, 'cronlog_mongo_up'), 0);
    assert.ok((metric(down.text, 'cronlog_mongo_unavailable_seconds') ?? 0) >= 1, 'the outage duration is exported');

    await proxy.restore();
    await coll.insertMany(batch(3));
    await waitFor(async () => (await delivered()).length >= 3 * BATCH, 60_000, 'all three batches delivered');
    await waitFor(async () => (await get(`${base}/readyz`)).status === 200, 20_000, '/readyz 200 again');
    const up = await get(`${base}/metrics`);
    assert.equal(metric(up.text, 'cronlog_mongo_up'), 1);
    assert.equal(metric(up.text, 'cronlog_mongo_unavailable_seconds'), 0);
    assert.equal(metric(up.text, 'cronlog_mongo_outages_total'), 1);
    await waitFor(() => hooks.some((h) => h.event?.kind === 'mongo-available'), 10_000, 'the mongo-available webhook');
    // Once MongoDB is back, the outage is on record: `status` lists it among recent failures.
    await waitFor(async () => (await status()).report.recentFailures.some((f) => f.op === 'mongo-outage'), 10_000, 'the outage in status');
    assert.equal(exited, false, 'run never exited');

    // Every document exactly once across the delivered objects.
    const ids = (await coll.find({}, { projection: { _id: 1 } }).toArray()).map((d) => String(d._id)).sort();
    assert.equal(ids.length, 3 * BATCH);
    assert.deepEqual((await delivered()).sort(), ids);
    const stderr = run.output().stderr;
    assert.doesNotMatch(stderr, /unexpected error/);
    assert.match(stderr, /MongoDB is unreachable/);
    assert.match(stderr, /MongoDB is reachable again/);
  } catch (err) {
    (err as Error).message += `\nrun's stderr (last 4000 characters):\n${run.output().stderr.slice(-4000)}`;
    throw err;
  } finally {
    await proxy.restore();
    run.child.kill('SIGTERM');
  }
  const res = await run.exited;
  assert.equal(res.code, 0, `clean exit after SIGTERM:\n${res.stderr.slice(-3000)}`);
});

/** A fresh archive environment whose `run` reaches MongoDB through the proxy. */
async function proxiedEnv(serverSelectionTimeoutMS: number) {
  const env = await archiveEnv(mongo);
  const proxied = `mongodb://${proxy.address}/${env.db}?directConnection=true&serverSelectionTimeoutMS=${serverSelectionTimeoutMS}`;
  const coll = env.client.db(env.db).collection('apilogs');
  const batch = (n: number) => Array.from({ length: BATCH }, (_, i) => ({ createdAt: new Date(), batch: n, i }));
  return { env, proxied, ns: `${env.db}.apilogs`, coll, batch };
}

test('during an outage: SIGTERM stops run at once (exit 0), one-shot commands exit 3 naming the server, a new run waits, then gives up after mongoRetry.giveUpAfterSeconds (exit 3); a restart loses nothing', { timeout: 120_000 }, async () => {
  const { env: env2, proxied, ns, coll, batch } = await proxiedEnv(2000);
  try {
    const first = startCli(['run', '--no-env-file'], env2.env({ DB_URI: proxied, METRICS_PORT: '0' }));
    await first.waitFor('archiver started', 60_000);
    const base = /"url":"(http:\/\/[^"]+)"/.exec(first.output().stderr)?.[1];
    await coll.insertMany(batch(1));
    await waitFor(async () => (await spoolNow(env2.spoolDirectory, ns)).length === BATCH, 20_000, 'the first batch spooled');
    await proxy.cut();
    await coll.insertMany(batch(2));
    await waitFor(async () => (await get(`${base}/readyz`)).status === 503, OUTAGE_MS, '/readyz 503');
    const signalledAt = Date.now();
    first.child.kill('SIGTERM');
    const stopped = await first.exited;
    assert.equal(stopped.code, 0, stopped.stderr.slice(-3000));
    const stopMs = Date.now() - signalledAt;
    assert.ok(stopMs < 5000, `a stop during an outage does not wait for MongoDB (took ${stopMs} ms):\n${stopped.stderr.slice(-3000)}`);
    assert.match(stopped.stderr, /final checkpoint not saved: MongoDB is unreachable/);

    // One-shot commands fail, with exit code 3 and a message naming the server and the cause.
    const range = ['--from', new Date(Date.now() - 7_200_000).toISOString(), '--to', new Date(Date.now() - 3_600_000).toISOString()];
    const oneShots = await Promise.all(
      [['seal'], ['reconcile', ...range], ['backfill', ...range]].map((args) => runCli([...args, '--no-env-file'], env2.env({ DB_URI: proxied }))),
    );
    for (const r of oneShots) {
      assert.equal(r.code, 3, r.stderr.slice(-2000));
      assert.match(r.stderr, new RegExp(`cannot connect to MongoDB at mongodb://${proxy.address.replace(/\./g, '\\.')}/.*ECONNREFUSED`));
      assert.doesNotMatch(r.stderr, /unexpected error|\n\s+at /);
    }

    // Started while MongoDB is still unreachable: it waits (and says so), then gives up.
    const second = startCli(['run', '--no-env-file'], env2.env({ DB_URI: proxied, METRICS_PORT: '0', MONGO_GIVE_UP_AFTER_SECONDS: '4', SHUTDOWN_GRACE_MS: '0' }));
    await second.waitFor('MongoDB is unreachable', 30_000);
    const url = /"url":"(http:\/\/[^"]+)"/.exec(second.output().stderr)?.[1];
    const readyz = await get(`${url}/readyz`);
    assert.equal(readyz.status, 503);
    assert.match(readyz.text, /MongoDB at 127\.0\.0\.1:\d+ is unreachable/);
    const gaveUp = await second.exited;
    assert.equal(gaveUp.code, 3, gaveUp.stderr.slice(-3000));
    assert.match(gaveUp.stderr, new RegExp(`MongoDB at ${proxy.address.replace(/\./g, '\\.')} has been unreachable for \\d+s .*mongoRetry\\.giveUpAfterSeconds: .*ECONNREFUSED`));
    assert.doesNotMatch(gaveUp.stderr, /unexpected error/);

    await proxy.restore();
    const third = startCli(['run', '--no-env-file'], env2.env({ DB_URI: proxied }));
    await third.waitFor('archiver started', 60_000);
    await coll.insertMany(batch(3));
    await waitFor(async () => (await spoolNow(env2.spoolDirectory, ns)).length >= 3 * BATCH, 30_000, 'all three batches spooled');
    third.child.kill('SIGTERM');
    assert.equal((await third.exited).code, 0);
    const ids = (await coll.find({}, { projection: { _id: 1 } }).toArray()).map((d) => String(d._id)).sort();
    assert.deepEqual((await readSpool(env2.spoolDirectory, ns)).map((s) => String(s.doc._id)).sort(), ids, 'every document exactly once');
  } finally {
    await proxy.restore();
    await env2.close();
  }
});

test('a stop during an outage gives up a checkpoint that waits for server selection: run exits at once, the spool flushed; a restart loses nothing', { timeout: 120_000 }, async () => {
  // A long server selection timeout: a checkpoint write waits this long for MongoDB.
  const { env: env3, proxied, ns, coll, batch } = await proxiedEnv(30_000);
  try {
    // The interval checkpoint and the quiet one (a quarter of it) come long after the first batch:
    // when the stream breaks, the checkpoint capture takes then is the one that waits.
    const first = startCli(['run', '--no-env-file'], env3.env({ DB_URI: proxied, METRICS_PORT: '0', CHECKPOINT_INTERVAL_MS: '60000' }));
    await first.waitFor('change stream open', 60_000);
    const base = /"url":"(http:\/\/[^"]+)"/.exec(first.output().stderr)?.[1];
    await coll.insertMany(batch(1));
    await waitFor(async () => (metric((await get(`${base}/metrics`)).text, 'cronlog_events_captured_total') ?? 0) >= BATCH, 20_000, 'the first batch captured (not yet checkpointed)');
    await proxy.cut();
    await coll.insertMany(batch(2));
    // Capture cannot save batch 1's checkpoint now: whichever write asks first (the broken
    // stream's, or the stop's final one), it waits for server selection.
    await new Promise((r) => setTimeout(r, 500));
    const signalledAt = Date.now();
    first.child.kill('SIGTERM');
    const stopped = await first.exited;
    const stopMs = Date.now() - signalledAt;
    assert.equal(stopped.code, 0, stopped.stderr.slice(-3000));
    // Given up after STOP_SAVE_WAIT_MS and an unanswered ping (STOP_PING_MS): 3.5 s; the shutdown
    // grace (10 s) or server selection (30 s) without it.
    assert.ok(stopMs < 7000, `stopped in ${stopMs} ms, not at once:\n${stopped.stderr.slice(-3000)}`);
    assert.doesNotMatch(stopped.stderr, /shutdown grace exceeded/);
    assert.match(stopped.stderr, /final checkpoint not saved: MongoDB (is unreachable|did not answer)/);

    await proxy.restore();
    const second = startCli(['run', '--no-env-file'], env3.env({ DB_URI: proxied }));
    await second.waitFor('archiver started', 60_000);
    await waitFor(async () => (await spoolNow(env3.spoolDirectory, ns)).length >= 2 * BATCH, 30_000, 'both batches spooled');
    second.child.kill('SIGTERM');
    assert.equal((await second.exited).code, 0);
    const ids = (await coll.find({}, { projection: { _id: 1 } }).toArray()).map((d) => String(d._id)).sort();
    assert.equal(ids.length, 2 * BATCH);
    assert.deepEqual((await readSpool(env3.spoolDirectory, ns)).map((s) => String(s.doc._id)).sort(), ids, 'every document exactly once');
  } finally {
    await proxy.restore();
    await env3.close();
  }
});

test('a stop while MongoDB is slow but answers waits for the final checkpoint (no write given up)', { timeout: 120_000 }, async () => {
  const env4 = await archiveEnv(mongo);
  const coll = env4.client.db(env4.db).collection('apilogs');
  const admin = env4.client.db('admin');
  const batch = (n: number) => Array.from({ length: BATCH }, (_, i) => ({ createdAt: new Date(), batch: n, i }));
  const run = startCli(['run', '--no-env-file'], env4.env({ METRICS_PORT: '0' }));
  try {
    await run.waitFor('change stream open', 60_000);
    const base = /"url":"(http:\/\/[^"]+)"/.exec(run.output().stderr)?.[1];
    await coll.insertMany(batch(1));
    await waitFor(async () => (metric((await get(`${base}/metrics`)).text, 'cronlog_events_captured_total') ?? 0) >= BATCH, 20_000, 'the first batch captured');
    // Every update of this database's `jobs` now waits 3 s (checkpoints, lease renewals); pings do not.
    await admin.command({ configureFailPoint: 'failCommand', mode: 'alwaysOn', data: { failCommands: ['update'], namespace: `${env4.db}.jobs`, blockConnection: true, blockTimeMS: 3000 } });
    await coll.insertMany(batch(2));
    await waitFor(async () => (metric((await get(`${base}/metrics`)).text, 'cronlog_events_captured_total') ?? 0) >= 2 * BATCH, 20_000, 'the second batch captured');
    const signalledAt = new Date();
    run.child.kill('SIGTERM');
    const stopped = await run.exited;
    assert.equal(stopped.code, 0, stopped.stderr.slice(-3000));
    assert.doesNotMatch(stopped.stderr, /final checkpoint not saved|shutdown grace exceeded/);
    const cp = await env4.client.db(env4.db).collection('jobs').findOne({ _id: `capture:${env4.db}.apilogs` as never });
    assert.ok(cp && (cp.updatedAt as Date) >= signalledAt, `the final checkpoint was saved during the stop (${String(cp?.updatedAt)}, SIGTERM at ${signalledAt.toISOString()})`);
  } finally {
    await admin.command({ configureFailPoint: 'failCommand', mode: 'off' });
    if (run.child.exitCode === null && run.child.signalCode === null) run.child.kill('SIGKILL');
    await env4.close();
  }
});
