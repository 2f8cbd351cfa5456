/**
 * The external-memory `_id` passes (src/spool/archived-key-set.ts, source-id-list.ts,
 * key-files.ts, and the deep check over them, src/reconcile/archived-ids.ts): with a tiny key
 * budget that forces many partitions (and partition hashes that collide on purpose) they give
 * exactly the answers of the in-memory set they replace: the first repeated `_id` and its part,
 * the distinct count, held/lacking counts, the first lacking `_id`s in the source's order, the
 * `_id` values in order with their BSON types, and the sorted-keys digest; the positions of a
 * source's keys the set holds (or, with `repeatsHeld`, that an earlier source key repeats).
 * Temp files are removed.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gunzipSync, gzipSync } from 'node:zlib';
import { after, before, test } from 'node:test';
import { Decimal128, EJSON, Int32, Long, ObjectId } from 'bson';
import type { Destination } from '../../../src/deliver/destination.js';
import { readArchivedIds } from '../../../src/reconcile/archived-ids.js';
import { dropLines } from '../../../src/seal/dedupe.js';
import type { ManifestPart } from '../../../src/seal/manifest.js';
import { ArchivedKeySet } from '../../../src/spool/archived-key-set.js';
import { ExternalSort, keyHash } from '../../../src/spool/key-files.js';
import { SourceIdList } from '../../../src/spool/source-id-list.js';
import { rng } from '@cron-log-service/mongo-emulator/traffic';

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cls-external-keys-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});


/** The answers of a plain in-memory Set: what the code before the partitions computed. */
function inMemory(parts: string[][], source: string[]): { repeat?: { key: string; part: number }; size: number; held: number; lacking: number; examples: string[] } {
  const set = new Set<string>();
  let repeat: { key: string; part: number } | undefined;
  parts.forEach((keys, part) => {
    for (const k of keys) {
      if (set.has(k)) repeat ??= { key: k, part };
      else set.add(k);
    }
  });
  let held = 0;
  let lacking = 0;
  const examples: string[] = [];
  for (const k of source) {
    if (set.has(k)) held++;
    else {
      lacking++;
      if (examples.length < 3) examples.push(k);
    }
  }
  return { ...(repeat ? { repeat } : {}), size: set.size, held, lacking, examples };
}

const hashes: Array<[string, (k: string) => number]> = [
  ['keyHash', keyHash],
  ['all in one partition', () => 0],
  ['three buckets', (k) => k.length % 3],
];

function scenario(seed: number): { parts: string[][]; source: string[] } {
  const r = rng(seed);
  const pool = Array.from({ length: 60 }, (_, i) => JSON.stringify(i % 4 === 0 ? { $oid: i.toString(16).padStart(24, '0') } : `id-${i}`));
  const repeats = seed % 2 === 0; // half the scenarios repeat ids in the archive
  const parts: string[][] = [];
  let next = 0;
  for (let p = 0; p < 1 + Math.floor(r() * 4); p++) {
    const keys: string[] = [];
    for (let i = 0; i < Math.floor(r() * 12); i++) keys.push(repeats && r() < 0.4 && next > 0 ? (pool[Math.floor(r() * next)] as string) : (pool[next++ % 40] as string));
    parts.push(keys);
  }
  // The source: most of the archive's keys (some twice), some it lacks, in a shuffled order.
  const source = pool.filter(() => r() < 0.7);
  if (source.length > 0) source.push(source[0] as string);
  for (let i = source.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [source[i], source[j]] = [source[j] as string, source[i] as string];
  }
  return { parts, source };
}

async function* each(keys: readonly string[]): AsyncGenerator<string> {
  yield* keys;
}

test('ArchivedKeySet: many partitions (a budget of 3 keys, colliding hashes) give the in-memory answers', async () => {
  let partitionedRuns = 0;
  let withRepeat = 0;
  let withLacking = 0;
  for (let seed = 1; seed <= 14; seed++) {
    const { parts, source } = scenario(seed);
    const want = inMemory(parts, source);
    if (want.repeat) withRepeat++;
    if (want.lacking > 0) withLacking++;
    const total = parts.reduce((n, p) => n + p.length, 0);
    for (const keysInMemory of [3, 10_000]) {
      for (const [name, hash] of hashes) {
        const set = await ArchivedKeySet.open(total, { keysInMemory, directory: dir, hash });
        try {
          if (set.partitioned) partitionedRuns++;
          for (const [i, keys] of parts.entries()) for (const k of keys) if (set.add(k, i)) await set.flush();
          const label = `seed ${seed}, ${keysInMemory} keys in memory, ${name}`;
          assert.deepEqual(await set.firstRepeat(), want.repeat, label);
          assert.equal(set.size, want.size, label);
          const got = await set.compare(each(source));
          assert.deepEqual(got, { held: want.held, lacking: want.lacking, lackingExamples: want.examples }, label);
          const bits = await set.heldPositions(each(source));
          const heldAt = source.map((_, i) => ((bits[i >> 3] ?? 0) & (1 << (i & 7))) !== 0);
          const all = new Set(parts.flat());
          assert.deepEqual(heldAt, source.map((k) => all.has(k)), `${label}: held positions`);
          // With repeatsHeld: only the first occurrence of a key the set lacks is new (last: it adds to a set in memory).
          const once = await set.heldPositions(each(source), { repeatsHeld: true });
          const skipAt = source.map((_, i) => ((once[i >> 3] ?? 0) & (1 << (i & 7))) !== 0);
          assert.deepEqual(skipAt, source.map((k, i) => all.has(k) || source.indexOf(k) < i), `${label}: held or repeated positions`);
        } finally {
          await set.close();
        }
      }
    }
  }
  assert.ok(partitionedRuns >= 25 && withRepeat >= 3 && withLacking >= 12, `partitioned runs ${partitionedRuns}, scenarios with a repeat ${withRepeat}, lacking ${withLacking}`);
  assert.deepEqual(await fs.readdir(dir), [], 'every temp directory is removed');
});

test('ExternalSort: runs of 1 to 4 keys merge into Array.prototype.sort order (UTF-16 code units, astral characters, repeats)', async () => {
  const r = rng(7);
  const alphabet = ['a', 'b', 'Z', '"', '\\u00e9', 'é', '😀', '\uffff', '0', '{'];
  const keys = Array.from({ length: 57 }, () => JSON.stringify(Array.from({ length: 1 + Math.floor(r() * 4) }, () => alphabet[Math.floor(r() * alphabet.length)]).join('')));
  for (const runSize of [1, 2, 4, 1000]) {
    const sub = await mkdtemp(join(dir, 'sort-'));
    const sort = new ExternalSort(sub, runSize);
    for (const k of keys) if (sort.add(k)) await sort.spill();
    const got: string[] = [];
    for await (const k of sort.sorted()) got.push(k);
    assert.deepEqual(got, [...keys].sort(), `runs of ${runSize}`);
    await rm(sub, { recursive: true, force: true });
  }
});

test('SourceIdList: spilled to a file, the values come back in order with their BSON types, and the digest is the sorted one', async () => {
  const ids: unknown[] = [new ObjectId(), 'text id', new Int32(5), Long.fromString('9007199254740993'), Decimal128.fromString('1.50'), new Date(1_700_000_000_000), { a: 1, b: [new ObjectId()] }];
  for (let i = 0; i < 30; i++) ids.push(new ObjectId());
  const keyOf = (id: unknown): string => EJSON.stringify(id as never, { relaxed: false });
  const want = digestOf(ids.map(keyOf));
  for (const keysInMemory of [1, 3, 1000]) {
    const list = new SourceIdList({ keysInMemory, directory: dir });
    for (const id of ids) await list.add(id, keyOf(id));
    assert.equal(list.length, ids.length);
    const back: unknown[] = [];
    for await (const batch of list.batches(4)) {
      assert.ok(batch.length <= 4 && batch.length > 0);
      back.push(...batch);
    }
    assert.deepEqual(back.map(keyOf), ids.map(keyOf), `${keysInMemory} in memory: same values, same order, same types`);
    assert.equal(await list.sortedKeysSha256(), want, `${keysInMemory} in memory: the digest of the sorted keys`);
    await list.close();
    // Without the sorted keys (what a repair fetches by): the same values, no digest.
    const plain = new SourceIdList({ keysInMemory, directory: dir }, { sortedKeys: false });
    for (const id of ids) await plain.add(id, keyOf(id));
    const again: unknown[] = [];
    for await (const batch of plain.batches(4)) again.push(...batch);
    assert.deepEqual(again.map(keyOf), ids.map(keyOf), `${keysInMemory} in memory, sortedKeys false: same values`);
    await assert.rejects(plain.sortedKeysSha256());
    await plain.close();
  }
  assert.deepEqual(await fs.readdir(dir), []);
});

function digestOf(keys: string[]): string {
  const h = createHash('sha256');
  for (const k of [...keys].sort()) h.update(`${k}\n`);
  return h.digest('hex');
}

/** An in-memory destination holding gzip objects (only what readArchivedIds reads). */
function memoryDestination(objects: Map<string, Buffer>): Destination {
  return { get: async (key: string) => Readable.from([objects.get(key) ?? Buffer.alloc(0)]) } as unknown as Destination;
}

/** The deep check's archive half as it was: one Set, part by part (the oracle). */
async function oldReadArchivedIds(objects: Map<string, Buffer>, parts: ManifestPart[], count: number): Promise<unknown> {
  const ids = new Set<string>();
  let total = 0;
  for (const part of parts) {
    const body = objects.get(part.key) as Buffer;
    const sha = createHash('sha256').update(body).digest('hex');
    const lines = gunzipLines(body);
    let dup: string | undefined;
    for (const line of lines) {
      const id = JSON.stringify((JSON.parse(line) as { _id: unknown })._id);
      if (ids.has(id)) dup ??= id;
      else ids.add(id);
    }
    if (sha !== part.sha256) return { problem: 'object', kind: 'object' };
    if (lines.length !== part.count) return { problem: 'object', kind: 'object' };
    if (dup !== undefined) return { problem: `_id ${dup} appears more than once in the hour`, kind: 'repeated-id' };
    total += lines.length;
  }
  if (total !== count) return { problem: `parts hold ${total} lines, the manifest says ${count}`, kind: 'count' };
  return { size: ids.size };
}

function gunzipLines(body: Buffer): string[] {
  return gunzipSync(body).toString('utf8').split('\n').filter((l) => l !== '');
}

test('readArchivedIds: with 2 keys in memory (many partitions) it finds the repeats, damaged parts and counts the in-memory check found, in the same order', async () => {
  const line = (id: unknown): string => JSON.stringify({ _id: id, createdAt: '2024-01-15T10:00:00.000Z', path: '/x' });
  const oid = (n: number): { $oid: string } => ({ $oid: n.toString(16).padStart(24, '0') });
  const cases: Array<{ name: string; parts: unknown[][]; tamper?: number; count?: number }> = [
    { name: 'clean', parts: [[1, 2, 3, 'a', oid(1)], [4, 5, oid(2), 'b']] },
    { name: 'repeat within a part', parts: [[1, 2, 3], [4, 5, 4, 6, 5]] },
    { name: 'repeat across parts', parts: [[1, 2, 3, oid(7)], [4, oid(7), 6], [7, 2]] },
    { name: 'a damaged later part after a repeat', parts: [[1, 2, 1], [3, 4]], tamper: 1 },
    { name: 'a damaged part with a repeat in it', parts: [[1, 2, 3], [4, 1, 5]], tamper: 1 },
    { name: 'a damaged first part', parts: [[1, 2, 3], [4, 4]], tamper: 0 },
    { name: 'parts do not add up', parts: [[1, 2, 3], [4, 5]], count: 9 },
  ];
  for (const c of cases) {
    const objects = new Map<string, Buffer>();
    const parts: ManifestPart[] = c.parts.map((ids, i) => {
      const body = gzipSync(`${ids.map(line).join('\n')}\n`);
      const key = `h/part-${i + 1}.ndjson.gz`;
      objects.set(key, body);
      const sha = createHash('sha256').update(body).digest('hex');
      return { key, part: i + 1, revision: 0, count: ids.length, bytes: body.length, sha256: c.tamper === i ? '0'.repeat(64) : sha } as ManifestPart;
    });
    const count = c.count ?? c.parts.reduce((n, p) => n + p.length, 0);
    const want = await oldReadArchivedIds(objects, parts, count);
    for (const keysInMemory of [2, 100]) {
      const got = await readArchivedIds({ destination: memoryDestination(objects), workDirectory: dir }, { parts, count }, { keysInMemory });
      const label = `${c.name}, ${keysInMemory} keys in memory`;
      if ('ids' in got) {
        assert.equal(got.ids.partitioned, keysInMemory === 2, label);
        assert.deepEqual({ size: got.ids.size }, want, label);
        await got.ids.close();
      } else {
        const w = want as { problem: string; kind: string };
        assert.equal(got.kind, w.kind, label);
        if (w.kind !== 'object') assert.equal(got.problem, w.problem, label);
      }
    }
  }
  assert.deepEqual(await fs.readdir(dir), []);
});

test('dropLines (the seal of a restored hour): with the delivered _ids in many partitions it drops the lines the in-memory set dropped', async () => {
  const line = (id: number, n: number): string => JSON.stringify({ _id: { $oid: id.toString(16).padStart(24, '0') }, n });
  // Lines of a late part: some delivered already (ids < 20), one repeated (id 31), the rest new.
  const ids = [3, 31, 25, 7, 31, 19, 40, 0, 22, 5, 41];
  const text = `${ids.map((id, n) => line(id, n)).join('\n')}\n`;
  const delivered = Array.from({ length: 20 }, (_, id) => JSON.stringify({ $oid: id.toString(16).padStart(24, '0') }));
  const results: string[] = [];
  for (const keysInMemory of [2, 1000]) {
    const path = join(dir, `late-${keysInMemory}.ndjson.gz`);
    await fs.writeFile(path, gzipSync(text));
    const archived = await ArchivedKeySet.open(delivered.length, { keysInMemory, directory: dir });
    for (const k of delivered) if (archived.add(k, 0)) await archived.flush();
    assert.equal(archived.partitioned, keysInMemory === 2);
    const dropped = await dropLines(path, { duplicateIds: [JSON.stringify({ $oid: (31).toString(16).padStart(24, '0') })], archived }, 6);
    await archived.close();
    assert.deepEqual(dropped, { duplicates: 1, archived: 5 }, `${keysInMemory} keys in memory`);
    results.push(gunzipSync(await fs.readFile(path)).toString('utf8'));
    await fs.rm(path);
  }
  assert.equal(results[0], results[1]);
  assert.equal(results[0], `${[[31, 1], [25, 2], [40, 6], [22, 8], [41, 10]].map(([id, n]) => line(id as number, n as number)).join('\n')}\n`);
  assert.deepEqual(await fs.readdir(dir), []);
});
