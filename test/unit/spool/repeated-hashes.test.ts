import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { HashList, hash64, repeatedHashes, repeatedHashesYielding } from '../../../src/spool/line-facts.js';

/** The repeated values of `hashes`, the obvious way. */
function reference(hashes: bigint[]): Set<bigint> {
  const seen = new Set<bigint>();
  const out = new Set<bigint>();
  for (const h of hashes) (seen.has(h) ? out : seen).add(h);
  return out;
}

test('repeatedHashes finds exactly the repeated hashes, in one table and across partitions', async () => {
  // 300,000 hashes are checked in 4 partitions; 1,000 in one table.
  for (const n of [1_000, 300_000]) {
    const words = new Uint32Array(randomBytes(8 * n).buffer.slice(0));
    // Plant repeats: some hashes copied elsewhere, one three times, and real `_id` hashes.
    const planted = [
      [5, n - 1],
      [17, 42],
      [n >> 1, 3],
      [n >> 2, (n >> 2) + 1],
      [n >> 2, n - 7],
    ];
    for (const [from, to] of planted) {
      words[2 * (to as number)] = words[2 * (from as number)] as number;
      words[2 * (to as number) + 1] = words[2 * (from as number) + 1] as number;
    }
    const all: bigint[] = [];
    for (let i = 0; i < n; i++) all.push((BigInt(words[2 * i + 1] as number) << 32n) | BigInt(words[2 * i] as number));
    const expected = reference(all);
    assert.equal(expected.size, 4);
    // Split into ranges the way the facts file holds them (one per gzip member).
    const ranges: number[] = [];
    for (let at = 0; at < n; at += 19_000) ranges.push(2 * at, Math.min(19_000, n - at));
    assert.deepEqual(repeatedHashes(words, ranges), expected, `${n} hashes`);
    assert.deepEqual(await repeatedHashesYielding(words, ranges), expected, `${n} hashes, yielding`);
  }
  const list = new HashList();
  for (const key of ['"a"', '"b"', '"a"', '"c"']) list.pushKey(key);
  assert.deepEqual(list.repeated(), new Set([hash64('"a"')]));
});
