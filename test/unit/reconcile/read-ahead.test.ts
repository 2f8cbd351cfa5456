/**
 * ReadAhead (src/reconcile/read-ahead.ts): reads its source before the consumer asks, never
 * more than its bound ahead, hands over every item in order, the source's error after the items
 * before it, and `close()` stops the reading and returns the source's iterator (what closes a
 * driver cursor), also when nothing was consumed.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ReadAhead } from '../../../src/reconcile/read-ahead.js';

/** A source of 0..n-1 that records how far it was read and whether it was closed. */
function counting(n: number, failAt?: number): { source: AsyncIterable<number>; read: () => number; closed: () => boolean } {
  let read = 0;
  let closed = false;
  async function* gen(): AsyncGenerator<number> {
    try {
      for (let i = 0; i < n; i++) {
        await Promise.resolve();
        if (i === failAt) throw new Error(`source failed at ${i}`);
        read = i + 1;
        yield i;
      }
    } finally {
      closed = true;
    }
  }
  return { source: gen(), read: () => read, closed: () => closed };
}

/** Lets the reader run until it pauses (a few macrotask turns). */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
}

test('reads ahead up to its bound before anything is consumed, then hands over every item in order', async () => {
  const src = counting(100);
  const ahead = new ReadAhead(src.source, 10);
  await settle();
  assert.equal(src.read(), 10);
  const got: number[] = [];
  for await (const x of ahead) got.push(x);
  assert.deepEqual(got, Array.from({ length: 100 }, (_, i) => i));
  assert.equal(src.closed(), true);
  await ahead.close();
});

test('a short source is read to its end ahead of the consumer', async () => {
  const src = counting(5);
  const ahead = new ReadAhead(src.source, 10);
  await settle();
  assert.equal(src.read(), 5);
  assert.equal(src.closed(), true);
  const got: number[] = [];
  for await (const x of ahead) got.push(x);
  assert.deepEqual(got, [0, 1, 2, 3, 4]);
});

test("the source's error reaches the consumer after the items read before it", async () => {
  const ahead = new ReadAhead(counting(10, 4).source, 3);
  const got: number[] = [];
  await assert.rejects(async () => {
    for await (const x of ahead) got.push(x);
  }, /source failed at 4/);
  assert.deepEqual(got, [0, 1, 2, 3]);
  await ahead.close();
});

test('close() without consuming stops the reading at the bound and closes the source', async () => {
  const src = counting(1000);
  const ahead = new ReadAhead(src.source, 7);
  await settle();
  await ahead.close();
  assert.equal(src.closed(), true);
  assert.ok(src.read() <= 8, `read ${src.read()} items with a bound of 7`);
  await ahead.close();
});
