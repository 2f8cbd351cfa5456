/**
 * Issue 15, item 7: a time zone whose DST shift is 30 minutes (Australia/Lord_Howe: +11 in
 * summer, +10:30 in winter) hung `seal`, `backfill` and `reconcile` (an hour slot whose next()
 * was itself) and put documents of October's shift in overlapping hours. Here real CLI
 * processes (killed after a timeout) capture, seal, backfill and reconcile documents around
 * both shifts of 2024; every document is delivered once, under the hour the README names.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { ObjectId } from 'mongodb';
import { tailerFor } from '../../src/archiver.js';
import { silentLogger } from '../../src/log.js';
import { archiveEnv, waitFor } from '../helpers/archive-env.js';
import { runCli } from '../helpers/archiver-process.js';
import { captureThenSeal, deliveredKeysById } from '../helpers/capture-run.js';
import { startTestMongo } from '../helpers/mongo.js';
import type { TestMongo } from '../helpers/mongo.js';

const MIN = 60_000;
const HOUR = 60 * MIN;
const ZONE = { TIMEZONE: 'Australia/Lord_Howe' };
/** Each command must finish well within this (the hang ran until killed). */
const CLI_TIMEOUT_MS = 45_000;

/**
 * Lord Howe Island's offset changes of 2024, written out by hand: on 2024-04-07 at 02:00 +11
 * (15:00Z) clocks went back to 01:30 +10:30, so 01:30-02:00 happened twice; on 2024-10-06 at
 * 02:00 +10:30 (15:30Z) they went forward to 02:30 +11.
 */
const SHIFTS = [
  { at: Date.parse('2024-04-06T15:00:00Z'), before: 11 * HOUR, after: 10.5 * HOUR, repeatedUntil: Date.parse('2024-04-06T15:30:00Z') },
  { at: Date.parse('2024-10-05T15:30:00Z'), before: 10.5 * HOUR, after: 11 * HOUR, repeatedUntil: Date.parse('2024-10-05T15:30:00Z') },
] as const;
/** The ranges documents are written in: 13:00Z-17:00Z around each shift. */
const WINDOWS = SHIFTS.map((s) => [Date.parse(new Date(s.at).toISOString().slice(0, 10) + 'T13:00:00Z'), Date.parse(new Date(s.at).toISOString().slice(0, 10) + 'T17:00:00Z')] as const);

function two(n: number): string {
  return String(n).padStart(2, '0');
}

/**
 * The key of the hour an instant belongs to (README): its local hour, `.2` in the repeated
 * half hour; the part of a local hour after a shift is an hour of its own with that name.
 */
function expectedKey(t: number): string {
  const shift = SHIFTS.find((s) => Math.abs(t - s.at) < 12 * HOUR);
  assert.ok(shift);
  const local = new Date(t + (t < shift.at ? shift.before : shift.after)).toISOString();
  const h = Number(local.slice(11, 13));
  const fold = t >= shift.at && t < shift.repeatedUntil ? '.2' : '';
  return `api-logs/${local.slice(0, 10)}/${two(h)}-${two(h + 1)}${fold}.ndjson.gz`;
}

/** A document every 5 minutes in each window, and two without a timestamp (ObjectId time). */
function documents(): Array<{ _id: ObjectId; createdAt?: Date; at: number }> {
  const docs: Array<{ _id: ObjectId; createdAt?: Date; at: number }> = [];
  for (const [from, to] of WINDOWS) for (let t = from; t < to; t += 5 * MIN) docs.push({ _id: new ObjectId(), createdAt: new Date(t), at: t });
  for (const iso of ['2024-04-06T15:17:00Z', '2024-10-05T15:47:00Z']) docs.push({ _id: ObjectId.createFromTime(Date.parse(iso) / 1000), at: Date.parse(iso) });
  return docs;
}

function assertDeliveredOnce(docs: ReturnType<typeof documents>, keys: Map<string, string[]>): void {
  for (const d of docs) {
    assert.deepEqual(keys.get(d._id.toHexString()), [expectedKey(d.at)], `the document of ${new Date(d.at).toISOString()}`);
  }
  assert.equal(keys.size, docs.length);
  // The names the README gives the 30-minute hours.
  const at = (iso: string): string[] | undefined => keys.get(docs.find((d) => d.at === Date.parse(iso))?._id.toHexString() ?? '');
  assert.deepEqual(at('2024-04-06T14:55:00Z'), ['api-logs/2024-04-07/01-02.ndjson.gz']);
  assert.deepEqual(at('2024-04-06T15:10:00Z'), ['api-logs/2024-04-07/01-02.2.ndjson.gz']);
  assert.deepEqual(at('2024-04-06T15:17:00Z'), ['api-logs/2024-04-07/01-02.2.ndjson.gz']);
  assert.deepEqual(at('2024-04-06T15:30:00Z'), ['api-logs/2024-04-07/02-03.ndjson.gz']);
  assert.deepEqual(at('2024-10-05T15:25:00Z'), ['api-logs/2024-10-06/01-02.ndjson.gz']);
  assert.deepEqual(at('2024-10-05T15:35:00Z'), ['api-logs/2024-10-06/02-03.ndjson.gz']);
  assert.deepEqual(at('2024-10-05T15:47:00Z'), ['api-logs/2024-10-06/02-03.ndjson.gz']);
  assert.deepEqual(at('2024-10-05T16:00:00Z'), ['api-logs/2024-10-06/03-04.ndjson.gz']);
}

/** `reconcile --json` over each window: exits 0 in time, every hour ok, 30-minute hours included. */
async function reconcileWindows(vars: Record<string, string>): Promise<void> {
  for (const [from, to] of WINDOWS) {
    const rec = await runCli(['reconcile', '--no-env-file', '--json', '--from', new Date(from).toISOString(), '--to', new Date(to).toISOString()], vars, { timeoutMs: CLI_TIMEOUT_MS });
    assert.equal(rec.signal, null, `reconcile ${new Date(from).toISOString()} was killed after ${CLI_TIMEOUT_MS} ms`);
    assert.equal(rec.code, 0, rec.stdout + rec.stderr.slice(-2000));
    const rows = JSON.parse(rec.stdout) as Array<{ hour: string; mongo: number; archived: number; status: string }>;
    assert.ok(rows.every((r) => r.status === 'ok' && r.mongo === r.archived), JSON.stringify(rows));
    // 4 hours of documents: 4 slots, plus the 30-minute one.
    assert.equal(rows.length, 5, rows.map((r) => r.hour).join(' '));
    assert.equal(rows.reduce((n, r) => n + r.mongo, 0), 48 + 1);
  }
}

let mongo: TestMongo;
before(async () => {
  mongo = await startTestMongo();
});
after(async () => {
  await mongo.close();
});

test('Lord Howe: run captures, seal delivers, reconcile verifies the hours around both 30-minute shifts, in bounded time', { timeout: 180_000 }, async () => {
  const env = await archiveEnv(mongo);
  try {
    const vars = env.env(ZONE);
    const docs = documents();
    const seal = await captureThenSeal(
      env,
      vars,
      docs.map(({ at: _at, ...doc }) => doc),
      CLI_TIMEOUT_MS,
    );
    assert.equal(seal.signal, null, `seal was killed after ${CLI_TIMEOUT_MS} ms`);
    assert.equal(seal.code, 0, seal.stdout + seal.stderr.slice(-2000));
    const report = JSON.parse(seal.stdout) as { hours: Array<{ key: string; count: number; status: string }> };
    assert.ok(report.hours.length > 0 && report.hours.every((h) => h.status === 'delivered' || h.status === 'empty'), JSON.stringify(report.hours));
    assertDeliveredOnce(docs, await deliveredKeysById(env.archiveDirectory));
    await reconcileWindows(vars);
  } finally {
    await env.close();
  }
});

test('Lord Howe: backfill archives (and reconciles) both shifts from a query, in bounded time', { timeout: 180_000 }, async () => {
  const env = await archiveEnv(mongo);
  try {
    const vars = env.env(ZONE);
    const docs = documents();
    await env.client
      .db(env.db)
      .collection('apilogs')
      .insertMany(docs.map(({ at: _at, ...doc }) => doc));
    for (const [from, to] of WINDOWS) {
      const bf = await runCli(['backfill', '--no-env-file', '--json', '--from', new Date(from).toISOString(), '--to', new Date(to).toISOString()], vars, { timeoutMs: CLI_TIMEOUT_MS });
      assert.equal(bf.signal, null, `backfill ${new Date(from).toISOString()} was killed after ${CLI_TIMEOUT_MS} ms`);
      assert.equal(bf.code, 0, bf.stdout + bf.stderr.slice(-2000));
      // Backfill reconciles what it archived: 5 hours (one of 30 minutes), all ok.
      const { rows } = JSON.parse(bf.stdout) as { rows: Array<{ mongo: number; archived: number; status: string }> };
      assert.equal(rows.length, 5, JSON.stringify(rows));
      assert.ok(rows.every((r) => r.status === 'ok' && r.mongo === r.archived), JSON.stringify(rows));
      assert.equal(rows.reduce((n, r) => n + r.mongo, 0), 48 + 1);
    }
    assertDeliveredOnce(docs, await deliveredKeysById(env.archiveDirectory));
  } finally {
    await env.close();
  }
});

test('Lord Howe: the 30-minute hour is closed for sealing once it ended, not an hour after it began', { timeout: 120_000 }, async () => {
  const env = await archiveEnv(mongo);
  const tailer = tailerFor(env.config({ timezone: 'Australia/Lord_Howe' }), env.client, silentLogger);
  try {
    await tailer.start();
    await env.client
      .db(env.db)
      .collection('apilogs')
      .insertMany([{ createdAt: new Date('2024-04-06T14:50:00Z') }, { createdAt: new Date('2024-04-06T15:10:00Z') }]);
    await waitFor(() => tailer.stats().captured === 2, 20_000, 'two events');
    // At 15:30Z both the hour 01-02 (14:00Z-15:00Z) and the half hour 01-02.2 (15:00Z-15:30Z)
    // have ended: a seal run then must close both, or it would find the half hour due but not
    // closed and seal it as empty.
    const closed = await tailer.closeDueHours(Date.parse('2024-04-06T15:30:00Z'));
    assert.deepEqual(
      closed.map((f) => new Date(f.hour).toISOString()).sort(),
      ['2024-04-06T14:00:00.000Z', '2024-04-06T15:00:00.000Z'],
    );
  } finally {
    await tailer.stop();
    await env.close();
  }
});
