/**
 * The raw change stream lets go of each reply once its batch is read, and asks for a minor
 * collection when V8's external memory has grown enough since the last one
 * (src/source/young-garbage.ts): the reply buffers then die young instead of driving full
 * mark-compacts. Replies here come from a stand-in `db.command` (no server): only the stream's
 * own bookkeeping is under test.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BSON, Long } from 'mongodb';
import type { Db, Document, MongoClient } from 'mongodb';
import { RawChangeStream } from '../../../src/source/raw-change-stream.js';
import { YoungGarbage, minorCollection } from '../../../src/source/young-garbage.js';

test('a minor collection is asked for once external memory grew by the threshold since the lowest it was after the last one', () => {
  let external = 10_000;
  let collected = 0;
  const young = new YoungGarbage(
    () => {
      collected++;
      external -= 3_000;
    },
    () => external,
    4_000,
  );
  external += 3_999;
  young.due();
  assert.equal(collected, 0, 'below the threshold');
  external += 1;
  young.due();
  assert.equal(collected, 1, 'at the threshold');
  assert.equal(young.collections, 1);
  // After it: 11_000. V8's own scavenge lowers it to 9_000; growth counts from there.
  external = 9_000;
  young.due();
  external = 12_999;
  young.due();
  assert.equal(collected, 1, 'the growth counts from the lowest value seen');
  external = 13_000;
  young.due();
  assert.equal(collected, 2);
});

test('without a collector nothing is asked for; V8\'s collector can be had in this process', () => {
  const young = new YoungGarbage(null, () => {
    throw new Error('not read without a collector');
  });
  young.due();
  assert.equal(young.collections, 0);
  const gc = minorCollection();
  assert.equal(typeof gc, 'function');
  gc?.();
});

/** A raw change stream over canned replies (their cursor documents as BSON bytes, as `raw: true` gives them). */
function cannedStream(replies: Uint8Array[], collections: { n: number }): RawChangeStream {
  const sent: Document[] = [];
  const db = {
    command: (cmd: Document): Promise<Document> => {
      sent.push(cmd);
      const cursor = replies.shift();
      if (cursor === undefined) throw new Error('no more canned replies');
      return Promise.resolve({ cursor, ok: 1 });
    },
  } as unknown as Db;
  const client = { startSession: () => ({ endSession: () => Promise.resolve() }) } as unknown as MongoClient;
  let external = 0;
  return new RawChangeStream({
    client,
    db,
    collection: 'logs',
    changeStream: {},
    pipeline: [],
    batchSize: 2,
    maxAwaitTimeMS: 10,
    // Every check sees 4 MiB more than the last: past the threshold (2 MiB), a collection each time.
    externalBytes: () => (external += 4 * 1024 * 1024),
    minorCollection: () => {
      collections.n++;
    },
  });
}

function cursorDoc(batch: 'firstBatch' | 'nextBatch', ids: number[], pbrt: string): Uint8Array {
  const events = ids.map((n) => ({ _id: { _data: `event-${n}` }, operationType: 'insert', fullDocument: { _id: n }, documentKey: { _id: n } }));
  return BSON.serialize({ [batch]: events, postBatchResumeToken: { _data: pbrt }, id: Long.fromNumber(7), ns: 'db.logs' });
}

test('once a batch is read, its resume token no longer reads the reply, which may be reused; a collection is asked for between batches', async () => {
  const first = cursorDoc('firstBatch', [1, 2], 'after-batch-1');
  const second = cursorDoc('nextBatch', [3], 'after-batch-2');
  const collections = { n: 0 };
  const stream = cannedStream([first, second], collections);
  assert.equal(await stream.fetch(), true);
  const ids: unknown[] = [];
  for (let ev = stream.read(); ev !== undefined; ev = stream.read()) ids.push(ev.decode({}).fullDocument?._id);
  assert.deepEqual(ids, [1, 2]);
  // The driver's buffer is garbage now: whatever happens to its bytes, the token is intact.
  first.fill(0);
  assert.deepEqual(stream.resumeToken, { _data: 'after-batch-1' });
  assert.equal(collections.n, 0, 'nothing asked for before the first getMore');
  assert.equal(await stream.fetch(), true);
  assert.equal(collections.n, 1, 'asked for before waiting for the next batch');
  assert.equal(stream.minorCollections, 1);
  const ev = stream.read();
  assert.equal(ev?.decode({}).fullDocument?._id, 3);
  assert.equal(stream.read(), undefined);
  second.fill(0);
  assert.deepEqual(stream.resumeToken, { _data: 'after-batch-2' });
});
