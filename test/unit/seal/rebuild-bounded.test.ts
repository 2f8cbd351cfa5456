/**
 * The repair of an hour (src/seal/rebuild.ts) with a key budget so small that it takes the
 * external way (the kept parts' `_id`s in hash-partitioned temp files, the hour's `_id`s listed
 * and the lacking documents fetched by `_id`) gives exactly what the in-memory way gives: the
 * same results and the same new part, line for line, through a first part, a late part, and a
 * repair with a damaged part, unlisted objects to salvage (holding repeats and an `_id` MongoDB
 * also has) and new documents, in both JSON modes. The temp files are removed. Documents
 * with Int64 `_id`s the archive lacks are added by the external way too (the emulator once listed
 * those `_id`s as Int32: none matched the documents fetched by `_id`, and none was added).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { after, before, test } from 'node:test';
import { Long, ObjectId } from 'mongodb';
import { openSharedContext } from '../../../src/archive-context.js';
import type { Destination } from '../../../src/deliver/destination.js';
import { silentLogger } from '../../../src/log.js';
import type { RepairResult } from '../../../src/seal/rebuild.js';
import { repairHour } from '../../../src/seal/rebuild.js';
import type { KeyBudget } from '../../../src/spool/key-files.js';
import { archiveEnv } from '../../helpers/archive-env.js';
import { startTestMongo } from '../../helpers/mongo.js';
import type { TestMongo } from '../../helpers/mongo.js';

const H0 = Date.parse('2024-03-10T05:00:00Z');

let mongo: TestMongo;
before(async () => {
  mongo = await startTestMongo();
});
after(async () => {
  await mongo.close();
});

function docs(n: number, from: number, tag: string): Array<{ _id: ObjectId; createdAt: Date; tag: string; i: number }> {
  return Array.from({ length: n }, (_, i) => ({ _id: ObjectId.createFromTime(Math.floor(H0 / 1000) + from + i), createdAt: new Date(H0 + (from + i) * 1000), tag, i }));
}
const A = docs(20, 0, 'a');
const B = docs(10, 100, 'b');
const C = docs(5, 200, 'c');
const X = [0, 1, 2].map((i) => ({ _id: `salvaged-${i}`, createdAt: { $date: new Date(H0 + 300_000 + i).toISOString() }, tag: 'x' }));

async function lines(destination: Destination, key: string): Promise<string[]> {
  const chunks: Buffer[] = [];
  for await (const chunk of await destination.get(key)) chunks.push(Buffer.from(chunk as Buffer));
  const { gunzipSync } = await import('node:zlib');
  return gunzipSync(Buffer.concat(chunks)).toString('utf8').split('\n').filter((l) => l.length > 0);
}

async function putObject(destination: Destination, dir: string, key: string, body: Buffer): Promise<void> {
  const path = join(dir, `obj-${Date.now()}-${Math.random()}`);
  await fs.writeFile(path, body);
  await destination.put({ key, source: { path }, size: body.length, sha256: createHash('sha256').update(body).digest('hex') });
  await fs.rm(path);
}

interface Outcome {
  results: Array<Omit<RepairResult, 'moved'> & { moved: string[] }>;
  newParts: string[][];
  leftovers: string[];
}

/** The three repairs on a fresh archive, with `budget`. */
async function scenario(jsonMode: 'analytics' | 'ejson', budget: KeyBudget | undefined): Promise<Outcome> {
  const env = await archiveEnv(mongo);
  const ctx = openSharedContext(env.config({ jsonMode }), env.client, silentLogger);
  try {
    const slot = ctx.clock.slotAt(H0);
    const apilogs = env.client.db(env.db).collection('apilogs');
    const out: Outcome = { results: [], newParts: [], leftovers: [] };
    const repair = async (): Promise<void> => {
      const r = await repairHour(ctx, slot, 'repair', budget);
      out.results.push({ ...r, moved: r.moved.map((m) => `${m.reason} ${m.key}`) });
      out.newParts.push(r.key === undefined ? [] : await lines(ctx.destination, r.key));
    };
    await apilogs.insertMany(A);
    await repair(); // the first part: nothing held
    await apilogs.insertMany(B);
    await repair(); // a late part: 20 held
    // Part 1 damaged; part 2's bytes again at an unlisted key; an unlisted object of lines MongoDB
    // lacks (one twice) and one it has (C[0]); then new documents.
    const part2 = await lines(ctx.destination, ctx.keys.dataKey(slot, { index: 2, revision: 0 }));
    await putObject(ctx.destination, env.dir, ctx.keys.dataKey(slot, { index: 1, revision: 0 }), gzipSync('{"_id":"garbage"}\n'));
    await putObject(ctx.destination, env.dir, ctx.keys.dataKey(slot, { index: 9, revision: 0 }), gzipSync(`${part2.join('\n')}\n`));
    const salvage = [...X, X[1], { _id: jsonMode === 'ejson' ? { $oid: C[0]?._id.toHexString() } : C[0]?._id.toHexString(), tag: 'c-salvaged' }].map((d) => JSON.stringify(d));
    await putObject(ctx.destination, env.dir, ctx.keys.dataKey(slot, { index: 8, revision: 0 }), gzipSync(`${salvage.join('\n')}\n`));
    await apilogs.insertMany(C);
    await repair();
    await repair(); // nothing left to add
    out.leftovers = (await fs.readdir(env.spoolDirectory).catch(() => [] as string[])).filter((n) => /ids-|repair-/.test(n));
    return out;
  } finally {
    await ctx.close();
    await env.close();
  }
}

for (const jsonMode of ['analytics', 'ejson'] as const) test(`${jsonMode}: a repair past the key budget (temp files, fetch by _id) gives the in-memory answers, line for line`, async () => {
  const memory = await scenario(jsonMode, undefined);
  const external = await scenario(jsonMode, { keysInMemory: 3 });
  // What the in-memory way gives (the answers before the external way existed).
  assert.deepEqual(memory.results.map((r) => [r.added, r.fromMongo, r.count, r.repeatedIds, r.moved.length]), [
    [20, 20, 20, 0, 0],
    [10, 10, 30, 0, 0],
    [4 + 20 + 4, 24, 38, 0, 3],
    [0, 0, 38, 0, 0],
  ]);
  assert.deepEqual(memory.newParts[2]?.slice(0, 4).map((l) => (JSON.parse(l) as { tag: string }).tag), ['x', 'x', 'x', 'c-salvaged']);
  assert.deepEqual(external.results, memory.results);
  assert.deepEqual(external.newParts, memory.newParts);
  assert.deepEqual(external.leftovers, []);
});

test('ejson: the external way adds the documents with Int64 _ids the archive lacks, and only those', async () => {
  const env = await archiveEnv(mongo);
  const ctx = openSharedContext(env.config({ jsonMode: 'ejson' }), env.client, silentLogger);
  try {
    const slot = ctx.clock.slotAt(H0);
    const apilogs = env.client.db(env.db).collection('apilogs');
    const insert = (ns: number[], from: number) => apilogs.insertMany(ns.map((n, i) => ({ _id: Long.fromNumber(n), createdAt: new Date(H0 + (from + i) * 1000), i })) as never[]);
    await insert([5, 2 ** 40, 7], 0);
    const first = await repairHour(ctx, slot, 'repair', undefined);
    assert.equal(first.added, 3);
    await insert([8, 2 ** 41], 10);
    const late = await repairHour(ctx, slot, 'repair', { keysInMemory: 1 });
    assert.deepEqual([late.added, late.fromMongo, late.count], [2, 2, 5]);
    assert.deepEqual((await lines(ctx.destination, late.key!)).map((l) => (JSON.parse(l) as { _id: unknown })._id), [{ $numberLong: '8' }, { $numberLong: String(2 ** 41) }]);
    const again = await repairHour(ctx, slot, 'repair', { keysInMemory: 1 });
    assert.deepEqual([again.added, again.count], [0, 5]);
  } finally {
    await ctx.close();
    await env.close();
  }
});
