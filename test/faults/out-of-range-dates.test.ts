/**
 * Issue 15, item 5: a timestamp outside years 1970-9999 was misfiled or stuck: .NET's
 * `DateTime.MinValue` (0001-01-01) landed under 1901-01-01 (Date.UTC reads years 0-99 as
 * 1900-1999), a negative year got a spool file name the archiver does not read back (never
 * delivered, hidden from `status`). Such a date counts as no timestamp (README): the document
 * belongs to the hour of its ObjectId time. Here real CLI processes capture, seal, backfill and
 * reconcile them: each is delivered once, under its ObjectId hour, and reconcile says ok.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { ObjectId } from 'mongodb';
import { archiveEnv } from '../helpers/archive-env.js';
import type { ArchiveEnv } from '../helpers/archive-env.js';
import { HOUR, hourKey } from '../helpers/archive-keys.js';
import { runCli } from '../helpers/archiver-process.js';
import { captureThenSeal, deliveredKeysById } from '../helpers/capture-run.js';
import { startTestMongo } from '../helpers/mongo.js';
import type { TestMongo } from '../helpers/mongo.js';

/** The hour (UTC) of the documents' ObjectId times. */
const H = Date.parse('2024-06-01T10:00:00Z');
const CLI_TIMEOUT_MS = 45_000;

/** Out-of-range timestamps (stored as BSON dates: the driver writes every one), and one ordinary date as a control. */
function documents(): Array<{ _id: ObjectId; createdAt: Date }> {
  const createdAt = [
    new Date('0001-01-01T00:30:00Z'), // DateTime.MinValue + 30 min
    new Date(Date.UTC(-1, 5, 1, 10, 30)), // year -1
    new Date(Date.UTC(10000, 0, 1, 0, 30)), // year 10000
    new Date(Date.UTC(1969, 11, 31, 23, 30)), // before 1970
    new Date(H + 40 * 60_000), // a date in the hour: filed by it
  ];
  return createdAt.map((d, i) => ({ _id: ObjectId.createFromTime((H + (i + 1) * 5 * 60_000) / 1000), createdAt: d }));
}

async function assertFiledOnceUnderObjectIdHour(env: ArchiveEnv, docs: Array<{ _id: ObjectId }>): Promise<void> {
  const keys = await deliveredKeysById(env.archiveDirectory);
  for (const d of docs) assert.deepEqual(keys.get(d._id.toHexString()), [hourKey(H)], `${d._id.toHexString()}`);
  assert.equal(keys.size, docs.length, [...keys.values()].join(' '));
}

async function assertReconcileOk(env: ArchiveEnv, docs: unknown[]): Promise<void> {
  const rec = await runCli(['reconcile', '--no-env-file', '--json', '--from', new Date(H).toISOString(), '--to', new Date(H + HOUR).toISOString()], env.env(), {
    timeoutMs: CLI_TIMEOUT_MS,
  });
  assert.equal(rec.code, 0, rec.stdout + rec.stderr.slice(-2000));
  assert.deepEqual(
    (JSON.parse(rec.stdout) as Array<{ mongo: number; archived: number; status: string }>).map((r) => [r.mongo, r.archived, r.status]),
    [[docs.length, docs.length, 'ok']],
  );
}

let mongo: TestMongo;
before(async () => {
  mongo = await startTestMongo();
});
after(async () => {
  await mongo.close();
});

test('captured documents with dates before 1970 or after 9999 are delivered once under their ObjectId hour; reconcile ok', { timeout: 180_000 }, async () => {
  const env = await archiveEnv(mongo);
  try {
    const docs = documents();
    const seal = await captureThenSeal(env, env.env(), docs, CLI_TIMEOUT_MS);
    assert.equal(seal.code, 0, seal.stdout + seal.stderr.slice(-2000));
    await assertFiledOnceUnderObjectIdHour(env, docs);
    // Nothing stays behind in the spool, under a name the archiver cannot read or any other.
    const sealed = join(env.spoolDirectory, `${env.db}.apilogs`, 'sealed');
    assert.deepEqual((await fs.readdir(sealed).catch(() => [])).filter((n) => n.endsWith('.ndjson.gz')), []);
    await assertReconcileOk(env, docs);
  } finally {
    await env.close();
  }
});

test('backfill of the ObjectId hour archives them too (the query follows the same rule); reconcile ok', { timeout: 180_000 }, async () => {
  const env = await archiveEnv(mongo);
  try {
    const docs = documents();
    await env.client.db(env.db).collection('apilogs').insertMany(docs);
    const bf = await runCli(['backfill', '--no-env-file', '--json', '--from', new Date(H).toISOString(), '--to', new Date(H + HOUR).toISOString()], env.env(), {
      timeoutMs: CLI_TIMEOUT_MS,
    });
    assert.equal(bf.code, 0, bf.stdout + bf.stderr.slice(-2000));
    await assertFiledOnceUnderObjectIdHour(env, docs);
    await assertReconcileOk(env, docs);
  } finally {
    await env.close();
  }
});
