/**
 * Issue 18, restore into the watched collection: the typical flow "purge old hours, later restore
 * a range into the source for an investigation" while a real `run` child captures by change
 * stream. The restored documents reach the capture as inserts of their (old) hours, so they are
 * sealed as a late part; the seal drops every line whose `_id` a delivered part of the hour
 * already holds (restore marked the hour in `jobs` before its first insert). Afterwards every
 * `_id` is in exactly one object of the hour, `reconcile --deep` says `ok`, and a later purge
 * proves and deletes the hour again.
 *
 *   (a) `restore --force` while `run` holds the lease and captures;
 *   (b) `run` stopped during the restore and restarted afterwards (it resumes from its checkpoint
 *       and reads the inserts from the oplog).
 */
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ObjectId } from 'mongodb';
import type { Document } from 'mongodb';
import { archiveEnv, waitFor } from '../../helpers/archive-env.js';
import type { ArchiveEnv } from '../../helpers/archive-env.js';
import { globObjects, idCounts } from '../../helpers/archive-glob.js';
import { HOUR } from '../../helpers/archive-keys.js';
import { runCli, startCli } from '../../helpers/archiver-process.js';
import type { RunningCli } from '../../helpers/archiver-process.js';
import { startTestMongo } from '../../helpers/mongo.js';
import type { TestMongo } from '../../helpers/mongo.js';

let mongo: TestMongo;
before(async () => {
  mongo = await startTestMongo();
});
after(async () => {
  await mongo.close();
});

const N = 4;
const hourId = (start: number): string => `${new Date(start).toISOString().slice(0, 16)}+00:00`;
/** The spool's file name start of an hour (`2024-01-15T10-00Z`). */
const spoolName = (start: number): string => `${new Date(start).toISOString().slice(0, 13)}-00Z`;

function startRun(env: ArchiveEnv): RunningCli {
  return startCli(['run', '--no-env-file'], env.env({ SEAL_SCHEDULE: '* * * * * *' }));
}

async function stopRun(run: RunningCli): Promise<void> {
  run.child.kill('SIGTERM');
  await run.exited;
}

async function hourRecord(env: ArchiveEnv, start: number): Promise<{ state?: string; parts?: unknown[] } | undefined> {
  const day = await env.client.db(env.db).collection('jobs').findOne({ kind: 'day', [`hours.${hourId(start)}`]: { $exists: true } });
  return (day?.hours as Record<string, { state?: string; parts?: unknown[] }> | undefined)?.[hourId(start)];
}

/** Spool files (open, sealed) of the hour, anywhere under the spool directory. */
async function spoolFilesOf(env: ArchiveEnv, start: number): Promise<string[]> {
  const out: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    for (const e of await fs.readdir(dir, { withFileTypes: true }).catch(() => [])) {
      if (e.isDirectory()) {
        if (e.name !== 'unrecognized') await walk(join(dir, e.name));
      } else if (e.name.startsWith(spoolName(start)) && e.name.endsWith('.ndjson.gz')) out.push(join(dir, e.name));
    }
  };
  await walk(env.spoolDirectory);
  return out;
}

/** How often each `_id` occurs across the hour's objects (read with node:zlib alone). */
async function archivedIdCounts(env: ArchiveEnv, start: number): Promise<Map<string, number>> {
  const iso = new Date(start).toISOString();
  const objects = await globObjects(env.archiveDirectory, `api-logs/${iso.slice(0, 10)}`);
  return idCounts(objects.filter((o) => o.key.startsWith(`api-logs/${iso.slice(0, 10)}/${iso.slice(11, 13)}-`)));
}

async function cli(env: ArchiveEnv, args: string[]): Promise<{ code: number | null; json: unknown; out: string }> {
  const r = await runCli([...args, '--no-env-file', '--json'], env.env(), { timeoutMs: 90_000 });
  let json: unknown;
  try {
    json = JSON.parse(r.stdout);
  } catch {
    json = undefined;
  }
  return { code: r.code, json, out: r.stdout + r.stderr };
}

const range = (start: number): string[] => ['--from', new Date(start).toISOString(), '--to', new Date(start + HOUR).toISOString()];

/**
 * Documents of one past hour captured, sealed and delivered by `run` in two parts (a late write
 * after the first seal: the restore's inserts then differ from every part's bytes), then purged.
 */
async function archivedThenPurged(env: ArchiveEnv, run: RunningCli): Promise<{ h: number; docs: Document[] }> {
  await run.waitFor('archiver started', 60_000);
  const h = Math.floor(Date.now() / HOUR) * HOUR - 5 * HOUR;
  const apilogs = env.client.db(env.db).collection('apilogs');
  const docs = Array.from({ length: N }, (_, k) => ({ _id: new ObjectId(), createdAt: new Date(h + 60_000 + k * 1000), path: `/restored/${k}` }));
  await apilogs.insertMany(docs.slice(0, N - 1));
  await waitFor(async () => (await hourRecord(env, h))?.parts?.length === 1, 60_000, 'the hour delivered by run');
  await apilogs.insertOne(docs[N - 1] as Document);
  await waitFor(async () => (await hourRecord(env, h))?.parts?.length === 2, 60_000, 'the late document delivered as part 2');
  await waitFor(async () => (await spoolFilesOf(env, h)).length === 0, 30_000, 'the spool files of the hour removed');
  const purged = await cli(env, ['purge', '--older-than', '2h', '--from', new Date(h).toISOString()]);
  assert.equal(purged.code, 0, purged.out);
  assert.equal((purged.json as { deleted: number }).deleted, N, purged.out);
  assert.equal(await apilogs.countDocuments(), 0, 'the source is empty');
  return { h, docs };
}

/** After the seal run that follows the restore: each `_id` once; reconcile --deep ok; a later purge takes the hour again. */
async function checkArchivedOnce(env: ArchiveEnv, h: number, docs: Document[], restoredAt: Date): Promise<void> {
  const logs = env.client.db(env.db).collection('logs');
  // The late part of the restored documents was sealed (a `seal` record of the hour after the
  // restore) and nothing of the hour is left in the spool.
  await waitFor(async () => (await logs.countDocuments({ op: 'seal', hour: hourId(h), at: { $gt: restoredAt } })) > 0, 60_000, 'the restored documents sealed');
  await waitFor(async () => (await archivedIdCounts(env, h)).size === docs.length && (await spoolFilesOf(env, h)).length === 0, 60_000, 'every document of the hour archived, no spool file of it left');
  const counts = await archivedIdCounts(env, h);
  assert.deepEqual(
    [...counts].filter(([, n]) => n !== 1),
    [],
    'every _id of the hour appears exactly once across its objects',
  );
  assert.deepEqual([...counts.keys()].sort(), docs.map((d) => JSON.stringify((d._id as ObjectId).toHexString())).sort());

  const n = docs.length;
  const deep = await cli(env, ['reconcile', '--deep', ...range(h)]);
  assert.equal(deep.code, 0, deep.out);
  assert.deepEqual((deep.json as Array<{ mongo: number; archived: number; status: string }>).map((x) => [x.mongo, x.archived, x.status]), [[n, n, 'ok']]);
  // The seal records say what was dropped: the N restored documents.
  const sealed = await logs.find({ op: 'seal', hour: hourId(h), at: { $gt: restoredAt } }).toArray();
  assert.equal(
    sealed.reduce((k, r) => k + ((r.details as { alreadyArchivedRemoved?: number }).alreadyArchivedRemoved ?? 0), 0),
    N,
    JSON.stringify(sealed),
  );

  const again = await cli(env, ['purge', '--older-than', '2h', '--from', new Date(h).toISOString()]);
  assert.equal(again.code, 0, again.out);
  assert.equal((again.json as { deleted: number }).deleted, n, again.out);
  assert.equal(await env.client.db(env.db).collection('apilogs').countDocuments(), 0, 'the hour purged again');
}

/** `restore` of the hour into the watched collection (no --into): all N documents written. */
async function restoreIntoSource(env: ArchiveEnv, h: number, extra: string[] = []): Promise<void> {
  const restored = await cli(env, ['restore', ...range(h), ...extra]);
  assert.equal(restored.code, 0, restored.out);
  assert.equal((restored.json as { totals: { restored: number } }).totals.restored, N);
}

test('restore --force into the watched collection while run captures: nothing archived twice', { timeout: 240_000 }, async () => {
  const env = await archiveEnv(mongo);
  const run = startRun(env);
  try {
    const { h, docs } = await archivedThenPurged(env, run);

    const restoredAt = new Date();
    const refused = await cli(env, ['restore', ...range(h)]);
    assert.equal(refused.code, 3, `refused while run holds the lease: ${refused.out}`);
    await restoreIntoSource(env, h, ['--force']);
    // A document of the hour the archive does not hold, written meanwhile: archived as usual.
    const late = { _id: new ObjectId(), createdAt: new Date(h + 30 * 60_000), path: '/late' };
    await env.client.db(env.db).collection('apilogs').insertOne(late);

    await checkArchivedOnce(env, h, [...docs, late], restoredAt);
  } finally {
    await stopRun(run);
    await env.close();
  }
});

test('restore into the watched collection while run is stopped; run resumes from its checkpoint: nothing archived twice', { timeout: 240_000 }, async () => {
  const env = await archiveEnv(mongo);
  let run = startRun(env);
  try {
    const { h, docs } = await archivedThenPurged(env, run);
    await stopRun(run);

    const restoredAt = new Date();
    await restoreIntoSource(env, h);

    run = startRun(env);
    await run.waitFor('archiver started', 60_000);
    await checkArchivedOnce(env, h, docs, restoredAt);
  } finally {
    await stopRun(run);
    await env.close();
  }
});
