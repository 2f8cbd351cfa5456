/**
 * Resuming change streams: resumeAfter and startAfter deliver exactly the events after the
 * token, startAtOperationTime is inclusive, malformed tokens fail like on mongod, a token
 * older than the oplog fails with ChangeStreamHistoryLost, and the driver's automatic resume
 * after a dropped connection or a resumable error loses and repeats nothing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { ChangeStream, Document, ResumeToken, MongoServerError, Timestamp } from 'mongodb';
import { lockFailCommand, needsEmulator, setFailCommand, startTestMongo } from '../src/testing.js';
import { connect, emulatorSuite } from './support.js';

const suite = emulatorSuite('resume');
const { fresh } = suite;

async function opened(stream: ChangeStream<Document>): Promise<ChangeStream<Document>> {
  assert.equal(await stream.tryNext(), null);
  return stream;
}

async function take(stream: ChangeStream<Document>, n: number): Promise<Document[]> {
  const out: Document[] = [];
  while (out.length < n) out.push((await stream.next()) as Document);
  return out;
}

test('resumeAfter delivers exactly the events after the token', async () => {
  const c = fresh('after');
  const stream = await opened(c.watch([], { maxAwaitTimeMS: 100 }));
  await c.insertMany(Array.from({ length: 5 }, (_, n) => ({ n })));
  const events = await take(stream, 5);
  await stream.close();
  const resumed = c.watch([], { maxAwaitTimeMS: 100, resumeAfter: events[1]!._id as ResumeToken });
  const rest = await take(resumed, 3);
  assert.deepEqual(rest.map((e) => e.fullDocument.n), [2, 3, 4]);
  assert.deepEqual(rest.map((e) => (e._id as Document)._data), events.slice(2).map((e) => (e._id as Document)._data));
  assert.equal(await resumed.tryNext(), null, 'nothing more');
  await c.insertOne({ n: 5 });
  assert.equal(((await resumed.next()) as Document).fullDocument.n, 5);
  await resumed.close();
});

test('startAfter continues after an invalidate, resumeAfter refuses to', async () => {
  const c = fresh('start_after');
  const stream = await opened(c.watch([], { maxAwaitTimeMS: 100 }));
  await c.insertOne({ n: 1 });
  await c.drop();
  const [ins, drop, inv] = await take(stream, 3);
  assert.deepEqual([ins!.operationType, drop!.operationType, inv!.operationType], ['insert', 'drop', 'invalidate']);
  await stream.close();
  await c.insertOne({ n: 2 });
  await assert.rejects(c.watch([], { maxAwaitTimeMS: 100, resumeAfter: inv!._id as ResumeToken }).next(), (err: MongoServerError) => err.code === 260);
  const after = c.watch([], { maxAwaitTimeMS: 100, startAfter: inv!._id as ResumeToken });
  const first = (await after.next()) as Document;
  assert.equal(first.operationType, 'insert');
  assert.equal(first.fullDocument.n, 2);
  await after.close();
  // resuming from the drop itself yields the invalidate first
  const fromDrop = c.watch([], { maxAwaitTimeMS: 100, resumeAfter: drop!._id as ResumeToken });
  assert.equal(((await fromDrop.next()) as Document).operationType, 'invalidate');
  await fromDrop.close();
});

test('startAtOperationTime includes the event at that time', async () => {
  const c = fresh('at_time');
  const stream = await opened(c.watch([], { maxAwaitTimeMS: 100 }));
  await c.insertMany([{ n: 0 }, { n: 1 }, { n: 2 }]);
  const events = await take(stream, 3);
  await stream.close();
  const at = events[1]!.clusterTime as Timestamp;
  const fromTime = c.watch([], { maxAwaitTimeMS: 100, startAtOperationTime: at });
  const got = await take(fromTime, 2);
  assert.deepEqual(got.map((e) => e.fullDocument.n), [1, 2]);
  await fromTime.close();
});

test('malformed resume tokens fail like on mongod', async () => {
  const c = fresh('malformed');
  await c.insertOne({ n: 1 });
  await assert.rejects(c.watch([], { maxAwaitTimeMS: 100, resumeAfter: { _data: 'zz-not-hex' } }).next(), (err: MongoServerError) => {
    assert.equal(err.code, 9);
    assert.match(err.message, /not a valid hex string/);
    return true;
  });
  await assert.rejects(c.watch([], { maxAwaitTimeMS: 100, resumeAfter: { _data: 42 } as never }).next(), (err: MongoServerError) => {
    assert.equal(err.code, 40647);
    assert.match(err.message, /Bad resume token/);
    return true;
  });
  await assert.rejects(c.watch([], { maxAwaitTimeMS: 100, resumeAfter: { nope: 1 } as never }).next(), { code: 40647 });
});

test('a token older than the oplog fails with ChangeStreamHistoryLost', { skip: needsEmulator }, async () => {
  const small = await startTestMongo({ oplogSize: 50 });
  const c2 = await connect(small.uri);
  try {
    const c = c2.db('h').collection('lost');
    const stream = await opened(c.watch([], { maxAwaitTimeMS: 100 }));
    await c.insertOne({ n: 0 });
    const [first] = await take(stream, 1);
    await stream.close();
    for (let i = 0; i < 4; i++) await c.insertMany(Array.from({ length: 25 }, (_, n) => ({ n })));
    const check = (err: MongoServerError): boolean => {
      assert.equal(err.code, 286);
      assert.equal(err.codeName, 'ChangeStreamHistoryLost');
      assert.ok(err.hasErrorLabel('NonResumableChangeStreamError'));
      return true;
    };
    await assert.rejects(c.watch([], { maxAwaitTimeMS: 100, resumeAfter: first!._id as ResumeToken }).next(), check);
    await assert.rejects(c.watch([], { maxAwaitTimeMS: 100, startAtOperationTime: first!.clusterTime as Timestamp }).next(), check);
    // a token still in the oplog works
    const recent = await opened(c.watch([], { maxAwaitTimeMS: 100 }));
    await c.insertOne({ n: 'recent' });
    const [ev] = await take(recent, 1);
    await recent.close();
    await c.insertOne({ n: 'after' });
    const ok = c.watch([], { maxAwaitTimeMS: 100, resumeAfter: ev!._id as ResumeToken });
    assert.equal(((await ok.next()) as Document).fullDocument.n, 'after');
    await ok.close();
  } finally {
    await c2.close();
    await small.close();
  }
});

test('the driver resumes by itself after a dropped connection or a resumable error, losing and repeating nothing', async () => {
  const appName = `resume-${randomBytes(4).toString('hex')}`;
  const aggregates: Document[] = [];
  const own = await connect(suite.mongo.uri, { appName, monitorCommands: true });
  own.on('commandStarted', (e) => {
    if (e.commandName === 'aggregate') aggregates.push(e.command);
  });
  const failCommand = (mode: unknown, data?: Document): Promise<Document> => setFailCommand(suite.client, appName, mode, data);
  const c = fresh('auto', own.db(suite.db.databaseName));
  const unlock = await lockFailCommand(suite.client);
  const stream = await opened(c.watch([], { maxAwaitTimeMS: 200 }));
  try {
    const received: number[] = [];
    const pull = async (n: number): Promise<void> => {
      for (const e of await take(stream, n)) received.push(e.fullDocument.n as number);
    };
    await c.insertMany([0, 1, 2].map((n) => ({ n })));
    await pull(3);

    await failCommand({ times: 1 }, { failCommands: ['getMore'], closeConnection: true });
    await c.insertMany([3, 4, 5].map((n) => ({ n })));
    await pull(3);
    assert.equal(aggregates.length, 2, 'one resume after the closed connection');
    assert.ok((aggregates[1]!.pipeline as Document[])[0]!.$changeStream.resumeAfter, 'resumed with a token');

    // failCommand labels its error only with the errorLabels asked for (as mongod 4.4+).
    await failCommand({ times: 1 }, { failCommands: ['getMore'], errorCode: 91, errorLabels: ['ResumableChangeStreamError'] });
    await c.insertMany([6, 7].map((n) => ({ n })));
    await pull(2);
    assert.equal(aggregates.length, 3, 'one resume after ShutdownInProgress labelled ResumableChangeStreamError');

    // The server-side way: the error raised once the cursor is checked out is labelled by the server.
    await suite.client.db('admin').command({ configureFailPoint: 'failGetMoreAfterCursorCheckout', mode: { times: 1 }, data: { errorCode: 91 } });
    await c.insertMany([8, 9].map((n) => ({ n })));
    await pull(2);
    assert.equal(aggregates.length, 4, 'one resume after ShutdownInProgress raised after the cursor checkout');
    assert.deepEqual(received, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);

    // Without the label a resumable code surfaces: the driver does not resume (4.4+ rule).
    await failCommand({ times: 1 }, { failCommands: ['getMore'], errorCode: 91 });
    await c.insertOne({ n: 10 });
    await assert.rejects(stream.next(), (err: MongoServerError) => err.code === 91 && !err.hasErrorLabel('ResumableChangeStreamError'));
    assert.equal(aggregates.length, 4, 'no resume after an unlabelled error');
  } finally {
    await suite.client.db('admin').command({ configureFailPoint: 'failGetMoreAfterCursorCheckout', mode: 'off' });
    await failCommand('off');
    await unlock();
    await stream.close();
    await own.close();
  }
});
