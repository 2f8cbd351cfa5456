/**
 * Change streams: event shapes (insert, update, replace, delete, drop, invalidate),
 * fullDocument: 'updateLookup', $match/$project after $changeStream, database and deployment
 * streams, postBatchResumeToken on every batch (advancing while idle), and awaitData getMore
 * waiting for events without polling.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Timestamp } from 'mongodb';
import type { ChangeStream, Collection, Document, MongoServerError } from 'mongodb';
import { uniqueDbName } from '../src/testing.js';
import { emulatorSuite } from './support.js';

const suite = emulatorSuite('streams');
const { fresh } = suite;

/** Opens the stream's cursor now, so every later write is seen. */
async function opened<T extends Document>(stream: ChangeStream<T>): Promise<ChangeStream<T>> {
  assert.equal(await stream.tryNext(), null);
  return stream;
}

async function take(stream: ChangeStream<Document>, n: number): Promise<Document[]> {
  const out: Document[] = [];
  while (out.length < n) out.push((await stream.next()) as Document);
  return out;
}

const sortedKeys = (d: Document): string[] => Object.keys(d).sort();

test('events have the shape of the server: insert, update, replace, delete, drop, invalidate', async () => {
  const c = fresh('shapes');
  const stream = await opened(c.watch([], { maxAwaitTimeMS: 100 }));
  await c.insertOne({ _id: 1 as never, a: 1, keep: 'x' });
  await c.updateOne({ _id: 1 as never }, { $set: { b: 2 }, $unset: { a: '' } });
  await c.replaceOne({ _id: 1 as never }, { replaced: true });
  await c.deleteOne({ _id: 1 as never });
  await c.drop();
  const [ins, upd, rep, del, drop, inv] = await take(stream, 6);
  const ns = { db: suite.db.databaseName, coll: c.collectionName };

  for (const ev of [ins, upd, rep, del, drop, inv]) {
    assert.equal(typeof (ev!._id as Document)._data, 'string');
    assert.match((ev!._id as Document)._data as string, /^[0-9A-F]+$/i);
    assert.ok(ev!.clusterTime instanceof Timestamp);
    assert.ok(ev!.wallTime instanceof Date);
  }
  assert.deepEqual(sortedKeys(ins!), ['_id', 'clusterTime', 'documentKey', 'fullDocument', 'ns', 'operationType', 'wallTime']);
  assert.equal(ins!.operationType, 'insert');
  assert.deepEqual(ins!.ns, ns);
  assert.deepEqual(ins!.documentKey, { _id: 1 });
  assert.deepEqual(ins!.fullDocument, { _id: 1, a: 1, keep: 'x' });

  assert.deepEqual(sortedKeys(upd!), ['_id', 'clusterTime', 'documentKey', 'ns', 'operationType', 'updateDescription', 'wallTime']);
  assert.equal(upd!.operationType, 'update');
  assert.deepEqual(upd!.updateDescription, { updatedFields: { b: 2 }, removedFields: ['a'], truncatedArrays: [] });

  assert.deepEqual(sortedKeys(rep!), ['_id', 'clusterTime', 'documentKey', 'fullDocument', 'ns', 'operationType', 'wallTime']);
  assert.equal(rep!.operationType, 'replace');
  assert.deepEqual(rep!.fullDocument, { _id: 1, replaced: true });

  assert.deepEqual(sortedKeys(del!), ['_id', 'clusterTime', 'documentKey', 'ns', 'operationType', 'wallTime']);
  assert.equal(del!.operationType, 'delete');
  assert.deepEqual(del!.documentKey, { _id: 1 });

  assert.deepEqual(sortedKeys(drop!), ['_id', 'clusterTime', 'ns', 'operationType', 'wallTime']);
  assert.equal(drop!.operationType, 'drop');
  assert.deepEqual(drop!.ns, ns);

  assert.deepEqual(sortedKeys(inv!), ['_id', 'clusterTime', 'operationType', 'wallTime']);
  assert.equal(inv!.operationType, 'invalidate');

  const times = [ins, upd, rep, del, drop].map((e) => e!.clusterTime as Timestamp);
  for (let i = 1; i < times.length; i++) assert.ok(times[i - 1]!.lessThan(times[i]!), 'cluster times increase');
  const tokens = [ins, upd, rep, del, drop, inv].map((e) => (e!._id as Document)._data as string);
  assert.equal(new Set(tokens).size, tokens.length, 'every event has its own resume token');
  await stream.close();
});

test('update events describe nested, array and removed fields', async () => {
  const c = fresh('describe');
  await c.insertOne({ _id: 'd' as never, nested: { a: 1, b: 1 }, list: [1, 2, 3], gone: true });
  const stream = await opened(c.watch([], { maxAwaitTimeMS: 100 }));
  await c.updateOne({ _id: 'd' as never }, { $set: { 'nested.a': 5 }, $push: { list: 4 } as Document, $unset: { gone: '' } });
  await c.updateOne({ _id: 'd' as never }, { $pop: { list: 1 } });
  // truncatedArrays only come from pipeline-style updates
  await c.updateOne({ _id: 'd' as never }, [{ $set: { list: { $slice: ['$list', 2] }, added: 1 } }]);
  const [first, second, third] = await take(stream, 3);
  assert.deepEqual(first!.updateDescription, {
    updatedFields: { 'nested.a': 5, 'list.3': 4 },
    removedFields: ['gone'],
    truncatedArrays: [],
  });
  assert.deepEqual(second!.updateDescription, { updatedFields: { list: [1, 2, 3] }, removedFields: [], truncatedArrays: [] });
  assert.deepEqual(third!.updateDescription, { updatedFields: { added: 1 }, removedFields: [], truncatedArrays: [{ field: 'list', newSize: 2 }] });
  await stream.close();
});

test("fullDocument: 'updateLookup' returns the current document, or null once deleted", async () => {
  const c = fresh('lookup');
  const stream = await opened(c.watch([], { maxAwaitTimeMS: 100, fullDocument: 'updateLookup' }));
  await c.insertOne({ _id: 'x' as never, v: 0 });
  await c.updateOne({ _id: 'x' as never }, { $set: { v: 1 } });
  await c.insertOne({ _id: 'y' as never, v: 0 });
  await c.updateOne({ _id: 'y' as never }, { $set: { v: 1 } });
  await c.deleteOne({ _id: 'y' as never });
  const events = await take(stream, 5);
  assert.deepEqual(events.map((e) => e.operationType), ['insert', 'update', 'insert', 'update', 'delete']);
  assert.deepEqual(events[1]!.fullDocument, { _id: 'x', v: 1 });
  assert.equal(events[3]!.fullDocument, null, 'the document was deleted before the lookup');
  assert.equal(events[4]!.fullDocument, undefined);
  await stream.close();
});

test('$match and $project after $changeStream', async () => {
  const c = fresh('pipeline');
  const stream = await opened(
    c.watch([{ $match: { operationType: 'insert', 'fullDocument.keep': true } }, { $project: { 'fullDocument.secret': 0 } }], {
      maxAwaitTimeMS: 100,
    }),
  );
  await c.insertOne({ keep: false, n: 1 });
  await c.insertOne({ keep: true, n: 2, secret: 's' });
  await c.updateMany({}, { $set: { touched: true } });
  await c.insertOne({ keep: true, n: 3 });
  const [a, b] = await take(stream, 2);
  assert.equal(a!.fullDocument.n, 2);
  assert.equal(a!.fullDocument.secret, undefined);
  assert.equal(b!.fullDocument.n, 3);
  assert.ok(a!.clusterTime instanceof Timestamp);
  await stream.close();

  const broken = await opened(c.watch([{ $project: { _id: 0 } }], { maxAwaitTimeMS: 100 }));
  await c.insertOne({ n: 4 });
  await assert.rejects(broken.next(), (err: MongoServerError) => {
    assert.equal(err.code, 280);
    assert.ok(err.hasErrorLabel('NonResumableChangeStreamError'));
    return true;
  });
  await broken.close();
});

test('database and deployment streams; dropDatabase events', async () => {
  const other = suite.client.db(uniqueDbName('streamdb'));
  const dbStream = await opened(other.watch([], { maxAwaitTimeMS: 100 }));
  const clusterStream = await opened(suite.client.watch([{ $match: { 'ns.db': other.databaseName } }], { maxAwaitTimeMS: 100 }));
  await other.collection('one').insertOne({ n: 1 });
  await other.collection('two').insertOne({ n: 2 });
  await other.dropDatabase();
  const events = await take(dbStream, 6);
  assert.deepEqual(events.slice(0, 2).map((e) => [e.operationType, (e.ns as Document).coll]), [['insert', 'one'], ['insert', 'two']]);
  assert.deepEqual(events.slice(2, 4).map((e) => e.operationType), ['drop', 'drop']);
  assert.deepEqual(events.slice(2, 4).map((e) => (e.ns as Document).coll).sort(), ['one', 'two']);
  assert.equal(events[4]!.operationType, 'dropDatabase');
  assert.deepEqual(events[4]!.ns, { db: other.databaseName });
  assert.equal(events[5]!.operationType, 'invalidate');
  const seen = await take(clusterStream, 5);
  assert.deepEqual(seen.map((e) => e.operationType), ['insert', 'insert', 'drop', 'drop', 'dropDatabase']);
  await dbStream.close();
  await clusterStream.close();
});

test('renameCollection: a rename event, then invalidate', async () => {
  const c = fresh('rename');
  await c.insertOne({ n: 1 });
  const stream = await opened(c.watch([], { maxAwaitTimeMS: 100 }));
  const target = `${c.collectionName}_renamed`;
  await c.rename(target);
  const [rename, inv] = await take(stream, 2);
  assert.equal(rename!.operationType, 'rename');
  assert.deepEqual(rename!.ns, { db: suite.db.databaseName, coll: c.collectionName });
  assert.deepEqual(rename!.to, { db: suite.db.databaseName, coll: target });
  assert.equal(inv!.operationType, 'invalidate');
  assert.equal(await suite.db.collection(target).countDocuments(), 1);
  await stream.close();
});

async function openRaw(coll: Collection<Document>, spec: Document = {}): Promise<Document> {
  const reply = await suite.db.command(
    { aggregate: coll.collectionName, pipeline: [{ $changeStream: spec }], cursor: {} },
    { promoteLongs: false },
  );
  return reply.cursor as Document;
}

async function getMore(coll: Collection<Document>, id: unknown, maxTimeMS: number): Promise<Document> {
  const reply = await suite.db.command({ getMore: id, collection: coll.collectionName, maxTimeMS }, { promoteLongs: false });
  return reply.cursor as Document;
}

test('every batch carries a postBatchResumeToken that advances while the stream is idle', async () => {
  const watched = fresh('pbrt');
  const elsewhere = fresh('pbrt_other');
  const first = await openRaw(watched);
  assert.deepEqual(first.firstBatch, []);
  const pbrt0 = (first.postBatchResumeToken as Document)._data as string;
  assert.equal(typeof pbrt0, 'string');
  await elsewhere.insertOne({ unrelated: true });
  const idle = await getMore(watched, first.id, 300);
  assert.deepEqual(idle.nextBatch, []);
  const pbrt1 = (idle.postBatchResumeToken as Document)._data as string;
  assert.ok(pbrt1 > pbrt0, 'the token of an idle stream moves forward');
  await watched.insertOne({ n: 1 });
  const withEvent = await getMore(watched, first.id, 5000);
  const [ev] = withEvent.nextBatch as Document[];
  assert.equal(ev!.operationType, 'insert');
  const pbrt2 = (withEvent.postBatchResumeToken as Document)._data as string;
  assert.ok(pbrt2 >= ((ev!._id as Document)._data as string));
  await suite.db.command({ killCursors: watched.collectionName, cursors: [first.id] });

  // The driver keeps the idle token as its resume token, and resuming from it loses nothing.
  const stream = await opened(watched.watch([], { maxAwaitTimeMS: 100 }));
  const idleToken = stream.resumeToken as Document;
  assert.ok(idleToken?._data);
  await stream.close();
  await watched.insertOne({ n: 2 });
  const resumed = watched.watch([], { maxAwaitTimeMS: 100, resumeAfter: idleToken });
  const next = (await resumed.next()) as Document;
  assert.equal(next.fullDocument.n, 2);
  await resumed.close();
});

test('a getMore waits for new events (awaitData) and returns as soon as one arrives', async () => {
  const c = fresh('await');
  const cursor = await openRaw(c);
  let t = performance.now();
  const pending = getMore(c, cursor.id, 5000);
  setTimeout(() => void c.insertOne({ late: true }), 300);
  const batch = await pending;
  const promptly = performance.now() - t;
  assert.equal((batch.nextBatch as Document[]).length, 1);
  assert.ok(promptly >= 250 && promptly < 2000, `returned ${promptly.toFixed(0)} ms after the getMore, soon after the insert`);

  t = performance.now();
  const empty = await getMore(c, cursor.id, 700);
  const waited = performance.now() - t;
  assert.deepEqual(empty.nextBatch, []);
  assert.ok(waited >= 600 && waited < 3000, `an idle getMore waits about maxTimeMS (waited ${waited.toFixed(0)} ms)`);
  await suite.db.command({ killCursors: c.collectionName, cursors: [cursor.id] });
});
