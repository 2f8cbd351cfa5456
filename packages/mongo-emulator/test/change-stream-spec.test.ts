/**
 * What MongoDB's change-stream specification tests expect from a server, written from the
 * manual and the specification (mongodb/specifications source/change-streams), not copied:
 *  - failCommand errors on getMore carry only the errorLabels asked for; the
 *    failGetMoreAfterCursorCheckout fail point raises a code the server labels as a real
 *    failure of that getMore (ResumableChangeStreamError for the resumable codes);
 *  - updateDescription.disambiguatedPaths (showExpandedEvents);
 *  - operationDescription.dropTarget when a rename replaces a collection;
 *  - modify events for collMod (also one that changes nothing, and hiding an index);
 *  - views: create with viewOn and pipeline, listed as views, read through their pipeline,
 *    reported by a create event;
 *  - an unknown stage after $changeStream answers 40324.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Binary, Int32, UUID } from 'mongodb';
import type { ChangeStream, Document, MongoClient, MongoServerError } from 'mongodb';
import { lockFailCommand, setFailCommand } from '../src/testing.js';
import { connect, emulatorSuite } from './support.js';

const suite = emulatorSuite('spec');
const { fresh } = suite;

/** Runs `fn` holding the fail point lock (a shared real server has one fail point of each name). */
async function withFailPoints(fn: () => Promise<void>): Promise<void> {
  const unlock = await lockFailCommand(suite.client);
  try {
    await fn();
  } finally {
    await suite.client.db('admin').command({ configureFailPoint: 'failGetMoreAfterCursorCheckout', mode: 'off' });
    await unlock();
  }
}

async function opened(stream: ChangeStream<Document>): Promise<ChangeStream<Document>> {
  assert.equal(await stream.tryNext(), null);
  return stream;
}

/** Opens a change stream with the aggregate command and returns its cursor id. */
async function openCursor(client: MongoClient, db: string, coll: string): Promise<Document> {
  const reply = await client.db(db).command({ aggregate: coll, pipeline: [{ $changeStream: {} }], cursor: {} });
  return reply.cursor.id as Document;
}

function getMoreFailure(code: number, mode: unknown = { times: 1 }): Promise<Document> {
  return suite.client.db('admin').command({ configureFailPoint: 'failGetMoreAfterCursorCheckout', mode, data: { errorCode: code } });
}

test('failCommand on getMore: a resumable code carries no ResumableChangeStreamError label unless errorLabels asks for it', () =>
  withFailPoints(async () => {
  const appName = 'spec-failcommand';
  const own = await connect(suite.mongo.uri, { appName });
  try {
    const c = fresh('fc');
    const db = suite.db.databaseName;
    await setFailCommand(suite.client, appName, { times: 1 }, { failCommands: ['getMore'], errorCode: 6 });
    const id = await openCursor(own, db, c.collectionName);
    await assert.rejects(own.db(db).command({ getMore: id, collection: c.collectionName, maxTimeMS: 10 }), (err: MongoServerError) => {
      assert.equal(err.code, 6);
      assert.deepEqual(err.errorLabels, [], 'no label: mongod fails the command before it knows it reads a change stream');
      return true;
    });
    await setFailCommand(suite.client, appName, { times: 1 }, { failCommands: ['getMore'], errorCode: 50, errorLabels: ['ResumableChangeStreamError'] });
    await assert.rejects(own.db(db).command({ getMore: id, collection: c.collectionName, maxTimeMS: 10 }), (err: MongoServerError) => {
      assert.equal(err.code, 50);
      assert.ok(err.hasErrorLabel('ResumableChangeStreamError'));
      return true;
    });

    // The driver surfaces the unlabelled error (no resume), as against a real 4.4+ server.
    const stream = await opened(own.db(db).collection(c.collectionName).watch([], { maxAwaitTimeMS: 50 }));
    await setFailCommand(suite.client, appName, { times: 1 }, { failCommands: ['getMore'], errorCode: 6 });
    await c.insertOne({ x: 1 });
    await assert.rejects(stream.next(), (err: MongoServerError) => err.code === 6);
    await stream.close();
  } finally {
    await setFailCommand(suite.client, appName, 'off');
    await own.close();
  }
  }));

/** The resumable codes of the change streams specification (servers 4.4+ label them). */
const RESUMABLE = [6, 7, 89, 91, 133, 150, 189, 234, 262, 9001, 10107, 11600, 11602, 13435, 13436, 63];

test('failGetMoreAfterCursorCheckout raises each resumable code labelled ResumableChangeStreamError, and kills the cursor', () =>
  withFailPoints(async () => {
  const c = fresh('checkout');
  const db = suite.db.databaseName;
  for (const code of RESUMABLE) {
    const id = await openCursor(suite.client, db, c.collectionName);
    await getMoreFailure(code);
    await assert.rejects(suite.client.db(db).command({ getMore: id, collection: c.collectionName, maxTimeMS: 10 }), (err: MongoServerError) => {
      assert.equal(err.code, code);
      // (the driver adds ResetPool to shutdown and not-primary errors itself)
        assert.ok(err.hasErrorLabel('ResumableChangeStreamError'), `code ${code}: ${String(err.errorLabels)}`);
        assert.ok(!err.hasErrorLabel('NonResumableChangeStreamError'));
      return true;
    });
    await assert.rejects(suite.client.db(db).command({ getMore: id, collection: c.collectionName, maxTimeMS: 10 }), { code: 43 }, 'the cursor is gone');
  }
  // A code outside the list is not labelled resumable; nor is any error of a cursor that is no change stream.
  let id = await openCursor(suite.client, db, c.collectionName);
  await getMoreFailure(2);
  await assert.rejects(suite.client.db(db).command({ getMore: id, collection: c.collectionName, maxTimeMS: 10 }), (err: MongoServerError) => {
    assert.equal(err.code, 2);
    assert.deepEqual(err.errorLabels, []);
    return true;
  });
  await c.insertMany([{ a: 1 }, { a: 2 }, { a: 3 }]);
  const find = await suite.client.db(db).command({ find: c.collectionName, batchSize: 1 });
  id = find.cursor.id as Document;
  await getMoreFailure(6);
  await assert.rejects(suite.client.db(db).command({ getMore: id, collection: c.collectionName }), (err: MongoServerError) => {
    assert.equal(err.code, 6);
    assert.ok(!err.hasErrorLabel('ResumableChangeStreamError'));
    return true;
  });
  }));

test('the driver resumes after a resumable code raised by failGetMoreAfterCursorCheckout, losing nothing', () =>
  withFailPoints(async () => {
  const started: Document[] = [];
  const own = await connect(suite.mongo.uri, { monitorCommands: true });
  own.on('commandStarted', (e) => {
    if (e.commandName === 'aggregate') started.push(e.command);
  });
  try {
    const c = own.db(suite.db.databaseName).collection(fresh('driver').collectionName);
    const stream = await opened(c.watch([], { maxAwaitTimeMS: 50 }));
    await getMoreFailure(10107);
    await c.insertOne({ n: 1 });
    const ev = await stream.next();
    assert.equal(ev.operationType, 'insert');
    assert.equal(started.length, 2, 'one resume');
    assert.ok((started[1]!.pipeline as Document[])[0]!.$changeStream.resumeAfter || (started[1]!.pipeline as Document[])[0]!.$changeStream.startAtOperationTime);
    await stream.close();
  } finally {
    await getMoreFailure(0, 'off');
    await own.close();
  }
  }));

test('updateDescription.disambiguatedPaths with showExpandedEvents: numeric field names, array indexes as integers', async () => {
  const c = fresh('paths');
  await c.insertMany([{ _id: 1, a: { '1': 1 } }, { _id: 2, a: [{ '1': 1 }] }, { _id: 3, b: { c: 1 }, arr: [1, 2] }] as never[]);
  const plain = await opened(c.watch([], { maxAwaitTimeMS: 50 }));
  const expanded = await opened(c.watch([], { maxAwaitTimeMS: 50, showExpandedEvents: true }));
  await c.updateOne({ _id: 1 as never }, { $set: { 'a.1': 2 } });
  await c.updateOne({ _id: 2 as never }, { $set: { 'a.0.1': 2 } });
  await c.updateOne({ _id: 3 as never }, { $set: { 'b.c': 2, 'arr.1': 5 } });
  const p = await plain.next();
  assert.ok(p.operationType === 'update');
  assert.equal('disambiguatedPaths' in p.updateDescription, false, 'only with showExpandedEvents');
  const [e1, e2, e3] = [await expanded.next(), await expanded.next(), await expanded.next()];
  assert.ok(e1.operationType === 'update' && e2.operationType === 'update' && e3.operationType === 'update');
  assert.deepEqual(e1.updateDescription.updatedFields, { 'a.1': 2 });
  assert.deepEqual(e1.updateDescription.disambiguatedPaths, { 'a.1': ['a', '1'] });
  assert.deepEqual(e2.updateDescription.disambiguatedPaths, { 'a.0.1': ['a', 0, '1'] });
  // the index is an integer in BSON (int32), not the string "0"
  const raw = await opened(c.watch([], { maxAwaitTimeMS: 50, showExpandedEvents: true, promoteValues: false }));
  await c.updateOne({ _id: 2 as never }, { $set: { 'a.0.1': 3 } });
  const r = await raw.next();
  const segments = (r as Document).updateDescription.disambiguatedPaths['a.0.1'] as unknown[];
  assert.ok(segments[1] instanceof Int32, 'array index encoded as an int');
  assert.deepEqual(e3.updateDescription.disambiguatedPaths, {}, 'no ambiguous path: an empty document');
  await Promise.all([plain.close(), expanded.close(), raw.close()]);
});

test('a rename that replaces a collection reports operationDescription.dropTarget (the replaced collection UUID)', async () => {
  const c = fresh('src');
  const target = fresh('target');
  await c.insertOne({ a: 1 });
  await target.insertOne({ b: 1 });
  const listed = await suite.db.listCollections({ name: target.collectionName }).toArray();
  const targetUuid = (listed[0] as Document).info.uuid as Binary;
  const stream = await opened(c.watch([], { maxAwaitTimeMS: 50, showExpandedEvents: true }));
  await c.rename(target.collectionName, { dropTarget: true });
  const ev = (await stream.next()) as Document;
  assert.equal(ev.operationType, 'rename');
  assert.deepEqual(ev.to, { db: suite.db.databaseName, coll: target.collectionName });
  assert.deepEqual(ev.operationDescription.to, ev.to);
  assert.ok(ev.operationDescription.dropTarget instanceof Binary || ev.operationDescription.dropTarget instanceof UUID);
  assert.equal(Buffer.from((ev.operationDescription.dropTarget as Binary).buffer).toString('hex'), Buffer.from(targetUuid.buffer).toString('hex'));
  await stream.close();

  // No collection replaced: no dropTarget.
  const d = fresh('src2');
  await d.insertOne({ a: 1 });
  const s2 = await opened(d.watch([], { maxAwaitTimeMS: 50, showExpandedEvents: true }));
  await d.rename(`${d.collectionName}_new`, { dropTarget: true });
  const ev2 = (await s2.next()) as Document;
  assert.equal(ev2.operationType, 'rename');
  assert.equal('dropTarget' in ev2.operationDescription, false);
  await s2.close();
});

test('collMod reports a modify event with showExpandedEvents: one that changes nothing, and hiding an index', async () => {
  const c = fresh('collmod');
  await c.createIndex({ x: 1 }, { name: 'x_1' });
  const stream = await opened(c.watch([], { maxAwaitTimeMS: 50, showExpandedEvents: true }));
  await suite.db.command({ collMod: c.collectionName });
  const hide = await suite.db.command({ collMod: c.collectionName, index: { name: 'x_1', hidden: true } });
  assert.equal(hide.hidden_old, false);
  assert.equal(hide.hidden_new, true);
  const noop = (await stream.next()) as Document;
  assert.equal(noop.operationType, 'modify');
  assert.deepEqual(noop.ns, { db: suite.db.databaseName, coll: c.collectionName });
  const hidden = (await stream.next()) as Document;
  assert.equal(hidden.operationType, 'modify');
  assert.deepEqual(hidden.operationDescription.index, { name: 'x_1', hidden: true });
  assert.deepEqual(hidden.stateBeforeChange.indexOptions, { hidden: false });
  const indexes = await c.listIndexes().toArray();
  assert.equal(indexes.find((i) => i.name === 'x_1')?.hidden, true);
  // a hidden index still enforces nothing new and reads still find documents (the planner ignores it)
  await c.insertOne({ x: 5 });
  assert.equal((await c.findOne({ x: 5 }))?.x, 5);
  await suite.db.command({ collMod: c.collectionName, index: { keyPattern: { x: 1 }, hidden: false } });
  assert.equal((await c.listIndexes().toArray()).find((i) => i.name === 'x_1')?.hidden, undefined);
  // without showExpandedEvents there is no modify event
  const plain = await opened(c.watch([], { maxAwaitTimeMS: 50 }));
  await suite.db.command({ collMod: c.collectionName });
  await c.insertOne({ after: true });
  assert.equal((await plain.next()).operationType, 'insert');
  await Promise.all([stream.close(), plain.close()]);
});

test('views: create with viewOn and pipeline, listed as a view, read through its pipeline, read-only', async () => {
  const source = fresh('source');
  const viewName = `${source.collectionName}_view`;
  await source.insertMany([{ n: 1, secret: 'a' }, { n: 2, secret: 'b' }, { n: 3, secret: 'c' }]);
  const dbStream = await opened(suite.db.watch([], { maxAwaitTimeMS: 50, showExpandedEvents: true }));
  const pipeline = [{ $match: { n: { $gte: 2 } } }, { $project: { _id: 0, n: 1 } }];
  await suite.db.createCollection(viewName, { viewOn: source.collectionName, pipeline });
  const [info] = await suite.db.listCollections({ name: viewName }).toArray();
  assert.equal(info?.type, 'view');
  assert.deepEqual((info as Document).options, { viewOn: source.collectionName, pipeline });
  const view = suite.db.collection(viewName);
  assert.deepEqual(await view.find({}, { sort: { n: 1 } }).toArray(), [{ n: 2 }, { n: 3 }]);
  assert.deepEqual(await view.find({ n: 3 }).toArray(), [{ n: 3 }]);
  assert.equal(await view.countDocuments(), 2);
  assert.deepEqual(await view.aggregate([{ $group: { _id: null, total: { $sum: '$n' } } }]).toArray(), [{ _id: null, total: 5 }]);
  await assert.rejects(view.insertOne({ n: 4 }), { code: 166 });
  await assert.rejects(view.deleteMany({}), { code: 166 });
  await assert.rejects(view.createIndex({ n: 1 }), { code: 166 });
  // a view on a view
  await suite.db.createCollection(`${viewName}2`, { viewOn: viewName, pipeline: [{ $match: { n: 3 } }] });
  assert.deepEqual(await suite.db.collection(`${viewName}2`).find().toArray(), [{ n: 3 }]);

  const ev = (await dbStream.next()) as Document;
  assert.equal(ev.operationType, 'create');
  assert.deepEqual(ev.ns, { db: suite.db.databaseName, coll: viewName });
  assert.deepEqual(ev.operationDescription, { viewOn: source.collectionName, pipeline });
  assert.equal('collectionUUID' in ev, false, 'a view has no collection UUID');
  await dbStream.close();
});

test('an unknown stage after $changeStream answers 40324 (Unrecognized pipeline stage name); a known one not allowed there, 20', async () => {
  const c = fresh('stage');
  await assert.rejects(c.watch([{ $unsupported: 'foo' }]).tryNext(), (err: MongoServerError) => {
    assert.equal(err.code, 40324);
    assert.match(err.message, /Unrecognized pipeline stage name: '\$unsupported'/);
    return true;
  });
  await assert.rejects(c.watch([{ $group: { _id: null } }]).tryNext(), { code: 20 });
});
