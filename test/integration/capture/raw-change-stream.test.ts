/**
 * The tailer's change stream (src/source/raw-change-stream.ts) runs the change stream's commands
 * itself and keeps events as BSON bytes. It must behave as the driver's ChangeStream does where
 * capture depends on it: every event once across resumable failures, errors it cannot resume
 * from reach the caller, the resume token advances while idle, and close() ends a waiting read.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MongoClient, Timestamp } from 'mongodb';
import type { Document, MongoServerError } from 'mongodb';
import { RawChangeStream } from '../../../src/source/raw-change-stream.js';
import type { RawChangeStreamOptions } from '../../../src/source/raw-change-stream.js';
import { clusterTimeNow, tokenClusterTime } from '../../../src/source/cluster-time.js';
import { lockFailCommand, setFailCommand, uniqueDbName, useTestMongo } from '../../helpers/mongo.js';
import type { TestMongo } from '../../helpers/mongo.js';

let mongo: TestMongo;
let client: MongoClient;
useTestMongo((m, c) => ([mongo, client] = [m, c]));

/** Reads events (fetching batches as needed) until `n` were returned; their decoded documents. */
async function take(stream: RawChangeStream, n: number): Promise<Document[]> {
  const out: Document[] = [];
  while (out.length < n) {
    for (let ev = stream.read(); ev !== undefined && out.length < n; ev = out.length < n ? stream.read() : undefined) out.push(ev.decode({}));
    if (out.length < n) assert.equal(await stream.fetch(), true, 'the stream stays open');
  }
  return out;
}

/** A client of its own (named, so fail points can target it) that records the `command`s it sends. */
async function recordingClient(prefix: string, command: string): Promise<{ own: MongoClient; appName: string; sent: Document[] }> {
  const appName = `${prefix}-${Math.random().toString(36).slice(2, 8)}`;
  const own = await MongoClient.connect(mongo.uri, { appName, monitorCommands: true });
  const sent: Document[] = [];
  own.on('commandStarted', (e) => {
    if (e.commandName === command) sent.push(e.command);
  });
  return { own, appName, sent };
}

test('every event once across a dropped connection and a resumable error; other errors reach the caller', async () => {
  const { own, appName, sent: aggregates } = await recordingClient('raw-stream', 'aggregate');
  const dbName = uniqueDbName('raw_stream');
  const coll = client.db(dbName).collection('logs');
  await coll.insertOne({ n: -1 });
  const failCommand = (mode: unknown, data?: Document): Promise<Document> => setFailCommand(client, appName, mode, data);
  const unlock = await lockFailCommand(client);
  const stream = new RawChangeStream({
    ...streamOptions(own, dbName),
    startAtOperationTime: await clusterTimeNow(client.db(dbName)),
    pipeline: [{ $match: { operationType: 'insert' } }],
    batchSize: 2,
    maxAwaitTimeMS: 200,
  });
  try {
    const received: number[] = [];
    const pull = async (n: number): Promise<void> => {
      for (const e of await take(stream, n)) received.push((e.fullDocument as { n: number }).n);
    };
    await coll.insertMany([0, 1, 2].map((n) => ({ n })));
    await pull(3);

    await failCommand({ times: 1 }, { failCommands: ['getMore'], closeConnection: true });
    await coll.insertMany([3, 4, 5].map((n) => ({ n })));
    await pull(3);
    assert.equal(aggregates.length, 2, 'one resume after the closed connection');
    const resumedWith = (aggregates[1]!.pipeline as Document[])[0]!.$changeStream as Document;
    assert.ok(resumedWith.resumeAfter, 'resumed after the last token');
    assert.equal(resumedWith.startAtOperationTime, undefined);

    // A server labels a real ShutdownInProgress of a change stream's getMore resumable; failCommand
    // does so only when asked (errorLabels), as mongod 4.4+.
    await failCommand({ times: 1 }, { failCommands: ['getMore'], errorCode: 91, errorLabels: ['ResumableChangeStreamError'] });
    await coll.insertMany([6, 7].map((n) => ({ n })));
    await pull(2);
    assert.equal(aggregates.length, 3, 'one resume after ShutdownInProgress (ResumableChangeStreamError)');
    assert.deepEqual(received, [0, 1, 2, 3, 4, 5, 6, 7], 'nothing lost, nothing repeated');

    // The same code without the label reaches the caller (the driver's rule for servers 4.4+).
    await failCommand({ times: 1 }, { failCommands: ['getMore'], errorCode: 91 });
    await coll.insertOne({ n: 8 });
    await assert.rejects(take(stream, 1), (err: MongoServerError) => err.code === 91);
    assert.equal(aggregates.length, 3, 'no resume after an unlabelled error');
  } finally {
    await failCommand('off');
    await unlock();
    await stream.close();
    await own.close();
    await client.db(dbName).dropDatabase();
  }
});

test('an idle stream advances its resume token; close() ends a waiting read and kills the cursor', async () => {
  const { own, sent: killed } = await recordingClient('raw-idle', 'killCursors');
  const dbName = uniqueDbName('raw_idle');
  const db = client.db(dbName);
  await db.collection('logs').insertOne({ n: 0 });
  const stream = new RawChangeStream({ ...streamOptions(own, dbName), startAtOperationTime: await clusterTimeNow(db) });
  try {
    assert.equal(stream.resumeToken, undefined, 'no token before the stream opened');
    assert.equal(await stream.fetch(), true);
    // The insert above (at the start time, which is inclusive) may be in the first batch.
    while (stream.read() !== undefined);
    const t0 = tokenClusterTime(stream.resumeToken!);
    assert.ok(t0 instanceof Timestamp, 'once the batch is read, the token is its postBatchResumeToken');
    // Writes elsewhere move the cluster time; the idle stream's token follows.
    for (let i = 0; i < 5; i++) await db.collection('other').insertOne({ i });
    let t1 = t0;
    for (let i = 0; i < 20 && t1.equals(t0); i++) {
      await stream.fetch();
      assert.equal(stream.read(), undefined, 'still no event of the watched collection');
      t1 = tokenClusterTime(stream.resumeToken!)!;
    }
    assert.ok(t1.greaterThan(t0), `token advanced while idle (${t0.toString()} → ${t1.toString()})`);

    // A read waiting for events (up to a minute) ends when the stream is closed.
    const slow = new RawChangeStream({ ...streamOptions(own, dbName), maxAwaitTimeMS: 60_000 });
    await slow.fetch();
    const waiting = slow.fetch();
    const settled = waiting.then(
      () => 'resolved',
      () => 'rejected',
    );
    await new Promise((r) => setTimeout(r, 100));
    const closedAt = Date.now();
    await slow.close();
    const outcome = await Promise.race([settled, new Promise((r) => setTimeout(() => r('still waiting'), 10_000))]);
    assert.equal(outcome, 'rejected', 'the waiting read ends with the close');
    assert.ok(Date.now() - closedAt < 10_000);
    assert.equal(killed.length, 1, 'its cursor is killed');
  } finally {
    await stream.close();
    await own.close();
    await db.dropDatabase();
  }
});

test('read-ahead: the next getMore is sent when a batch with events arrives; its failure is resumed, every event once', async () => {
  const { own, appName, sent: getMores } = await recordingClient('raw-ahead', 'getMore');
  const aggregates: Document[] = [];
  own.on('commandStarted', (e) => {
    if (e.commandName === 'aggregate') aggregates.push(e.command);
  });
  const dbName = uniqueDbName('raw_ahead');
  const coll = client.db(dbName).collection('logs');
  await coll.insertOne({ n: -1 });
  const unlock = await lockFailCommand(client);
  const stream = new RawChangeStream({
    ...streamOptions(own, dbName),
    startAtOperationTime: await clusterTimeNow(client.db(dbName)),
    pipeline: [{ $match: { operationType: 'insert', 'fullDocument.n': { $gte: 0 } } }],
    batchSize: 2,
    maxAwaitTimeMS: 200,
    readAhead: true,
  });
  try {
    // Open it (the first batch is empty: nothing matched yet), then insert.
    assert.equal(await stream.fetch(), true);
    while (stream.read() !== undefined);
    await coll.insertMany([0, 1, 2, 3].map((n) => ({ n })));
    let sentBefore = getMores.length;
    let withEvents = false;
    for (let i = 0; i < 50 && !withEvents; i++) {
      sentBefore = getMores.length;
      assert.equal(await stream.fetch(), true);
      const ev = stream.read();
      if (ev === undefined) continue;
      withEvents = true;
      assert.equal((ev.decode({}).fullDocument as { n: number }).n, 0);
    }
    assert.ok(withEvents, 'a batch with events arrived');
    // The batch is not read to its end, and no fetch() was called: the getMore went ahead.
    const deadline = Date.now() + 10_000;
    while (getMores.length === sentBefore && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    assert.equal(getMores.length, sentBefore + 1, 'the next getMore is sent while the batch is being read');
    const received: number[] = [0];
    const pull = async (n: number): Promise<void> => {
      for (const e of await take(stream, n)) received.push((e.fullDocument as { n: number }).n);
    };
    // The getMore sent ahead fails (its connection closes): the next fetch resumes after the batch read.
    await setFailCommand(client, appName, { times: 1 }, { failCommands: ['getMore'], closeConnection: true });
    await pull(3);
    await coll.insertMany([4, 5].map((n) => ({ n })));
    await pull(2);
    assert.deepEqual(received, [0, 1, 2, 3, 4, 5], 'nothing lost, nothing repeated');
    assert.equal(aggregates.length, 2, 'one resume after the failed getMore');
  } finally {
    await setFailCommand(client, appName, 'off');
    await unlock();
    await stream.close();
    await own.close();
    await client.db(dbName).dropDatabase();
  }
});

test('behind: true once a batch read to its end was full (the server held more), false after a partial one', async () => {
  const dbName = uniqueDbName('raw_behind');
  const coll = client.db(dbName).collection('logs');
  const start = await clusterTimeNow(client.db(dbName));
  // 25 events waiting for a stream of batches of 10: two full batches, then 5.
  await coll.insertMany(Array.from({ length: 25 }, (_, n) => ({ n })));
  const stream = new RawChangeStream({ ...streamOptions(client, dbName), startAtOperationTime: start });
  try {
    const seen: boolean[] = [];
    let read = 0;
    while (read < 25) {
      assert.equal(await stream.fetch(), true);
      seen.push(stream.behind);
      while (stream.read() !== undefined) read++;
    }
    // After each fetch: the batch before it (none, 10, 10, then 5 for the empty one that follows).
    assert.deepEqual(seen, [false, true, true]);
    assert.equal(await stream.fetch(), true);
    assert.equal(stream.behind, false, 'the last batch held 5 of 10: caught up');
  } finally {
    await stream.close();
    await client.db(dbName).dropDatabase();
  }
});

/** A stream on `dbName`.logs through `own`, from now (or the start given), every event. */
function streamOptions(own: MongoClient, dbName: string): RawChangeStreamOptions {
  return { client: own, db: own.db(dbName), collection: 'logs', changeStream: {}, pipeline: [], batchSize: 10, maxAwaitTimeMS: 300 };
}
