/**
 * Issue 15 item 4: readers that glob the archive (`read_json_auto('…/*.ndjson.gz')`, the
 * README's own example) must count every document once. Hours archived through the CLI are
 * damaged in every way reconcile repairs (an object altered, an object deleted, documents written
 * to MongoDB only) and rebuilt (`backfill --force`); afterwards an independent reader of every
 * `*.ndjson.gz` object, under the data prefix and under the whole destination, finds each `_id`
 * exactly once. The altered object is kept for audit outside the data prefix, never deleted.
 * An archive left by a version that rebuilt hours from scratch (a superseded object beside its
 * `.rev1`) is flagged by reconcile and put right by --repair, without losing what only the
 * superseded object held.
 */
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { gunzipSync, gzipSync } from 'node:zlib';
import { after, before, test } from 'node:test';
import { ObjectId } from 'mongodb';
import { archiveEnv } from '../helpers/archive-env.js';
import { globObjects, idCounts, snapshotFiles } from '../helpers/archive-glob.js';
import { HOUR, hourKey } from '../helpers/archive-keys.js';
import { runCli } from '../helpers/archiver-process.js';
import { startTestMongo } from '../helpers/mongo.js';
import type { TestMongo } from '../helpers/mongo.js';

let mongo: TestMongo;
before(async () => {
  mongo = await startTestMongo();
});
after(async () => {
  await mongo.close();
});

function docs(hour: number, n: number, tag: string): Array<{ _id: ObjectId; createdAt: Date; path: string }> {
  return Array.from({ length: n }, (_, i) => ({ _id: new ObjectId(), createdAt: new Date(hour + 1000 + i * 60_000), path: `/${tag}/${i}` }));
}

test('after repairs and rebuilds, a glob over *.ndjson.gz reads every _id exactly once; the replaced object is kept outside the data prefix', async () => {
  const env = await archiveEnv(mongo);
  try {
    const h0 = Math.floor(Date.now() / HOUR) * HOUR - 40 * HOUR;
    const hours = [h0, h0 + HOUR, h0 + 2 * HOUR, h0 + 3 * HOUR];
    const apilogs = env.client.db(env.db).collection('apilogs');
    await apilogs.insertMany(hours.flatMap((h, i) => docs(h, 30, `h${i}`)));
    const range = ['--from', new Date(h0).toISOString(), '--to', new Date(h0 + 4 * HOUR).toISOString()];
    const bf = await runCli(['backfill', '--no-env-file', ...range, '--json'], env.env());
    assert.equal(bf.code, 0, bf.stdout + bf.stderr);

    // Hour 0: its object altered (one line changed, recompressed: still readable, other bytes).
    const altered = join(env.archiveDirectory, hourKey(h0));
    const lines = gunzipSync(await fs.readFile(altered)).toString('utf8').split('\n');
    lines[0] = lines[0]!.replace(/"path":"[^"]*"/, '"path":"/tampered"');
    assert.match(lines[0]!, /tampered/);
    await fs.writeFile(altered, gzipSync(lines.join('\n')));
    const alteredBytes = await fs.readFile(altered);
    // Hour 1: its object deleted. Hour 2: documents written to MongoDB only.
    await fs.rm(join(env.archiveDirectory, hourKey(h0 + HOUR)));
    await apilogs.insertMany(docs(h0 + 2 * HOUR, 5, 'mongo-only').map((d, i) => ({ ...d, createdAt: new Date(h0 + 2 * HOUR + 45 * 60_000 + i) })));

    const repair = await runCli(['reconcile', '--no-env-file', ...range, '--deep', '--repair', '--json'], env.env());
    assert.equal(repair.code, 0, repair.stdout + repair.stderr);
    // Hour 3: rebuilt although verified.
    const force = await runCli(['backfill', '--no-env-file', '--from', new Date(h0 + 3 * HOUR).toISOString(), '--to', new Date(h0 + 4 * HOUR).toISOString(), '--force', '--json'], env.env());
    assert.equal(force.code, 0, force.stdout + force.stderr);
    // And once more, everything: nothing left to repair changes nothing.
    const before = await snapshotFiles(env.archiveDirectory);
    const again = await runCli(['reconcile', '--no-env-file', ...range, '--deep', '--repair', '--json'], env.env());
    assert.equal(again.code, 0, again.stdout + again.stderr);
    assert.deepEqual(await snapshotFiles(env.archiveDirectory), before);

    const inMongo = (await apilogs.find({}, { projection: { _id: 1 } }).toArray()).map((d) => JSON.stringify((d._id as ObjectId).toHexString()));
    assert.equal(inMongo.length, 125);
    for (const [where, prefix] of [['the data prefix', 'api-logs'], ['the whole destination', '']] as const) {
      const counts = idCounts(await globObjects(env.archiveDirectory, prefix));
      const twice = [...counts].filter(([, n]) => n !== 1);
      assert.deepEqual(twice, [], `no _id is read twice by a glob over ${where}`);
      assert.deepEqual([...counts.keys()].sort(), inMongo.sort(), `a glob over ${where} reads every document once`);
    }
    // The altered object was moved out of the data prefix, not deleted.
    const kept = [...before].filter(([key]) => !key.startsWith('api-logs/'));
    assert.equal(kept.length, 1, `one object kept for audit: ${kept.map(([k]) => k).join(', ')}`);
    assert.ok(kept[0]![0].startsWith(`_superseded/${hourKey(h0)}`), kept[0]![0]);
    assert.ok(kept[0]![1].equals(alteredBytes), 'the audit copy holds the bytes that were replaced');
  } finally {
    await env.close();
  }
});

test('a superseded object left beside its .rev1 by an earlier version is flagged, and --repair keeps what only it held and moves it out', async () => {
  const env = await archiveEnv(mongo);
  try {
    const h = Math.floor(Date.now() / HOUR) * HOUR - 50 * HOUR;
    const apilogs = env.client.db(env.db).collection('apilogs');
    const all = docs(h, 30, 'old');
    await apilogs.insertMany(all);
    const range = ['--from', new Date(h).toISOString(), '--to', new Date(h + HOUR).toISOString()];
    const bf = await runCli(['backfill', '--no-env-file', ...range, '--json'], env.env());
    assert.equal(bf.code, 0, bf.stdout + bf.stderr);
    // What the earlier `reconcile --repair` did after 5 documents were deleted from MongoDB: a
    // `.rev1` of what MongoDB still had, listed alone by the manifest and the ledger; the
    // original object left in place.
    const deleted = all.slice(0, 5);
    await apilogs.deleteMany({ _id: { $in: deleted.map((d) => d._id) } });
    const gone = new Set(deleted.map((d) => d._id.toHexString()));
    const original = await fs.readFile(join(env.archiveDirectory, hourKey(h)));
    const kept = gunzipSync(original)
      .toString('utf8')
      .split('\n')
      .filter((l) => l.length > 0 && !gone.has((JSON.parse(l) as { _id: string })._id));
    const rev1 = gzipSync(`${kept.join('\n')}\n`);
    await fs.writeFile(join(env.archiveDirectory, hourKey(h, { part: '.rev1' })), rev1);
    const manifestPath = join(env.archiveDirectory, hourKey(h, { ext: '.manifest.json' }));
    const manifest = JSON.parse(await fs.readFile(manifestPath, 'utf8')) as { count: number; bytes: number; parts: Array<Record<string, unknown>> };
    const part = { ...manifest.parts[0], key: hourKey(h, { part: '.rev1' }), revision: 1, count: 25, bytes: rev1.length, sha256: createHash('sha256').update(rev1).digest('hex') };
    await fs.writeFile(manifestPath, JSON.stringify({ ...manifest, count: 25, bytes: rev1.length, parts: [part] }, null, 2));
    const jobs = env.client.db(env.db).collection('jobs');
    const day = await jobs.findOne({ kind: 'day' });
    const [hourId] = Object.entries(day!.hours as Record<string, { start: Date }>).find(([, r]) => r.start.getTime() === h)!;
    await jobs.updateOne({ _id: day!._id }, { $set: { [`hours.${hourId}.parts`]: [part], [`hours.${hourId}.count`]: 25 } });
    const doubled = idCounts(await globObjects(env.archiveDirectory, 'api-logs'));
    assert.equal([...doubled.values()].filter((n) => n === 2).length, 25, 'the state the issue found: a glob reads 25 documents twice');

    const args = ['reconcile', '--no-env-file', ...range, '--json'];
    const check = await runCli(args, env.env());
    assert.equal(check.code, 1, check.stdout + check.stderr);
    const [row] = JSON.parse(check.stdout) as Array<{ status: string; detail: string }>;
    assert.equal(row!.status, 'mismatch');
    assert.match(row!.detail, new RegExp(`not listed in the manifest.*${hourKey(h).replace(/[.]/g, '\\.')}`));
    const repair = await runCli([...args, '--repair'], env.env());
    assert.equal(repair.code, 0, repair.stdout + repair.stderr);
    assert.deepEqual(
      (JSON.parse(repair.stdout) as Array<{ mongo: number; archived: number; status: string; repaired?: boolean }>).map((r) => [r.mongo, r.archived, r.status, r.repaired]),
      [[25, 30, 'deleted-at-source', true]],
    );
    const objects = await globObjects(env.archiveDirectory, '');
    const counts = idCounts(objects);
    assert.deepEqual([...counts.keys()].sort(), all.map((d) => JSON.stringify(d._id.toHexString())).sort(), 'every document ever archived, once');
    assert.ok([...counts.values()].every((n) => n === 1));
    assert.deepEqual(
      objects.map((o) => [o.key, o.ids.length]),
      [
        [hourKey(h, { part: '.part2' }), 5],
        [hourKey(h, { part: '.rev1' }), 25],
      ],
    );
    const audit = await fs.readdir(join(env.archiveDirectory, '_superseded', ...hourKey(h).split('/').slice(0, -1)));
    assert.equal(audit.length, 1);
    assert.ok((await fs.readFile(join(env.archiveDirectory, '_superseded', ...hourKey(h).split('/').slice(0, -1), audit[0]!))).equals(original));
    const deep = await runCli([...args, '--deep'], env.env());
    assert.equal(deep.code, 0, deep.stdout + deep.stderr);
  } finally {
    await env.close();
  }
});
