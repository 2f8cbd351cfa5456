import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ObjectId } from 'mongodb';
import { HashBuckets, HashesChanged, SpilledHashes, planPasses, repeatedInPasses } from '../../../src/spool/hash-passes.js';
import { factsPath, readFactsFile } from '../../../src/spool/facts-file.js';
import { hash64, repeatedHashes } from '../../../src/spool/line-facts.js';
import { lineEncoder } from '../../../src/spool/json-lines.js';
import { Spool } from '../../../src/spool/spool.js';
import { spoolFileName, spoolLayout } from '../../../src/spool/spool-files.js';
import { scanSpoolFile } from '../../../src/seal/scan.js';

const H0 = Date.parse('2024-01-15T00:00:00Z');

/** `n` distinct keys, then the planted repeats: one key three times, two twice, one repeated at once. */
function keysWithRepeats(n: number): { keys: string[]; repeated: Set<bigint> } {
  const keys = Array.from({ length: n }, (_, i) => `"k${i}"`);
  keys.push('"k5"', '"k5"', `"k${n - 1}"`, '"k42"');
  keys.splice(100, 0, '"k99"');
  return { keys, repeated: new Set(['"k5"', `"k${n - 1}"`, '"k42"', '"k99"'].map(hash64)) };
}

test('SpilledHashes: the repeated hashes across a temp file and many passes equal those found in memory', async () => {
  const { keys, repeated } = keysWithRepeats(2_000);
  for (const passHashes of [7, 64, 1_000, 100_000]) {
    const list = new SpilledHashes(passHashes);
    for (const k of keys) {
      if (list.full) await list.spill();
      list.pushKey(k);
    }
    assert.equal(list.length, keys.length);
    assert.deepEqual(await list.repeated(), repeated, `${passHashes} hashes a pass`);
  }
  // Nothing repeated, spilled or not.
  for (const passHashes of [10, 100_000]) {
    const list = new SpilledHashes(passHashes);
    for (let i = 0; i < 3_000; i++) {
      if (list.full) await list.spill();
      list.pushKey(`"u${i}"`);
    }
    assert.equal((await list.repeated()).size, 0);
  }
});

test('SpilledHashes removes its temp file once it answered, and when discarded', async () => {
  const before = new Set((await fs.readdir(tmpdir())).filter((n) => n.startsWith('cron-log-hashes-')));
  const list = new SpilledHashes(10);
  for (let i = 0; i < 50; i++) {
    if (list.full) await list.spill();
    list.pushKey(`"x${i % 40}"`);
  }
  const during = (await fs.readdir(tmpdir())).filter((n) => n.startsWith('cron-log-hashes-') && !before.has(n));
  assert.equal(during.length, 1, 'the hashes past the first 10 went to a temp file');
  assert.equal((await list.repeated()).size, 10);
  assert.deepEqual((await fs.readdir(tmpdir())).filter((n) => n.startsWith('cron-log-hashes-') && !before.has(n)), []);
  const other = new SpilledHashes(2);
  for (let i = 0; i < 5; i++) {
    if (other.full) await other.spill();
    other.pushKey(`"y${i}"`);
  }
  await other.discard();
  await other.discard();
  assert.deepEqual((await fs.readdir(tmpdir())).filter((n) => n.startsWith('cron-log-hashes-') && !before.has(n)), []);
});

test('planPasses: every bucket in exactly one pass, none above the budget unless one bucket alone is', () => {
  const counts = new Int32Array(1 << 16);
  for (let b = 0; b < counts.length; b++) counts[b] = (b * 7919) % 5;
  counts[300] = 50; // larger than the budget: a pass of its own
  const passes = planPasses(counts, 20);
  let next = 0;
  let total = 0;
  for (const [from, to, n] of passes) {
    assert.equal(from, next);
    assert.ok(to > from);
    let sum = 0;
    for (let b = from; b < to; b++) sum += counts[b] as number;
    assert.equal(n, sum);
    assert.ok(n <= 20 || to - from === 1, `pass [${from}, ${to}) holds ${n}`);
    next = to;
    total += n;
  }
  assert.equal(next, counts.length);
  assert.equal(total, counts.reduce((a, c) => a + c, 0));
});

test('repeatedInPasses rejects when a pass does not find the hashes the first read counted', async () => {
  const words = new Uint32Array([1, 2, 3, 4, 1, 2]);
  const buckets = new HashBuckets();
  buckets.add(words, [0, 3]);
  assert.deepEqual(await repeatedInPasses(buckets, async (visit) => visit(words, [0, 3]), 1), new Set([(2n << 32n) | 1n]));
  await assert.rejects(
    repeatedInPasses(buckets, async (visit) => visit(words, [0, 2]), 1),
    (err: unknown) => err instanceof HashesChanged,
  );
});

test('repeatedHashes partitions hashes that share their top bits (one pass of many) evenly, and exactly', () => {
  // 140,000 hashes (two partitions) whose high words share their top 16 bits, two of them repeated.
  const n = 140_000;
  const words = new Uint32Array(2 * n);
  for (let i = 0; i < n; i++) {
    words[2 * i] = Math.imul(i, 0x9e3779b1) >>> 0;
    words[2 * i + 1] = (0xabcd << 16) | (i & 0xffff);
  }
  words[2 * 7] = words[2 * 70_000] as number;
  words[2 * 7 + 1] = words[2 * 70_000 + 1] as number;
  const expected = new Set([(BigInt(words[2 * 7 + 1] as number) << 32n) | BigInt(words[2 * 7] as number)]);
  assert.deepEqual(repeatedHashes(words, [0, n]), expected);
});

test('readFactsFile finds the same repeated hashes in many passes over the sidecar as in one read', async () => {
  const dir = await fs.mkdtemp(join(tmpdir(), 'hash-passes-test-'));
  try {
    const layout = spoolLayout(dir, 'app.apilogs');
    const id = { hour: H0, part: 1 };
    const spool = new Spool({ layout, gzipLevel: 1, timestampField: 'createdAt' });
    await spool.open(undefined);
    const encode = lineEncoder('analytics');
    const docs = Array.from({ length: 1_200 }, (_, i) => ({ _id: new ObjectId(), createdAt: new Date(H0 + i * 1000), n: i }));
    for (let b = 0; b < 4; b++) {
      for (const d of docs.slice(b * 300, (b + 1) * 300)) spool.append(id, encode(d));
      await spool.flush();
    }
    // Repeats across members: 3 documents again, one of them twice.
    for (const d of [docs[10], docs[10], docs[600], docs[1_199]]) spool.append(id, encode(d as object));
    await spool.flush();
    const state = await spool.detach(id);
    await spool.close();
    const path = join(layout.open, spoolFileName(id));
    const size = state?.offset ?? 0;
    const once = await readFactsFile(factsPath(path), size);
    assert.ok(!('unusable' in once), 'unusable' in once ? once.unusable : '');
    assert.equal(once.repeatedHashes.size, 3);
    for (const passHashes of [1, 16, 100, 1_203, 1_204, 10_000]) {
      const passes = await readFactsFile(factsPath(path), size, { passHashes });
      assert.ok(!('unusable' in passes), 'unusable' in passes ? passes.unusable : '');
      assert.deepEqual(passes.repeatedHashes, once.repeatedHashes, `${passHashes} hashes a pass`);
      assert.equal(passes.lines, 1_204);
      assert.equal(passes.sha256, once.sha256);
      assert.deepEqual(passes.members, once.members);
    }
    // The decoder, holding 50 hashes at a time, finds the same duplicates exactly.
    const decoded = await scanSpoolFile(path, 'createdAt', { passHashes: 50 });
    assert.equal(decoded.lines, 1_204);
    assert.equal(decoded.duplicateLines, 4);
    assert.equal(decoded.duplicateIds.length, 3);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});

test('readFactsFile reads records across its read buffer\'s ends and larger than the buffer', async () => {
  const dir = await fs.mkdtemp(join(tmpdir(), 'hash-passes-test-'));
  try {
    const layout = spoolLayout(dir, 'app.apilogs');
    const id = { hour: H0, part: 1 };
    const spool = new Spool({ layout, gzipLevel: 1, timestampField: 'createdAt' });
    await spool.open(undefined);
    const encode = lineEncoder('analytics');
    // Records of 10 to 2,000 lines (80 bytes to 16 KB) and their types records, read 4 KiB at a time.
    let n = 0;
    for (const lines of [10, 2_000, 3, 700, 1, 1_500, 64]) {
      for (let i = 0; i < lines; i++, n++) spool.append(id, encode({ _id: n, createdAt: new Date(H0 + n) }));
      await spool.flush();
    }
    spool.append(id, encode({ _id: 17, createdAt: new Date(H0) }));
    await spool.flush();
    const state = await spool.detach(id);
    await spool.close();
    const path = join(layout.open, spoolFileName(id));
    const whole = await readFactsFile(factsPath(path), state?.offset ?? 0);
    assert.ok(!('unusable' in whole), 'unusable' in whole ? whole.unusable : '');
    for (const readBytes of [4_096, 65_536]) {
      for (const passHashes of [100, 1_000_000]) {
        const facts = await readFactsFile(factsPath(path), state?.offset ?? 0, { passHashes, readBytes });
        assert.ok(!('unusable' in facts), 'unusable' in facts ? facts.unusable : '');
        assert.equal(facts.lines, n + 1);
        assert.deepEqual(facts.repeatedHashes, new Set([hash64('17')]));
        assert.deepEqual({ ...facts, repeatedHashes: undefined }, { ...whole, repeatedHashes: undefined });
      }
    }
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});
