/**
 * Issue 15 item 3: `reconcile --repair` must never make the archive forget. Hours are archived
 * through the CLI (`backfill`), then documents are deleted from MongoDB (by the application, or
 * the whole collection dropped) and a few new ones written to the same hour. `--repair` adds what
 * the archive lacks as a new part and keeps every archived document; an hour that only lost
 * documents at the source is reported `deleted-at-source` and left exactly as it was.
 */
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ObjectId } from 'mongodb';
import { archiveEnv } from '../helpers/archive-env.js';
import type { ArchiveEnv } from '../helpers/archive-env.js';
import { globObjects, idCounts, snapshotFiles } from '../helpers/archive-glob.js';
import { HOUR, hourKey } from '../helpers/archive-keys.js';
import { runCli } from '../helpers/archiver-process.js';
import type { CliResult } from '../helpers/archiver-process.js';
import { startTestMongo } from '../helpers/mongo.js';
import type { TestMongo } from '../helpers/mongo.js';

let mongo: TestMongo;
before(async () => {
  mongo = await startTestMongo();
});
after(async () => {
  await mongo.close();
});

interface Row {
  hour: string;
  mongo: number;
  archived: number;
  status: string;
  detail?: string;
  repaired?: boolean;
}

function docs(hour: number, n: number, tag: string): Array<{ _id: ObjectId; createdAt: Date; path: string }> {
  return Array.from({ length: n }, (_, i) => ({ _id: new ObjectId(), createdAt: new Date(hour + 1000 + i * 30_000), path: `/${tag}/${i}` }));
}

const idOf = (d: { _id: ObjectId }): string => JSON.stringify(d._id.toHexString());

function rows(r: CliResult): Row[] {
  assert.ok(r.stdout.trim().startsWith('['), `JSON rows expected (exit ${r.code}): ${r.stdout}${r.stderr}`);
  return JSON.parse(r.stdout) as Row[];
}

async function archiveHours(env: ArchiveEnv, from: number, to: number): Promise<void> {
  const bf = await runCli(['backfill', '--no-env-file', '--from', new Date(from).toISOString(), '--to', new Date(to).toISOString(), '--json'], env.env());
  assert.equal(bf.code, 0, bf.stdout + bf.stderr);
}

test('repair after deletes and new documents adds a new part and keeps every archived _id; a deletes-only hour is deleted-at-source and unchanged', async () => {
  const env = await archiveEnv(mongo);
  try {
    const h0 = Math.floor(Date.now() / HOUR) * HOUR - 30 * HOUR;
    const h1 = h0 + HOUR;
    const apilogs = env.client.db(env.db).collection('apilogs');
    const first = docs(h0, 60, 'a');
    const second = docs(h1, 40, 'b');
    await apilogs.insertMany([...first, ...second]);
    await archiveHours(env, h0, h1 + HOUR);
    const archived = [...first, ...second].map(idOf);
    const before = await snapshotFiles(env.archiveDirectory);

    // The application deletes documents of both hours and writes a few new ones into the first.
    await apilogs.deleteMany({ _id: { $in: [...first.slice(0, 10), ...second.slice(5, 13)].map((d) => d._id) } });
    const late = docs(h0, 4, 'new').map((d, i) => ({ ...d, createdAt: new Date(h0 + 40 * 60_000 + i) }));
    await apilogs.insertMany(late);

    const args = ['reconcile', '--no-env-file', '--from', new Date(h0).toISOString(), '--to', new Date(h1 + HOUR).toISOString(), '--json'];
    const plain = await runCli(args, env.env());
    const deep = await runCli([...args, '--deep'], env.env());
    const repaired = await runCli([...args, '--repair'], env.env());

    // What the archive holds after the repair, read by an independent reader: every archived
    // _id exactly once, the new ones exactly once, in the new part of their hour.
    const objects = await globObjects(env.archiveDirectory, 'api-logs');
    const counts = idCounts(objects);
    for (const id of archived) assert.equal(counts.get(id), 1, `archived _id ${id} is in exactly one object after the repair`);
    for (const id of late.map(idOf)) assert.equal(counts.get(id), 1, `new _id ${id} is archived once`);
    assert.equal(counts.size, archived.length + late.length, 'nothing else is under the data prefix');
    const part2 = objects.find((o) => o.key === hourKey(h0, { part: '.part2' }));
    assert.deepEqual(part2?.ids.slice().sort(), late.map(idOf).sort(), 'the new part holds exactly the _ids the archive lacked');
    // The objects archived before are untouched; the deletes-only hour is untouched altogether.
    const afterRepair = await snapshotFiles(env.archiveDirectory);
    for (const [key, bytes] of before) {
      if (key === hourKey(h0, { ext: '.manifest.json' })) continue;
      assert.ok(afterRepair.get(key)?.equals(bytes), `${key} is unchanged`);
    }
    assert.deepEqual([...afterRepair.keys()].filter((k) => !before.has(k)), [hourKey(h0, { part: '.part2' })], 'the repair added one object');
    const manifest = JSON.parse(await fs.readFile(join(env.archiveDirectory, hourKey(h0, { ext: '.manifest.json' })), 'utf8')) as {
      count: number;
      parts: Array<{ key: string; count: number }>;
    };
    assert.deepEqual(manifest.parts.map((p) => [p.key, p.count]), [[hourKey(h0), 60], [hourKey(h0, { part: '.part2' }), 4]]);
    assert.equal(manifest.count, 64, 'the manifest counts the union');

    // What reconcile said before the repair: fewer in MongoDB is reported as such; --deep, which
    // compares _ids, also sees that the first hour lacks the new documents.
    assert.equal(plain.code, 0, plain.stdout + plain.stderr);
    assert.deepEqual(rows(plain).map((r) => [r.mongo, r.archived, r.status]), [[54, 60, 'deleted-at-source'], [32, 40, 'deleted-at-source']]);
    assert.equal(deep.code, 1, deep.stdout + deep.stderr);
    const deepRows = rows(deep);
    assert.deepEqual(deepRows.map((r) => r.status), ['mismatch', 'deleted-at-source']);
    assert.match(deepRows[0]!.detail ?? '', /4 documents? .*lacks|lacks 4/);
    // And the repair's own report.
    assert.equal(repaired.code, 0, repaired.stdout + repaired.stderr);
    assert.deepEqual(rows(repaired).map((r) => [r.mongo, r.archived, r.status, r.repaired ?? false]), [
      [54, 64, 'deleted-at-source', true],
      [32, 40, 'deleted-at-source', false],
    ]);

    // A second repair, deep this time, finds nothing to add and changes nothing.
    const again = await runCli([...args, '--deep', '--repair'], env.env());
    assert.equal(again.code, 0, again.stdout + again.stderr);
    assert.deepEqual(rows(again).map((r) => [r.status, r.repaired ?? false]), [['deleted-at-source', false], ['deleted-at-source', false]]);
    assert.deepEqual(await snapshotFiles(env.archiveDirectory), afterRepair);
  } finally {
    await env.close();
  }
});

test('after the collection is dropped, repair reports every hour deleted-at-source and leaves the archive as it was', async () => {
  const env = await archiveEnv(mongo);
  try {
    const h0 = Math.floor(Date.now() / HOUR) * HOUR - 20 * HOUR;
    const apilogs = env.client.db(env.db).collection('apilogs');
    await apilogs.insertMany([...docs(h0, 30, 'a'), ...docs(h0 + HOUR, 20, 'b')]);
    await archiveHours(env, h0, h0 + 2 * HOUR);
    const before = await snapshotFiles(env.archiveDirectory);
    await apilogs.drop();
    const args = ['reconcile', '--no-env-file', '--from', new Date(h0).toISOString(), '--to', new Date(h0 + 2 * HOUR).toISOString(), '--json', '--repair'];
    const r = await runCli(args, env.env());
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.deepEqual(rows(r).map((x) => [x.mongo, x.archived, x.status, x.repaired ?? false]), [
      [0, 30, 'deleted-at-source', false],
      [0, 20, 'deleted-at-source', false],
    ]);
    assert.deepEqual(await snapshotFiles(env.archiveDirectory), before, 'nothing in the archive changed');
  } finally {
    await env.close();
  }
});
