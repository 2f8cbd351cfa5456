/**
 * Issue 17 item 1, as a user meets it: the original product's basic config points at a
 * standalone server (`mongodb://host/myapp`, no replica set). `run` with the default captureMode
 * (auto) captures by query and says why; its seal schedule delivers every hour and reconciles it
 * `ok`; documents written late for hours already delivered (a timestamp in the past, or no date
 * in the timestamp field) are delivered as a late part by the next seal runs, so those hours
 * converge to `ok` without `reconcile --repair`; every `_id` is in exactly one object of its hour.
 * Real child processes (`run`, `reconcile`), the emulator as a standalone over TCP.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { ObjectId } from 'mongodb';
import type { Document } from 'mongodb';
import { archiveEnv, startArchiver, waitFor } from '../../helpers/archive-env.js';
import type { ArchiveEnv } from '../../helpers/archive-env.js';
import { globObjects, idCounts } from '../../helpers/archive-glob.js';
import { HOUR, hourKey } from '../../helpers/archive-keys.js';
import { readSpool } from '../../helpers/spool-reader.js';
import { runCli, startCli, stderrLines } from '../../helpers/archiver-process.js';
import { needsEmulator, startTestMongo } from '../../helpers/mongo.js';
import type { TestMongo } from '../../helpers/mongo.js';

let mongo: TestMongo;
let env: ArchiveEnv;
before(async () => {
  if (needsEmulator !== false) return;
  mongo = await startTestMongo({ standalone: true });
  env = await archiveEnv(mongo);
});
after(async () => {
  await env?.close();
  await mongo?.close();
});

/** An ObjectId whose time is `ms` (and whose other bytes are random): a document without createdAt is filed by it. */
function idAt(ms: number): ObjectId {
  const id = new ObjectId();
  const bytes = Buffer.from(id.id);
  bytes.writeUInt32BE(Math.floor(ms / 1000), 0);
  return new ObjectId(bytes);
}

interface ReconcileRow {
  hour: string;
  mongo: number;
  archived: number | null;
  status: string;
}

test('standalone, default config: run captures by query, every hour delivered and reconciled ok, late documents converge to ok', { skip: needsEmulator, timeout: 180_000 }, async () => {
  const now = Date.now();
  const h0 = Math.floor(now / HOUR) * HOUR - 3 * HOUR; // three whole hours before the current one
  const apilogs = env.client.db(env.db).collection('apilogs');
  const docs: Document[] = [];
  for (let i = 0; i < 300; i++) docs.push({ _id: new ObjectId(), createdAt: new Date(h0 + Math.floor((i * 3 * HOUR) / 300)), path: `/api/${i}` });
  await apilogs.insertMany(docs);

  const run = startCli(['run', '--no-env-file', '--reset-from', new Date(h0).toISOString()], env.env({ SEAL_SCHEDULE: '*/2 * * * * *', QUERY_SETTLE_SECONDS: '1', QUERY_POLL_INTERVAL_MS: '100' }));
  try {
    await run.waitFor('archiver started', 60_000);
    const mode = stderrLines(run.output().stderr).find((l) => l.message === 'capture by query');
    assert.ok(mode, 'run says it captures by query');
    assert.match(String(mode.meta?.reason), /standalone/);

    // Documents written while it runs (current hour: captured, not due yet).
    const live = Array.from({ length: 20 }, (_, i) => ({ _id: new ObjectId(), createdAt: new Date(Date.now() - 500), path: `/live/${i}` }));
    await apilogs.insertMany(live);

    const logs = env.client.db(env.db).collection('logs');
    const reconciledOk = async (hour: number, count: number): Promise<boolean> =>
      (await logs.countDocuments({ op: 'reconcile', hourStart: new Date(hour), outcome: 'ok', 'details.status': 'ok', 'details.archived': count })) > 0;
    for (let k = 0; k < 3; k++) await waitFor(() => reconciledOk(h0 + k * HOUR, 100), 60_000, `hour ${k} reconciled ok`);

    // Late: documents for hours already delivered and verified, written now (long after the
    // settle delay): 10 with a createdAt in the first hour, 3 without one, filed by their
    // ObjectId time in the second hour.
    const late: Document[] = [
      ...Array.from({ length: 10 }, (_, i) => ({ _id: new ObjectId(), createdAt: new Date(h0 + 60_000 * i), path: `/late/${i}` })),
      ...Array.from({ length: 3 }, (_, i) => ({ _id: idAt(h0 + HOUR + 60_000 * i), path: `/no-date/${i}` })),
    ];
    await apilogs.insertMany(late);
    await waitFor(() => reconciledOk(h0, 110), 60_000, 'the first hour reconciled ok with its late documents');
    await waitFor(() => reconciledOk(h0 + HOUR, 103), 60_000, 'the second hour reconciled ok with its undated documents');
    assert.equal(await logs.countDocuments({ op: 'late-part', outcome: 'ok' }), 2, 'one late part per hour');
    assert.ok(run.output().stderr.includes('late documents delivered as a late part of their hour'));
  } finally {
    run.child.kill('SIGTERM');
  }
  const res = await run.exited;
  assert.equal(res.code, 0, `clean exit after SIGTERM:\n${res.stderr.slice(-2000)}`);

  // What a reader of the archive sees: every _id of the three hours once, in an object of its hour.
  const objects = await globObjects(env.archiveDirectory);
  const counts = idCounts(objects);
  const repeated = [...counts.values()].filter((n) => n > 1).length;
  assert.equal(repeated, 0, 'no _id in two objects');
  const all = await apilogs.find({}).toArray();
  for (const d of all) {
    const ms = d.createdAt instanceof Date ? d.createdAt.getTime() : (d._id as ObjectId).getTimestamp().getTime();
    const hour = Math.floor(ms / HOUR) * HOUR;
    if (hour >= h0 + 3 * HOUR) continue; // the current hour is not due yet
    const id = JSON.stringify((d._id as ObjectId).toHexString());
    const holders = objects.filter((o) => o.ids.includes(id)).map((o) => o.key);
    assert.equal(holders.length, 1, `${id} archived once`);
    assert.ok((holders[0] as string).startsWith(hourKey(hour, { ext: '' })), `${id} in an object of its hour (${holders[0]})`);
  }
  assert.ok(objects.some((o) => o.key === hourKey(h0, { part: '.part2' })), 'the late documents are a late part of their hour');

  // The user's check, without --repair: every hour ok, exit 0.
  const rec = await runCli(['reconcile', '--no-env-file', '--from', new Date(h0).toISOString(), '--to', new Date(h0 + 3 * HOUR).toISOString(), '--json'], env.env());
  assert.equal(rec.code, 0, rec.stderr);
  const rows = JSON.parse(rec.stdout) as ReconcileRow[];
  assert.deepEqual(
    rows.map((r) => [r.mongo, r.archived, r.status]),
    [
      [110, 110, 'ok'],
      [103, 103, 'ok'],
      [100, 100, 'ok'],
    ],
  );
});

test('the first start by query archives the current hour from its start, not from the moment it started', { skip: needsEmulator }, async () => {
  const env2 = await archiveEnv(mongo);
  try {
    const hour = Math.floor(Date.now() / HOUR) * HOUR;
    const apilogs = env2.client.db(env2.db).collection('apilogs');
    // Written before the first start: one in the current hour, one in the hour before (not archived).
    const before = [
      { _id: new ObjectId(), createdAt: new Date(hour) },
      { _id: new ObjectId(), createdAt: new Date(hour - 1) },
    ];
    await apilogs.insertMany(before);
    const archiver = await startArchiver(env2.config({ querySettleSeconds: 1, queryPollIntervalMs: 50 }));
    try {
      const live = { _id: new ObjectId(), createdAt: new Date() };
      await apilogs.insertOne(live);
      const ns = `${env2.db}.apilogs`;
      await waitFor(async () => (await readSpool(env2.spoolDirectory, ns)).length >= 2, 20_000, 'the current hour captured');
      await new Promise((r) => setTimeout(r, 300));
      const ids = (await readSpool(env2.spoolDirectory, ns)).map((d) => d.doc._id as string).sort();
      assert.deepEqual(ids, [before[0]?._id.toHexString(), live._id.toHexString()].sort());
    } finally {
      await archiver.close();
    }
  } finally {
    await env2.close();
  }
});
