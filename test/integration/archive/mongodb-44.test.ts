/**
 * Issue 17, MongoDB 4.4 (the emulator's `--server-version 4.4`: wire version 9, 5.0 operators
 * such as `$dateTrunc` refused as 4.4 refuses them). Real CLI processes: `run` captures and
 * `seal` delivers and reconciles the hours around New York's DST fall-back (two local 01:00
 * hours), every hour `ok`, no reconcile failure, exit 0; `reconcile` over the range agrees, exit
 * 0; `backfill` archives and reconciles Lord Howe's 30-minute hours, exit 0. MongoDB's counts
 * per hour on 4.4 are those of the default server on the same documents.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { MongoClient, ObjectId } from 'mongodb';
import type { Document } from 'mongodb';
import { HourClock } from '../../../src/hours/hour-clock.js';
import { countPerHour } from '../../../src/reconcile/mongo-counts.js';
import { archiveEnv } from '../../helpers/archive-env.js';
import { runCli, uriWithDb } from '../../helpers/archiver-process.js';
import { captureThenSeal, deliveredKeysById } from '../../helpers/capture-run.js';
import { emulatorOnly, startTestMongo, uniqueDbName } from '../../helpers/mongo.js';
import type { TestMongo } from '../../helpers/mongo.js';

const skip = emulatorOnly('--server-version 4.4');
const MIN = 60_000;
const CLI_TIMEOUT_MS = 60_000;
/** New York's fall-back of 2024: 01:00-02:00 local happens at 05:00Z (EDT) and again at 06:00Z (EST). */
const NY = { zone: 'America/New_York', from: Date.parse('2024-11-03T03:00:00Z'), to: Date.parse('2024-11-03T09:00:00Z') };
/** Lord Howe's 30-minute fall-back of 2024: 01:30-02:00 local happens twice (14:30Z and 15:00Z). */
const LH = { zone: 'Australia/Lord_Howe', from: Date.parse('2024-04-06T13:00:00Z'), to: Date.parse('2024-04-06T17:00:00Z') };

/** A document every 5 minutes in [from, to), one whose timestamp is not a date and one without it (ObjectId time). */
function documents(from: number, to: number): Document[] {
  const docs: Document[] = [];
  for (let t = from; t < to; t += 5 * MIN) docs.push({ _id: new ObjectId(), createdAt: new Date(t) });
  docs.push({ _id: ObjectId.createFromTime((from + 2 * 3_600_000 + 17 * MIN) / 1000), createdAt: 'n/a' });
  docs.push({ _id: ObjectId.createFromTime((from + 3 * 3_600_000 + 41 * MIN) / 1000) });
  return docs;
}

interface Row {
  hour: string;
  mongo: number;
  archived: number;
  status: string;
}

let v44: TestMongo;
before(async () => {
  if (skip) return;
  v44 = await startTestMongo({ serverVersion: '4.4' });
});
after(async () => {
  await v44?.close();
});

test('MongoDB 4.4: the per-hour counts equal the default server\'s on the same documents (New York fall-back, Lord Howe)', { skip }, async () => {
  const latest = await startTestMongo();
  const db = uniqueDbName('counts44');
  const clients = [new MongoClient(uriWithDb(v44.uri, db)), new MongoClient(uriWithDb(latest.uri, db))];
  try {
    const docs = [...documents(NY.from, NY.to), ...documents(LH.from, LH.to)];
    for (const c of clients) await c.db().collection('apilogs').insertMany(docs.map((d) => ({ ...d })));
    const build = await clients[0]!.db('admin').command({ buildInfo: 1 });
    assert.match(build.version as string, /^4\.4\./);
    for (const { zone, from, to } of [NY, LH, { zone: 'UTC', from: NY.from, to: NY.to }]) {
      const [on44, onLatest] = await Promise.all(clients.map((c) => countPerHour(c.db().collection('apilogs'), 'createdAt', from, to, zone)));
      assert.deepEqual([...on44!].sort(), [...onLatest!].sort(), zone);
      assert.equal([...on44!.values()].reduce((a, b) => a + b, 0), (to - from) / (5 * MIN) + 2, zone);
    }
    // New York: two hours named 01-02 (05:00Z and 06:00Z), both counted.
    const ny = await countPerHour(clients[0]!.db().collection('apilogs'), 'createdAt', NY.from, NY.to, NY.zone);
    assert.equal(ny.get(Date.parse('2024-11-03T05:00:00Z')), 12 + 1, 'and the document of 05:17Z by ObjectId time');
    assert.equal(ny.get(Date.parse('2024-11-03T06:00:00Z')), 12 + 1, 'and the document of 06:41Z by ObjectId time');
    assert.equal(new HourClock(NY.zone).slotOf(Date.parse('2024-11-03T06:30:00Z')).start, Date.parse('2024-11-03T06:00:00Z'));
  } finally {
    for (const c of clients) {
      await c.db().dropDatabase().catch(() => undefined);
      await c.close();
    }
    await latest.close();
  }
});

test('MongoDB 4.4: run captures, seal delivers and reconciles every hour ok (exit 0), reconcile agrees (exit 0)', { skip, timeout: 240_000 }, async () => {
  const env = await archiveEnv(v44);
  try {
    const vars = env.env({ TIMEZONE: NY.zone });
    // The fall-back's hours, and two recent hours: the seal's own reconcile covers the last 24 hours.
    const recentFrom = Math.floor(Date.now() / 3_600_000) * 3_600_000 - 3 * 3_600_000;
    const fallBack = documents(NY.from, NY.to);
    const recent = Array.from({ length: 24 }, (_, i) => ({ _id: new ObjectId(), createdAt: new Date(recentFrom + i * 5 * MIN) }));
    const docs = [...fallBack, ...recent];
    const seal = await captureThenSeal(env, vars, docs, CLI_TIMEOUT_MS);
    assert.equal(seal.signal, null, `seal was killed after ${CLI_TIMEOUT_MS} ms`);
    assert.equal(seal.code, 0, seal.stdout + seal.stderr.slice(-2000));
    const report = JSON.parse(seal.stdout) as { hours: Array<{ hour: string; start: number; count: number; status: string }>; reconciled: Row[]; reconcileError?: string; failed: number };
    assert.equal(report.reconcileError, undefined);
    assert.equal(report.failed, 0);
    const data = report.hours.filter((h) => h.count > 0);
    assert.equal(data.length, 6 + 2, JSON.stringify(report.hours));
    assert.ok(data.every((h) => h.status === 'delivered'));
    assert.equal(data.reduce((n, h) => n + h.count, 0), docs.length);
    // The seal run reconciled the recent hours against MongoDB 4.4: ok.
    const verdicts = new Map(report.reconciled.map((r) => [r.hour, r]));
    const recentHours = data.filter((h) => h.start >= recentFrom);
    assert.equal(recentHours.length, 2);
    for (const h of recentHours) assert.deepEqual(verdicts.get(h.hour), { hour: h.hour, mongo: 12, archived: 12, status: 'ok' });
    assert.ok(report.reconciled.every((r) => r.status === 'ok'), JSON.stringify(report.reconciled));
    // Every document once in the archive; the fall-back's second 01:00 hour is `.2`.
    const keys = await deliveredKeysById(env.archiveDirectory);
    assert.equal(keys.size, docs.length);
    assert.ok([...keys.values()].every((k) => k.length === 1));
    assert.ok([...keys.values()].some((k) => k[0] === 'api-logs/2024-11-03/01-02.2.ndjson.gz'));

    // reconcile over the fall-back: every hour ok, the counts those the seal delivered.
    const rec = await runCli(['reconcile', '--no-env-file', '--json', '--from', new Date(NY.from).toISOString(), '--to', new Date(NY.to).toISOString()], vars, { timeoutMs: CLI_TIMEOUT_MS });
    assert.equal(rec.code, 0, rec.stdout + rec.stderr.slice(-2000));
    const rows = JSON.parse(rec.stdout) as Row[];
    assert.equal(rows.length, 6);
    assert.ok(rows.every((r) => r.status === 'ok' && r.mongo === r.archived), JSON.stringify(rows));
    assert.deepEqual(rows.map((r) => r.mongo), data.filter((h) => h.start < recentFrom).map((h) => h.count));
  } finally {
    await env.close();
  }
});

test('MongoDB 4.4: backfill archives and reconciles Lord Howe\'s hours, the 30-minute one included (exit 0)', { skip, timeout: 180_000 }, async () => {
  const env = await archiveEnv(v44);
  try {
    const docs = documents(LH.from, LH.to);
    await env.client.db(env.db).collection('apilogs').insertMany(docs);
    const bf = await runCli(['backfill', '--no-env-file', '--json', '--from', new Date(LH.from).toISOString(), '--to', new Date(LH.to).toISOString()], env.env({ TIMEZONE: LH.zone }), { timeoutMs: CLI_TIMEOUT_MS });
    assert.equal(bf.code, 0, bf.stdout + bf.stderr.slice(-2000));
    const { rows } = JSON.parse(bf.stdout) as { rows: Row[] };
    // 4 hours of documents: 4 slots, plus the repeated half hour.
    assert.equal(rows.length, 5, JSON.stringify(rows));
    assert.ok(rows.every((r) => r.status === 'ok' && r.mongo === r.archived), JSON.stringify(rows));
    assert.equal(rows.reduce((n, r) => n + r.mongo, 0), docs.length);
  } finally {
    await env.close();
  }
});
