/**
 * The raw change stream asks its reader for a turn of the event loop every READ_AHEAD_TURN_EVERY
 * events while the getMore it sent ahead has not arrived (src/source/raw-change-stream.ts), so
 * that the reply comes off the socket while the batch is handled; never once it has arrived, nor
 * without read-ahead. Replies come from a stand-in `db.command` (no server), the ahead one held
 * until the test lets it arrive.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { BSON, Long } from 'mongodb';
import type { Db, Document, MongoClient } from 'mongodb';
import { READ_AHEAD_TURN_EVERY, RawChangeStream } from '../../../src/source/raw-change-stream.js';

function cursor(batch: 'firstBatch' | 'nextBatch', from: number, n: number, id: number): Uint8Array {
  const events = Array.from({ length: n }, (_, i) => ({ _id: { _data: `event-${from + i}` }, operationType: 'insert', fullDocument: { _id: from + i } }));
  return BSON.serialize({ [batch]: events, postBatchResumeToken: { _data: `after-${from + n - 1}` }, id: Long.fromNumber(id), ns: 'db.logs' });
}

/** A stream whose first reply is `first`; each later command waits until `release` is called. */
function heldStream(first: Uint8Array, readAhead: boolean) {
  const sent: Document[] = [];
  let release: (cursor: Uint8Array) => void = () => undefined;
  const db = {
    command: (cmd: Document): Promise<Document> => {
      sent.push(cmd);
      if (sent.length === 1) return Promise.resolve({ cursor: first, ok: 1 });
      return new Promise((resolve) => {
        release = (c) => resolve({ cursor: c, ok: 1 });
      });
    },
  } as unknown as Db;
  const client = { startSession: () => ({ endSession: () => Promise.resolve() }) } as unknown as MongoClient;
  const stream = new RawChangeStream({ client, db, collection: 'logs', changeStream: {}, pipeline: [], batchSize: 500, maxAwaitTimeMS: 10, readAhead, minorCollection: null });
  return { stream, sent, release: (c: Uint8Array) => release(c) };
}

/** Reads up to `n` events; the reads after which a turn was due. */
function readCounting(stream: RawChangeStream, n: number): { read: number; turns: number[] } {
  const turns: number[] = [];
  let read = 0;
  while (read < n && stream.read() !== undefined) {
    read++;
    if (stream.turnDue()) turns.push(read);
  }
  return { read, turns };
}

test('while the getMore sent ahead has not arrived, a turn is due every READ_AHEAD_TURN_EVERY events; none once it has', async () => {
  const size = 3 * READ_AHEAD_TURN_EVERY + 50;
  const { stream, sent, release } = heldStream(cursor('firstBatch', 0, size, 7), true);
  assert.equal(await stream.fetch(), true);
  assert.equal(sent.length, 2, 'the next getMore was sent as the first batch arrived');
  const before = readCounting(stream, 2 * READ_AHEAD_TURN_EVERY + 10);
  assert.deepEqual(before.turns, [READ_AHEAD_TURN_EVERY, 2 * READ_AHEAD_TURN_EVERY]);
  release(cursor('nextBatch', size, 5, 0));
  await nextTurn();
  const after = readCounting(stream, size);
  assert.equal(before.read + after.read, size);
  assert.deepEqual(after.turns, [], 'the reply has arrived: nothing to take off the socket');
  assert.equal(await stream.fetch(), true);
  assert.equal(readCounting(stream, 10).read, 5, 'the reply sent ahead is the next batch');
  await stream.close();
});

test('without read-ahead no turn is ever due', async () => {
  const { stream, sent } = heldStream(cursor('firstBatch', 0, 3 * READ_AHEAD_TURN_EVERY, 7), false);
  assert.equal(await stream.fetch(), true);
  assert.equal(sent.length, 1);
  assert.deepEqual(readCounting(stream, 3 * READ_AHEAD_TURN_EVERY).turns, []);
});
