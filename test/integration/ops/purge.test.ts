/**
 * Issue 18, purge: `purge --older-than` deletes from MongoDB only the documents of hours proven
 * archived at that moment, and skips every other hour with its reason; `--dry-run` deletes and
 * records nothing; each purged hour is recorded in `logs` with the objects it was proven against;
 * `reconcile` then says `purged` (and `ok` once the hour is restored into the source), `status`
 * shows the purge horizon, and a document written to a purged hour later is archived as a late
 * part and purged by the next purge.
 *
 * Hours (UTC, three days ago), archived by `backfill` unless said otherwise:
 *   h0, h1  proven: purged
 *   h2      an object tampered with (one byte changed, same size)       tampered-object
 *   h3      an object removed from the destination                      missing-object
 *   h4      a document written to MongoDB after the hour was archived   source-not-archived
 *   h5      a document deleted from MongoDB after it was archived       archive-not-in-source
 *   h6      like h4, and `reconcile` recorded the mismatch              mismatch
 *   h7      captured by `run`, whose delivery failed                    not-delivered
 *   h8      never archived                                              not-archived
 */
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import type { Collection, Document } from 'mongodb';
import { ObjectId } from 'mongodb';
import { openSharedContext } from '../../../src/archive-context.js';
import type { SharedContext } from '../../../src/archive-context.js';
import { silentLogger } from '../../../src/log.js';
import { backfill } from '../../../src/ops/backfill.js';
import { reconcileRange } from '../../../src/reconcile/reconcile.js';
import { archiveEnv, startArchiver, waitFor } from '../../helpers/archive-env.js';
import type { ArchiveEnv } from '../../helpers/archive-env.js';
import { HOUR, hourKey } from '../../helpers/archive-keys.js';
import { runCli } from '../../helpers/archiver-process.js';
import type { CliResult } from '../../helpers/archiver-process.js';

interface Row {
  hour: string;
  action: string;
  mongo: number;
  archived: number | null;
  deleted: number;
  reason?: string;
  detail?: string;
  resumed?: boolean;
  objects?: Array<{ key: string; sha256: string; bytes: number; count: number }>;
}
interface Report {
  dryRun: boolean;
  hours: Row[];
  purged: number;
  skipped: number;
  deleted: number;
  alreadyPurged: number;
}

const N = 6;
let env: ArchiveEnv;
let ctx: SharedContext;
let apilogs: Collection<Document>;
let h0: number;
const hour = (i: number): number => h0 + i * HOUR;
const hourId = (i: number): string => `${new Date(hour(i)).toISOString().slice(0, 16)}+00:00`;
const originals = new Map<number, Document[]>();

function docs(i: number, n: number, tag: string): Document[] {
  return Array.from({ length: n }, (_, k) => ({ _id: new ObjectId(), createdAt: new Date(hour(i) + 60_000 + k * 1000 + (tag === 'late' ? 30 * 60_000 : 0)), path: `/${tag}/${i}/${k}` }));
}

async function countIn(i: number): Promise<number> {
  return apilogs.countDocuments({ createdAt: { $gte: new Date(hour(i)), $lt: new Date(hour(i + 1)) } });
}

/** The `_id`s (JSON text) an object of the file destination holds, read with node:zlib alone. */
async function objectIds(key: string): Promise<string[]> {
  const text = gunzipSync(await fs.readFile(join(env.archiveDirectory, key))).toString('utf8');
  return text.split('\n').filter((l) => l !== '').map((l) => JSON.stringify((JSON.parse(l) as { _id: unknown })._id));
}

function report(r: CliResult): Report {
  assert.ok(r.stdout.trim().startsWith('{'), `JSON report expected (exit ${r.code}): ${r.stdout}${r.stderr}`);
  return JSON.parse(r.stdout) as Report;
}

function rows(r: CliResult): Array<{ hour: string; mongo: number; archived: number | null; status: string; detail?: string }> {
  assert.ok(r.stdout.trim().startsWith('['), `JSON rows expected (exit ${r.code}): ${r.stdout}${r.stderr}`);
  return JSON.parse(r.stdout) as Array<{ hour: string; mongo: number; archived: number | null; status: string; detail?: string }>;
}

const purge = (...extra: string[]): Promise<CliResult> => runCli(['purge', '--no-env-file', '--older-than', '1d', '--json', ...extra], env.env());
const reconcile = (from: number, to: number, ...extra: string[]): Promise<CliResult> =>
  runCli(['reconcile', '--no-env-file', '--from', new Date(from).toISOString(), '--to', new Date(to).toISOString(), '--json', ...extra], env.env());

before(async () => {
  env = await archiveEnv();
  h0 = Math.floor(Date.now() / HOUR) * HOUR - 72 * HOUR;
  ctx = openSharedContext(env.config(), env.client, silentLogger);
  apilogs = env.client.db(env.db).collection('apilogs');
  for (let i = 0; i <= 6; i++) originals.set(i, docs(i, N, 'a'));
  await apilogs.insertMany([...originals.values()].flat());
  await backfill(ctx, ctx.clock, { from: hour(0), to: hour(7), dueBefore: Date.now() });

  // h2: one byte of its object changed (same size); h3: its object removed.
  const tampered = join(env.archiveDirectory, hourKey(hour(2)));
  const bytes = await fs.readFile(tampered);
  const middle = Math.floor(bytes.length / 2);
  bytes[middle] = (bytes[middle] as number) ^ 0xff;
  await fs.writeFile(tampered, bytes);
  await fs.rm(join(env.archiveDirectory, hourKey(hour(3))));
  // h4, h6: a document written after the hour was archived (h6: reconcile recorded the mismatch).
  await apilogs.insertMany([...docs(4, 1, 'late'), ...docs(6, 1, 'late')]);
  await reconcileRange(ctx, ctx.clock, { from: hour(6), to: hour(7) });
  // h5: a document deleted from MongoDB after it was archived.
  await apilogs.deleteOne({ _id: (originals.get(5) as Document[])[0]?._id });

  // h7: captured by `run`, whose delivery fails (its destination directory is a file).
  const notADirectory = join(env.dir, 'not-a-directory');
  await fs.writeFile(notADirectory, 'x');
  const archiver = await startArchiver(env.config({ localDirectory: notADirectory, retryAttempts: 0 }));
  try {
    const captured = archiver.stats().capture.captured;
    originals.set(7, docs(7, N, 'a'));
    await apilogs.insertMany(originals.get(7) as Document[]);
    await waitFor(() => archiver.stats().capture.captured === captured + N, 20_000, 'h7 captured');
    const sealed = await archiver.sealNow();
    assert.equal(sealed.hours.find((h) => h.start === hour(7))?.status, 'failed', 'the delivery of h7 failed');
  } finally {
    await archiver.close();
  }
  // h8: never archived.
  await apilogs.insertMany(docs(8, N, 'a'));
});

after(async () => {
  await ctx?.close();
  await env?.close();
});

const EXPECTED_SKIPS: Array<[number, string]> = [
  [2, 'tampered-object'],
  [3, 'missing-object'],
  [4, 'source-not-archived'],
  [5, 'archive-not-in-source'],
  [6, 'mismatch'],
  [7, 'not-delivered'],
  [8, 'not-archived'],
];

test('--dry-run proves every hour, reports what it would delete and why it would skip, and deletes and records nothing', async () => {
  const before = await Promise.all([0, 1, 2, 3, 4, 5, 6, 7, 8].map(countIn));
  const r = await purge('--dry-run');
  assert.equal(r.code, 1, 'some hours are skipped: exit 1');
  const rep = report(r);
  assert.equal(rep.dryRun, true);
  assert.deepEqual(rep.hours.map((h) => [h.hour, h.action, h.deleted]).slice(0, 2), [[hourId(0), 'would-purge', N], [hourId(1), 'would-purge', N]]);
  assert.deepEqual(rep.hours.slice(2).map((h) => [h.hour, h.action, h.reason]), EXPECTED_SKIPS.map(([i, reason]) => [hourId(i), 'skipped', reason]));
  assert.deepEqual(await Promise.all([0, 1, 2, 3, 4, 5, 6, 7, 8].map(countIn)), before, 'nothing deleted');
  assert.equal(await env.client.db(env.db).collection('logs').countDocuments({ op: 'purge' }), 0, 'nothing recorded in logs');
  assert.equal((await ctx.ledger.get(ctx.clock.slotAt(hour(0))))?.purge, undefined, 'no purge marker');
});

test('purge deletes the documents of proven hours only, records each hour in logs, and skips every other hour with its reason', async () => {
  const before = await Promise.all([2, 3, 4, 5, 6, 7, 8].map(countIn));
  const r = await purge();
  assert.equal(r.code, 1, `some hours are skipped: exit 1\n${r.stderr}`);
  const rep = report(r);
  assert.deepEqual(rep.hours.map((h) => [h.hour, h.action, h.mongo, h.deleted]).slice(0, 2), [[hourId(0), 'purged', N, N], [hourId(1), 'purged', N, N]]);
  assert.deepEqual(rep.hours.slice(2).map((h) => [h.hour, h.action, h.reason]), EXPECTED_SKIPS.map(([i, reason]) => [hourId(i), 'skipped', reason]));
  for (const h of rep.hours.slice(2)) assert.ok((h.detail ?? '').length > 20, `${h.hour} says why: ${h.detail}`);
  assert.equal(rep.deleted, 2 * N);

  // MongoDB: the purged hours are empty, every other hour is as it was.
  assert.equal(await countIn(0), 0);
  assert.equal(await countIn(1), 0);
  assert.deepEqual(await Promise.all([2, 3, 4, 5, 6, 7, 8].map(countIn)), before, 'skipped hours untouched');
  // Every deleted document is in the archive (an independent reader of the objects).
  const archivedIds = new Set([...(await objectIds(hourKey(hour(0)))), ...(await objectIds(hourKey(hour(1))))]);
  for (const d of [...(originals.get(0) ?? []), ...(originals.get(1) ?? [])]) assert.ok(archivedIds.has(JSON.stringify((d._id as ObjectId).toHexString())));

  // logs: one record per purged hour, naming the objects with their SHA-256 as the manifest lists them.
  const logs = env.client.db(env.db).collection('logs');
  for (const i of [0, 1]) {
    const rec = await logs.findOne({ op: 'purge', hour: hourId(i), outcome: 'ok' });
    assert.ok(rec, `purge of ${hourId(i)} recorded`);
    assert.equal(rec.count, N);
    const manifest = JSON.parse(await fs.readFile(join(env.archiveDirectory, hourKey(hour(i), { ext: '.manifest.json' })), 'utf8')) as { parts: Array<{ key: string; sha256: string }> };
    const objects = (rec.details as { objects: Array<{ key: string; sha256: string }> }).objects;
    assert.deepEqual(objects.map((o) => [o.key, o.sha256]), manifest.parts.map((p) => [p.key, p.sha256]));
    assert.match(String((rec.details as { idsSha256: string }).idsSha256), /^[0-9a-f]{64}$/);
  }
  const skippedRecs = await logs.find({ op: 'purge', outcome: 'skipped' }).toArray();
  assert.deepEqual(skippedRecs.map((s) => [s.hour, (s.details as { reason: string }).reason]).sort(), EXPECTED_SKIPS.map(([i, reason]) => [hourId(i), reason]).sort());
});

test('reconcile reports purged hours as purged; status shows the purge horizon', async () => {
  const plain = await reconcile(hour(0), hour(2));
  const deep = await reconcile(hour(0), hour(2), '--deep');
  for (const r of [plain, deep]) {
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.deepEqual(rows(r).map((x) => [x.hour, x.mongo, x.archived, x.status]), [[hourId(0), 0, N, 'purged'], [hourId(1), 0, N, 'purged']]);
  }
  const st = await runCli(['status', '--no-env-file', '--json'], env.env());
  const status = JSON.parse(st.stdout) as { purge: { horizon: string | null; interrupted: string[]; running: boolean } };
  assert.deepEqual(status.purge, { horizon: hourId(1), interrupted: [], running: false });
  const text = await runCli(['status', '--no-env-file'], env.env());
  assert.match(text.stdout, new RegExp(`purged through\\s+${hourId(1).replace('+', '\\+')}`));
});

test('a purged hour restored into the source reconciles ok; a late write to a purged hour becomes a late part, the hour stays purged, and the next purge takes it', async () => {
  // h0 restored: the counts agree again.
  await apilogs.insertMany(originals.get(0) as Document[]);
  const restored = await reconcile(hour(0), hour(1), '--deep');
  assert.equal(restored.code, 0, restored.stdout + restored.stderr);
  assert.deepEqual(rows(restored).map((x) => [x.mongo, x.archived, x.status]), [[N, N, 'ok']]);

  // h1: a document written after the purge: not archived yet (mismatch), then a late part.
  const [late] = docs(1, 1, 'late') as [Document];
  await apilogs.insertOne(late);
  const lacking = await reconcile(hour(1), hour(2), '--deep');
  assert.equal(lacking.code, 1);
  assert.deepEqual(rows(lacking).map((x) => [x.mongo, x.archived, x.status]), [[1, N, 'mismatch']]);
  const repaired = await reconcile(hour(1), hour(2), '--repair', '--deep');
  assert.equal(repaired.code, 0, repaired.stdout + repaired.stderr);
  assert.deepEqual(rows(repaired).map((x) => [x.mongo, x.archived, x.status]), [[1, N + 1, 'purged']]);
  const lateKey = JSON.stringify((late._id as ObjectId).toHexString());
  assert.deepEqual(await objectIds(hourKey(hour(1), { part: '.part2' })), [lateKey], 'the late document is archived as a late part');

  // The next purge proves h1 again (MongoDB ⊆ archive) and deletes the late document; h0,
  // restored, is purged again as a fresh hour.
  const again = report(await purge('--from', new Date(hour(0)).toISOString()));
  const byHour = new Map(again.hours.map((h) => [h.hour, h]));
  assert.deepEqual([byHour.get(hourId(0))?.action, byHour.get(hourId(0))?.deleted], ['purged', N]);
  assert.deepEqual([byHour.get(hourId(1))?.action, byHour.get(hourId(1))?.deleted, byHour.get(hourId(1))?.resumed], ['purged', 1, true]);
  assert.equal(await countIn(0), 0);
  assert.equal(await countIn(1), 0);
});
