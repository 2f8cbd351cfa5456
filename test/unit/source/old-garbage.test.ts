/**
 * The full collections `run` asks for while it allocates slowly (src/source/old-garbage.ts): one
 * once the used heap has grown by the threshold since the lowest it was after the last one, none
 * while V8's own collections keep it low, none where V8's `gc` cannot be had; and V8's `gc`
 * really is had at run time and frees old garbage.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OldGarbage, majorCollection, v8UsedHeapBytes } from '../../../src/source/old-garbage.js';

test('a full collection is asked for once the used heap grew by the threshold since the lowest it was after the last one', () => {
  let used = 20_000;
  let collected = 0;
  const old = new OldGarbage(
    () => {
      collected++;
      used = 21_000;
    },
    () => used,
    4_000,
  );
  used = 23_999;
  old.check();
  assert.equal(collected, 0, 'below the threshold');
  used = 24_000;
  old.check();
  assert.equal(collected, 1, 'at the threshold');
  assert.equal(old.collections, 1);
  // After it: 21_000. V8's own collection lowers it to 19_000; growth counts from there.
  used = 19_000;
  old.check();
  used = 22_999;
  old.check();
  assert.equal(collected, 1, 'the growth counts from the lowest value seen');
  used = 23_000;
  old.check();
  assert.equal(collected, 2);
  const none = new OldGarbage(null, () => used, 1);
  used = 1e9;
  none.check();
  assert.equal(none.collections, 0, 'nothing is asked for without V8 gc');
});

test("V8's full collection is had at run time and frees old garbage", () => {
  const collect = majorCollection();
  assert.ok(collect, 'gc exposed by --expose-gc set at run time');
  collect();
  const before = v8UsedHeapBytes();
  // Old garbage: survives the scavenges of its own allocation, then dropped (in a frame of its own,
  // so no register of this one still holds it).
  const made = (): number => {
    const kept = Array.from({ length: 200_000 }, (_, i) => ({ i, s: `line ${i}` }));
    return kept.length;
  };
  assert.equal(made(), 200_000);
  assert.ok(v8UsedHeapBytes() > before + 8 * 1024 * 1024, 'the objects take room until collected');
  collect();
  assert.ok(v8UsedHeapBytes() < before + 2 * 1024 * 1024, `freed: ${v8UsedHeapBytes() - before} bytes above before`);
});
