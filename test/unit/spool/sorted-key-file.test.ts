/**
 * The bounded `_id` sets of a gap repair (src/spool/spilling-key-set.ts, sorted-key-file.ts):
 * past `keysInMemory` the keys go to sorted runs on disk and come back sorted and distinct; the
 * SortedKeyFile built from them answers `has` exactly (keys of any block, between blocks, before
 * the first and after the last, prefixes, non-ASCII keys), like the Set it stands for.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SpillingKeySet, mergeSortedKeys } from '../../../src/spool/spilling-key-set.js';
import { SortedKeyFile } from '../../../src/spool/sorted-key-file.js';

async function* ascending(keys: string[]): AsyncGenerator<string> {
  yield* [...keys].sort();
}

/** 2,000 keys like the tailer's (quoted hex ObjectIds), some numbers, a non-ASCII one; in a scrambled order. */
function sampleKeys(): string[] {
  const keys: string[] = [];
  for (let i = 0; i < 2000; i++) keys.push(JSON.stringify(((i * 7919) % 100_003).toString(16).padStart(24, '0')));
  keys.push('5', '50', '{"a":"é"}');
  return keys;
}

test('SpillingKeySet past its budget: sorted and distinct from the runs, and its probe answers like the Set', async () => {
  const dir = await fs.mkdtemp(join(tmpdir(), 'sorted-keys-'));
  try {
    const keys = sampleKeys();
    const set = new SpillingKeySet({ keysInMemory: 64, directory: dir });
    for (const k of [...keys, ...keys.slice(0, 300)]) if (set.add(k)) await set.flush();
    assert.equal(set.inMemory, false, 'spilled past 64 keys');
    const sorted: string[] = [];
    for await (const k of set.sorted()) sorted.push(k);
    assert.deepEqual(sorted, [...new Set(keys)].sort());
    assert.equal(await set.distinct(), new Set(keys).size);
    const more = ['"zz"', '"0"', keys[5] as string];
    const probe = await set.probe(ascending(more));
    assert.ok(probe instanceof SortedKeyFile, 'a file on disk, not a Set');
    const expected = new Set([...keys, ...more]);
    assert.equal(probe.size, expected.size);
    for (const k of expected) assert.equal(probe.has(k), true, k);
    for (const k of ['', '"', '"0000', '4', '6', '{"a":"e"}', '"ffffffffffffffffffffffffff"', `${keys[7] as string} `, (keys[9] as string).slice(0, -1)]) {
      assert.equal(probe.has(k), expected.has(k), k);
    }
    await set.close();
    assert.equal(probe.has(keys[100] as string), true, 'the probe outlives the runs');
    await probe.close();
    assert.deepEqual(await fs.readdir(dir), [], 'every temp directory removed');
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});

test('SpillingKeySet within its budget stays a Set; an empty SortedKeyFile holds nothing', async () => {
  const set = new SpillingKeySet({ keysInMemory: 10 });
  for (const k of ['"b"', '"a"', '"b"']) assert.equal(set.add(k), false);
  assert.equal(set.inMemory, true);
  const probe = await set.probe(ascending(['"c"']));
  assert.equal(probe instanceof SortedKeyFile, false);
  assert.deepEqual([probe.has('"a"'), probe.has('"c"'), probe.has('"d"'), probe.size], [true, true, false, 3]);
  const dir = await fs.mkdtemp(join(tmpdir(), 'sorted-keys-'));
  const empty = await SortedKeyFile.write(dir, ascending([]));
  assert.deepEqual([empty.has('"a"'), empty.size], [false, 0]);
  await empty.close();
  await assert.rejects(fs.stat(dir));
  const merged: string[] = [];
  for await (const k of mergeSortedKeys(ascending(['"a"', '"c"']), ascending(['"b"', '"c"']), ascending([]))) merged.push(k);
  assert.deepEqual(merged, ['"a"', '"b"', '"c"']);
});
