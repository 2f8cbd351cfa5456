/**
 * Issue 18, purge under faults:
 *  - SIGKILL of `purge` in the middle of an hour: the hour reads `purging` (status names it,
 *    reconcile says `purged`, not `mismatch`); a rerun finishes it (MongoDB ⊆ archive is its
 *    proof) and every document deleted is one the archive holds.
 *  - A document written to an hour while `purge` deletes it, with `run` capturing: it is not
 *    deleted, `run` archives it as a late part, and the hour reconciles `purged`.
 * A small rate limit (PURGE_BATCH_SIZE, PURGE_MAX_DOCUMENTS_PER_SECOND) makes the purge slow
 * enough that the test sees it part-way through an hour (the hour's count dropping) and acts then.
 */
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import type { Collection, Document } from 'mongodb';
import { ObjectId } from 'mongodb';
import { openSharedContext } from '../../src/archive-context.js';
import { silentLogger } from '../../src/log.js';
import { CheckpointStore } from '../../src/ledger/checkpoints.js';
import { backfill } from '../../src/ops/backfill.js';
import { archiveEnv, startArchiver, waitFor } from '../helpers/archive-env.js';
import type { ArchiveEnv } from '../helpers/archive-env.js';
import { HOUR, hourKey } from '../helpers/archive-keys.js';
import { runCli, startCli, stderrText } from '../helpers/archiver-process.js';

const N = 18;

function docs(start: number, n: number, tag: string): Document[] {
  return Array.from({ length: n }, (_, k) => ({ _id: new ObjectId(), createdAt: new Date(start + 60_000 + k * 1000), path: `/${tag}/${k}` }));
}

/** Archives `hours` (N documents each) with backfill; returns their documents by hour start. */
async function archived(env: ArchiveEnv, hours: number[]): Promise<Map<number, Document[]>> {
  const out = new Map(hours.map((h) => [h, docs(h, N, String(h))]));
  await env.client.db(env.db).collection('apilogs').insertMany([...out.values()].flat());
  const ctx = openSharedContext(env.config(), env.client, silentLogger);
  try {
    await backfill(ctx, ctx.clock, { from: Math.min(...hours), to: Math.max(...hours) + HOUR, dueBefore: Date.now() });
  } finally {
    await ctx.close();
  }
  return out;
}

function countIn(apilogs: Collection<Document>, h: number): Promise<number> {
  return apilogs.countDocuments({ createdAt: { $gte: new Date(h), $lt: new Date(h + HOUR) } });
}

/** The `_id`s (JSON text) of every object of the hour, read with node:zlib alone. */
async function archivedIds(env: ArchiveEnv, h: number): Promise<Set<string>> {
  const ids = new Set<string>();
  for (const part of ['', '.part2', '.part3']) {
    const bytes = await fs.readFile(join(env.archiveDirectory, hourKey(h, { part }))).catch(() => undefined);
    if (!bytes) continue;
    for (const line of gunzipSync(bytes).toString('utf8').split('\n')) if (line !== '') ids.add(JSON.stringify((JSON.parse(line) as { _id: unknown })._id));
  }
  return ids;
}

const hexId = (d: Document): string => JSON.stringify((d._id as ObjectId).toHexString());
const hourId = (h: number): string => `${new Date(h).toISOString().slice(0, 16)}+00:00`;
const SLOW = { PURGE_BATCH_SIZE: '3', PURGE_MAX_DOCUMENTS_PER_SECOND: '6' };

test('SIGKILL during a purge: the hour reads purging, reconciles purged, and a rerun finishes it deleting only archived documents', async () => {
  const env = await archiveEnv();
  try {
    const h0 = Math.floor(Date.now() / HOUR) * HOUR - 50 * HOUR;
    const h1 = h0 + HOUR;
    const originals = await archived(env, [h0, h1]);
    const apilogs = env.client.db(env.db).collection('apilogs');
    // One document a second: the first hour takes N seconds, time enough for what follows.
    const child = startCli(['purge', '--no-env-file', '--older-than', '1d', '--json'], env.env({ PURGE_BATCH_SIZE: '1', PURGE_MAX_DOCUMENTS_PER_SECOND: '1' }));
    // Part-way through the first hour: some of its documents deleted, not all.
    await waitFor(async () => {
      const n = await countIn(apilogs, h0);
      return n > 0 && n < N - 1;
    }, 30_000, 'the purge part-way through the first hour');
    // A second purge of the namespace meanwhile is refused, naming the one running.
    const second = await runCli(['purge', '--no-env-file', '--older-than', '1d', '--json'], env.env());
    assert.equal(second.code, 3, second.stdout + second.stderr);
    assert.match(stderrText(second.stderr), /owns .*#purge: "purge" on .*\(pid \d+\)/);
    child.child.kill('SIGKILL');
    const killed = await child.exited;
    assert.equal(killed.signal, 'SIGKILL');
    const left = await countIn(apilogs, h0);
    assert.ok(left > 0 && left < N, `killed mid-hour (${left} of ${N} left)`);
    assert.equal(await countIn(apilogs, h1), N, 'the second hour not begun');

    // The interrupted hour: status names it, reconcile says purged (not mismatch).
    const st = JSON.parse((await runCli(['status', '--no-env-file', '--json'], env.env())).stdout) as { purge: { interrupted: string[] }; attention: string[] };
    assert.deepEqual(st.purge.interrupted, [hourId(h0)]);
    assert.ok(st.attention.some((a) => a.includes('interrupted')), st.attention.join('\n'));
    const rec = await runCli(['reconcile', '--no-env-file', '--from', new Date(h0).toISOString(), '--to', new Date(h0 + HOUR).toISOString(), '--deep', '--json'], env.env());
    assert.equal(rec.code, 0, rec.stdout + rec.stderr);
    const [row] = JSON.parse(rec.stdout) as Array<{ status: string; mongo: number; archived: number; detail: string }>;
    assert.deepEqual([row?.status, row?.mongo, row?.archived], ['purged', left, N]);
    assert.match(row?.detail ?? '', /interrupted/);

    // The rerun (the killed process's purge lease is taken over at once: its pid is gone).
    const rerun = await runCli(['purge', '--no-env-file', '--older-than', '1d', '--json'], env.env());
    assert.equal(rerun.code, 0, rerun.stdout + rerun.stderr);
    const rep = JSON.parse(rerun.stdout) as { hours: Array<{ hour: string; action: string; deleted: number; resumed?: boolean }> };
    assert.deepEqual(rep.hours.map((h) => [h.hour, h.action, h.deleted, h.resumed ?? false]), [
      [hourId(h0), 'purged', left, true],
      [hourId(h1), 'purged', N, false],
    ]);
    assert.equal(await countIn(apilogs, h0), 0);
    assert.equal(await countIn(apilogs, h1), 0);
    // Nothing deleted that the archive does not hold.
    for (const h of [h0, h1]) {
      const ids = await archivedIds(env, h);
      for (const d of originals.get(h) ?? []) assert.ok(ids.has(hexId(d)), `deleted ${hexId(d)} is archived`);
    }
    const after = JSON.parse((await runCli(['status', '--no-env-file', '--json'], env.env())).stdout) as { purge: { horizon: string; interrupted: string[] } };
    assert.deepEqual([after.purge.horizon, after.purge.interrupted], [hourId(h1), []]);
  } finally {
    await env.close();
  }
});

test('a document written to an hour while it is purged is not deleted; run archives it as a late part and the hour reconciles purged', async () => {
  const env = await archiveEnv();
  const h0 = Math.floor(Date.now() / HOUR) * HOUR - 30 * HOUR;
  await archived(env, [h0]);
  const apilogs = env.client.db(env.db).collection('apilogs');
  // `run` captures (holding the namespace lease) while purge runs beside it.
  const archiver = await startArchiver(env.config());
  try {
    const child = startCli(['purge', '--no-env-file', '--older-than', '1d', '--json'], env.env(SLOW));
    await waitFor(async () => (await countIn(apilogs, h0)) < N - 3, 30_000, 'the purge part-way through the hour');
    const late = { _id: new ObjectId(), createdAt: new Date(h0 + 40 * 60_000), path: '/late' };
    const captured = archiver.stats().capture.captured;
    await apilogs.insertOne(late);
    const done = await child.exited;
    assert.equal(done.code, 0, done.stdout + done.stderr);
    const rep = JSON.parse(done.stdout) as { hours: Array<{ action: string; deleted: number }> };
    assert.deepEqual(rep.hours.map((h) => [h.action, h.deleted]), [['purged', N]]);
    assert.ok(await apilogs.findOne({ _id: late._id }), 'the late document is still in MongoDB');
    assert.equal(await countIn(apilogs, h0), 1);

    // `run` captured it into a spool file of the hour: until that is delivered, purge does not
    // take the hour (capture-pending).
    await waitFor(() => archiver.stats().capture.captured === captured + 1, 20_000, 'the late document captured');
    const jobs = env.client.db(env.db).collection('jobs');
    await waitFor(async () => (await new CheckpointStore(jobs, `${env.db}.apilogs`).load())?.spool.files.some((f) => f.hour === h0) ?? false, 20_000, 'the hour in the checkpoint');
    const pending = await runCli(['purge', '--no-env-file', '--older-than', '1d', '--json', '--dry-run'], env.env());
    assert.deepEqual((JSON.parse(pending.stdout) as { hours: Array<{ reason?: string }> }).hours.map((h) => h.reason), ['capture-pending']);
    // Its next seal run delivers it as a late part of the hour.
    await archiver.sealNow();
    assert.ok((await archivedIds(env, h0)).has(hexId(late)), 'the late document is archived');
    const rec = await runCli(['reconcile', '--no-env-file', '--from', new Date(h0).toISOString(), '--to', new Date(h0 + HOUR).toISOString(), '--deep', '--json'], env.env());
    assert.equal(rec.code, 0, rec.stdout + rec.stderr);
    const [row] = JSON.parse(rec.stdout) as Array<{ status: string; mongo: number; archived: number }>;
    assert.deepEqual([row?.status, row?.mongo, row?.archived], ['purged', 1, N + 1]);
  } finally {
    await archiver.close();
    await env.close();
  }
});
