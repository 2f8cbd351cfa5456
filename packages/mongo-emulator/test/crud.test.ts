/**
 * Commands the archiver and its tests use: CRUD with operators, upserts and multi updates,
 * find options and cursors, findAndModify, count, distinct, aggregation (grouping per hour
 * with a timezone), indexes (unique: E11000), catalog commands, the oplog window through
 * local.oplog.rs, CommandNotFound, and transactions refused without applying writes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Double, Int32, Long, ObjectId, Timestamp } from 'mongodb';
import type { Document, MongoBulkWriteError, MongoServerError } from 'mongodb';
import { startEmulator } from '../src/index.js';
import { needsEmulator, uniqueDbName } from '../src/testing.js';
import { connect, emulatorSuite, waitUntil } from './support.js';

const suite = emulatorSuite('crud');
const { fresh } = suite;

test('a projection of the _id only: every _id type, sorted or not, skip, limit, several batches', async () => {
  const c = fresh('find_ids');
  const oid = new ObjectId();
  const ids: unknown[] = [oid, 7, 'seven', { a: 1, b: [2, 3] }, new Date(Date.UTC(2024, 0, 1))];
  await c.insertMany(ids.map((_id, i) => ({ _id, i, big: 'x'.repeat(100) })) as Document[]);
  await c.insertMany(Array.from({ length: 1200 }, (_, k) => ({ i: 100 + k })));
  const byI = await c.find({ i: { $lt: 5 } }, { projection: { _id: 1 } }).sort({ i: 1 }).toArray();
  assert.deepEqual(byI, ids.map((_id) => ({ _id })));
  assert.deepEqual(await c.find({ i: { $lt: 5 } }, { projection: { _id: true } }).sort({ i: -1 }).skip(1).limit(2).toArray(), [{ _id: { a: 1, b: [2, 3] } }, { _id: 'seven' }]);
  // Unsorted, read in batches (the cursor's lazy path): only `_id`s, each document once.
  const all = await c.find({}, { projection: { _id: 1 }, batchSize: 500 }).toArray();
  assert.equal(all.length, 1205);
  assert.ok(all.every((d) => Object.keys(d).length === 1 && '_id' in d));
  assert.equal(new Set(all.map((d) => JSON.stringify(d._id))).size, 1205);
  assert.deepEqual(await c.find({ i: 2 }, { projection: { _id: 1 } }).toArray(), [{ _id: 'seven' }]);
  // Other projections keep mingo's answers.
  assert.deepEqual(await c.find({ i: 1 }, { projection: { _id: 1, i: 1 } }).toArray(), [{ _id: 7, i: 1 }]);
  assert.deepEqual(await c.find({ i: 1 }, { projection: { _id: 0 } }).toArray(), [{ i: 1, big: 'x'.repeat(100) }]);
});

test('projections, reshaping aggregations and updates keep the BSON number types (Int64, integral Double, Int32) of the stored document', async () => {
  const c = fresh('number_types');
  const raw = { promoteValues: false } as const;
  const typeOf = (v: unknown): string => (v as { _bsontype?: string })._bsontype ?? typeof v;
  const ids = [Long.fromNumber(5), Long.fromNumber(2 ** 40), Long.fromString('9007199254740993'), new Double(4), new Int32(3)];
  await c.insertMany(ids.map((_id, i) => ({ _id, i, l: Long.fromNumber(6), n: { d: new Double(2), a: [Long.fromNumber(7)] } })) as Document[]);
  const want = ['Long', 'Long', 'Long', 'Double', 'Int32'];
  // The `_id`-only projection (sorted, unsorted, filtered by a range the fast path takes).
  for (const docs of [
    await c.find({}, { ...raw, projection: { _id: 1 } }).toArray(),
    await c.find({}, { ...raw, projection: { _id: 1 } }).sort({ i: 1 }).toArray(),
    await c.find({ i: { $gte: 0 } }, { ...raw, projection: { _id: 1 }, batchSize: 2 }).toArray(),
  ]) {
    assert.deepEqual(docs.map((d) => typeOf(d._id)), want);
    assert.deepEqual(docs.map((d) => String(d._id)), ids.map(String));
  }
  // Other projections, nested fields and arrays included.
  for (const docs of [
    await c.find({}, { ...raw, projection: { _id: 1, l: 1, 'n.d': 1, 'n.a': 1 } }).toArray(),
    await c.find({}, { ...raw, projection: { i: 0 }, batchSize: 2 }).toArray(),
  ]) {
    assert.deepEqual(docs.map((d) => typeOf(d._id)), want);
    assert.ok(docs.every((d) => typeOf(d.l) === 'Long' && typeOf(d.n.d) === 'Double' && typeOf(d.n.a[0]) === 'Long'));
  }
  // Aggregations that reshape the documents (their `_id` kept); a `$group`'s numbers are its own.
  const reshaped = await c.aggregate([{ $match: { i: { $gte: 0 } } }, { $sort: { i: 1 } }, { $project: { l: 1, n: 1 } }, { $addFields: { k: 1 } }], raw).toArray();
  assert.deepEqual(reshaped.map((d) => typeOf(d._id)), want);
  assert.ok(reshaped.every((d) => typeOf(d.l) === 'Long' && typeOf(d.n.d) === 'Double' && typeOf(d.n.a[0]) === 'Long' && typeOf(d.k) === 'Int32'));
  assert.deepEqual((await c.aggregate([{ $group: { _id: null, n: { $sum: 1 } } }], raw).toArray()).map((d) => typeOf(d.n)), ['Int32']);
  const returned = await c.findOneAndUpdate({ i: 0 }, { $set: { z: 1 } }, { ...raw, projection: { _id: 1, l: 1 }, returnDocument: 'after' });
  assert.deepEqual([typeOf(returned!._id), typeOf(returned!.l)], ['Long', 'Long']);
  // An update rewrites the stored document: the fields it left alone keep their types.
  await c.updateMany({}, { $set: { z: 2 } });
  const after = await c.find({}, raw).sort({ i: 1 }).toArray();
  assert.deepEqual(after.map((d) => typeOf(d._id)), want);
  assert.ok(after.every((d) => typeOf(d.l) === 'Long' && typeOf(d.n.d) === 'Double' && typeOf(d.n.a[0]) === 'Long'));
  // Filters still compare the values as numbers.
  assert.equal(await c.countDocuments({ l: 6, 'n.d': 2 }), 5);
});

test('insert and find with filter, sort, skip, limit, projection', async () => {
  const c = fresh('find');
  const res = await c.insertMany(Array.from({ length: 30 }, (_, i) => ({ i, even: i % 2 === 0, tags: [`t${i % 3}`], nested: { v: i * 10 } })));
  assert.equal(res.insertedCount, 30);
  const docs = await c
    .find({ even: true, i: { $gte: 4 } }, { projection: { _id: 0, i: 1, 'nested.v': 1 } })
    .sort({ i: -1 })
    .skip(2)
    .limit(3)
    .toArray();
  assert.deepEqual(docs, [
    { i: 24, nested: { v: 240 } },
    { i: 22, nested: { v: 220 } },
    { i: 20, nested: { v: 200 } },
  ]);
  assert.equal((await c.find({ tags: 't1' }).toArray()).length, 10);
  assert.equal((await c.find({ $or: [{ i: 1 }, { 'nested.v': 50 }] }).toArray()).length, 2);
  const one = await c.findOne({ i: 7 });
  assert.ok(one?._id instanceof ObjectId);
});

test('cursors: batchSize, getMore, singleBatch, killCursors', async () => {
  const c = fresh('cursor');
  await c.insertMany(Array.from({ length: 250 }, (_, i) => ({ i })));
  const all = await c.find({}, { batchSize: 7 }).sort({ i: 1 }).toArray();
  assert.deepEqual(all.map((d) => d.i), Array.from({ length: 250 }, (_, i) => i));
  const first = await suite.db.command({ find: c.collectionName, batchSize: 5, sort: { i: 1 } });
  const cursor = first.cursor as Document;
  assert.equal((cursor.firstBatch as Document[]).length, 5);
  assert.notEqual(Number(cursor.id), 0);
  assert.equal(cursor.ns, `${suite.db.databaseName}.${c.collectionName}`);
  const more = await suite.db.command({ getMore: cursor.id, collection: c.collectionName, batchSize: 10 });
  assert.deepEqual(((more.cursor as Document).nextBatch as Document[]).map((d) => d.i), [5, 6, 7, 8, 9, 10, 11, 12, 13, 14]);
  const killed = await suite.db.command({ killCursors: c.collectionName, cursors: [cursor.id] });
  assert.equal((killed.cursorsKilled as unknown[]).length, 1);
  await assert.rejects(suite.db.command({ getMore: cursor.id, collection: c.collectionName }), { code: 43, codeName: 'CursorNotFound' });
  const single = await suite.db.command({ find: c.collectionName, batchSize: 5, singleBatch: true });
  assert.equal(Number((single.cursor as Document).id), 0);
});

test('a cursor opened in a session is continued in that session only (as mongod)', async () => {
  const c = fresh('cursor-session');
  await c.insertMany(Array.from({ length: 20 }, (_, i) => ({ i })));
  const a = suite.client.startSession();
  const b = suite.client.startSession();
  try {
    const first = await suite.db.command({ find: c.collectionName, batchSize: 5 }, { session: a });
    const id = (first.cursor as Document).id as unknown;
    await assert.rejects(suite.db.command({ getMore: id, collection: c.collectionName }, { session: b }), (err: MongoServerError) => {
      assert.equal(err.code, 50738);
      assert.match(err.message, /which was created in session .* in session/);
      return true;
    });
    const more = await suite.db.command({ getMore: id, collection: c.collectionName, batchSize: 5 }, { session: a });
    assert.equal(((more.cursor as Document).nextBatch as Document[]).length, 5);
  } finally {
    await a.endSession();
    await b.endSession();
  }
});

test('updates: operators, replacement, upsert, multi, no-op', async () => {
  const c = fresh('update');
  await c.insertMany([{ k: 'a', n: 1, arr: [1] }, { k: 'b', n: 2, arr: [] }, { k: 'c', n: 3 }]);
  const r1 = await c.updateOne({ k: 'a' }, { $inc: { n: 5 }, $set: { 'sub.x': true }, $push: { arr: 2 } as Document, $unset: { missing: '' } });
  assert.equal(r1.matchedCount, 1);
  assert.equal(r1.modifiedCount, 1);
  assert.deepEqual(await c.findOne({ k: 'a' }, { projection: { _id: 0 } }), { k: 'a', n: 6, arr: [1, 2], sub: { x: true } });
  const r2 = await c.updateMany({ n: { $gte: 2 } }, { $mul: { n: 10 }, $currentDate: { touched: true } });
  assert.equal(r2.matchedCount, 3);
  assert.equal(r2.modifiedCount, 3);
  assert.ok((await c.findOne({ k: 'b' }))?.touched instanceof Date);
  const noop = await c.updateOne({ k: 'c' }, { $set: { n: 30 } });
  assert.equal(noop.matchedCount, 1);
  assert.equal(noop.modifiedCount, 0, 'setting the same value modifies nothing');
  const before = await c.findOne({ k: 'c' });
  const rep = await c.replaceOne({ k: 'c' }, { k: 'c', replaced: true });
  assert.equal(rep.modifiedCount, 1);
  assert.deepEqual(await c.findOne({ k: 'c' }), { _id: before!._id, k: 'c', replaced: true });
  const up = await c.updateOne({ k: 'd', tier: { $eq: 2 } }, { $set: { n: 4 }, $setOnInsert: { created: true } }, { upsert: true });
  assert.equal(up.upsertedCount, 1);
  assert.ok(up.upsertedId instanceof ObjectId);
  assert.deepEqual(await c.findOne({ k: 'd' }, { projection: { _id: 0 } }), { k: 'd', tier: 2, n: 4, created: true });
  const again = await c.updateOne({ k: 'd' }, { $set: { n: 5 }, $setOnInsert: { created: false } }, { upsert: true });
  assert.equal(again.upsertedCount, 0);
  assert.equal((await c.findOne({ k: 'd' }))?.created, true, '$setOnInsert applies only when inserting');
  await assert.rejects(c.updateOne({ k: 'a' }, { $set: { _id: 1 } }), { code: 66 });
  await assert.rejects(c.updateOne({ k: 'a' }, { $bogus: { x: 1 } } as Document), (err: MongoServerError) => err.code === 9);
});

test('deletes and findAndModify', async () => {
  const c = fresh('delete');
  await c.insertMany(Array.from({ length: 10 }, (_, i) => ({ i, odd: i % 2 === 1 })));
  assert.equal((await c.deleteOne({ odd: true })).deletedCount, 1);
  assert.equal((await c.deleteMany({ odd: true })).deletedCount, 4);
  assert.equal(await c.countDocuments(), 5);
  const before = await c.findOneAndUpdate({ i: 4 }, { $set: { seen: 1 } }, { returnDocument: 'before' });
  assert.equal(before?.seen, undefined);
  const after = await c.findOneAndUpdate({ i: 4 }, { $inc: { seen: 1 } }, { returnDocument: 'after', projection: { _id: 0, seen: 1 } });
  assert.deepEqual(after, { seen: 2 });
  const top = await c.findOneAndDelete({}, { sort: { i: -1 } });
  assert.equal(top?.i, 8);
  const upserted = await c.findOneAndUpdate({ i: 100 }, { $set: { new: true } }, { upsert: true, returnDocument: 'after' });
  assert.equal(upserted?.i, 100);
  assert.equal(await c.findOneAndReplace({ i: 999 }, { i: 1000 }), null);
});

test('count, estimatedDocumentCount and distinct', async () => {
  const c = fresh('count');
  await c.insertMany([{ g: 'x', tags: ['a', 'b'] }, { g: 'y', tags: ['b'] }, { g: 'x' }]);
  assert.equal(await c.countDocuments({ g: 'x' }), 2);
  assert.equal(await c.estimatedDocumentCount(), 3);
  assert.deepEqual((await c.distinct('g')).sort(), ['x', 'y']);
  assert.deepEqual((await c.distinct('tags')).sort(), ['a', 'b']);
  assert.deepEqual(await c.distinct('g', { tags: 'a' }), ['x']);
  assert.equal(await fresh('missing').countDocuments(), 0);
});

test('aggregate: $match, $group/$sum, $hour, $dateToString and $dateTrunc with a timezone, $sort, $project, $count, $limit', async () => {
  const c = fresh('agg');
  const at = (iso: string): Date => new Date(iso);
  await c.insertMany([
    { createdAt: at('2024-03-10T06:15:00Z'), status: 200, ms: 10 },
    { createdAt: at('2024-03-10T06:45:00Z'), status: 500, ms: 30 },
    { createdAt: at('2024-03-10T07:05:00Z'), status: 200, ms: 20 },
    { createdAt: at('2024-03-10T08:59:59Z'), status: 200, ms: 40 },
  ]);
  const perHour = await c
    .aggregate([
      { $match: { status: { $lt: 600 } } },
      {
        $group: {
          _id: { $dateToString: { date: '$createdAt', format: '%Y-%m-%dT%H', timezone: 'America/New_York' } },
          n: { $sum: 1 },
          ms: { $sum: '$ms' },
        },
      },
      { $sort: { _id: 1 } },
    ])
    .toArray();
  // 2024-03-10 is the DST switch in New York: 06:xxZ is 01:xx EST, 07:05Z is 03:05 EDT.
  assert.deepEqual(perHour, [
    { _id: '2024-03-10T01', n: 2, ms: 40 },
    { _id: '2024-03-10T03', n: 1, ms: 20 },
    { _id: '2024-03-10T04', n: 1, ms: 40 },
  ]);
  const trunc = await c
    .aggregate([
      { $project: { _id: 0, h: { $hour: '$createdAt' }, bucket: { $dateTrunc: { date: '$createdAt', unit: 'hour', timezone: 'Asia/Kolkata' } } } },
      { $limit: 2 },
    ])
    .toArray();
  assert.deepEqual(trunc, [
    { h: 6, bucket: at('2024-03-10T05:30:00Z') },
    { h: 6, bucket: at('2024-03-10T06:30:00Z') },
  ]);
  const [counted] = await c.aggregate([{ $match: { status: 200 } }, { $count: 'ok' }]).toArray();
  assert.deepEqual(counted, { ok: 3 });
  const byDay = await c
    .aggregate([{ $group: { _id: { $dateTrunc: { date: '$createdAt', unit: 'day', timezone: 'America/New_York' } }, n: { $sum: 1 } } }])
    .toArray();
  assert.deepEqual(byDay, [{ _id: at('2024-03-10T05:00:00Z'), n: 4 }]);
  assert.equal(await c.countDocuments({ createdAt: { $gte: at('2024-03-10T07:00:00Z'), $lt: at('2024-03-10T08:00:00Z') } }), 1);
  await assert.rejects(c.aggregate([{ $noSuchStage: {} }]).toArray(), { code: 40324 });
});

test('unique indexes are enforced with E11000 (code 11000)', async () => {
  const c = fresh('unique');
  await c.createIndex({ email: 1 }, { unique: true, name: 'email_unique' });
  await c.insertOne({ email: 'a@example.com' });
  await assert.rejects(c.insertOne({ email: 'a@example.com' }), (err: MongoServerError) => {
    assert.equal(err.code, 11000);
    assert.match(err.message, /^E11000 duplicate key error collection: .* index: email_unique dup key: \{ email: "a@example\.com" \}/);
    assert.deepEqual(err.keyPattern, { email: 1 });
    assert.deepEqual(err.keyValue, { email: 'a@example.com' });
    return true;
  });
  await assert.rejects(c.insertMany([{ email: 'b@example.com' }, { email: 'b@example.com' }, { email: 'c@example.com' }]), (err: MongoBulkWriteError) => {
    assert.equal(err.code, 11000);
    assert.equal(err.result.insertedCount, 1, 'ordered insert stops at the duplicate');
    return true;
  });
  await c.insertOne({ email: 'x@example.com' });
  await assert.rejects(c.updateOne({ email: 'x@example.com' }, { $set: { email: 'a@example.com' } }), { code: 11000 });
  const id = new ObjectId();
  await c.insertOne({ _id: id, email: 'y@example.com' });
  await assert.rejects(c.insertOne({ _id: id, email: 'z@example.com' }), (err: MongoServerError) => err.code === 11000 && /index: _id_ /.test(err.message));
  const dupColl = fresh('unique_build');
  await dupColl.insertMany([{ k: 1 }, { k: 1 }]);
  await assert.rejects(dupColl.createIndex({ k: 1 }, { unique: true }), { code: 11000 });
});

test('createIndexes keeps options, listIndexes shows them, dropIndexes removes them', async () => {
  const c = fresh('indexes');
  await c.insertOne({ createdAt: new Date() });
  await c.createIndex({ createdAt: 1 }, { expireAfterSeconds: 86_400, name: 'ttl' });
  await c.createIndex({ a: 1, b: -1 });
  await c.createIndex({ a: 1, b: -1 }); // same index again: no error
  const indexes = await c.listIndexes().toArray();
  assert.deepEqual(indexes.map((i) => i.name), ['_id_', 'ttl', 'a_1_b_-1']);
  assert.equal(indexes.find((i) => i.name === 'ttl')?.expireAfterSeconds, 86_400);
  assert.deepEqual(indexes.find((i) => i.name === 'a_1_b_-1')?.key, { a: 1, b: -1 });
  await assert.rejects(c.createIndex({ other: 1 }, { name: 'ttl' }), (err: MongoServerError) => err.code === 85 || err.code === 86);
  await c.dropIndex('ttl');
  assert.deepEqual((await c.listIndexes().toArray()).map((i) => i.name), ['_id_', 'a_1_b_-1']);
  await assert.rejects(c.dropIndex('nope'), { code: 27 });
  await assert.rejects(c.dropIndex('_id_'), { code: 72 });
  await assert.rejects(fresh('none').listIndexes().toArray(), { code: 26 });
});

test('create, listCollections, listDatabases, drop, dropDatabase', async () => {
  const other = suite.client.db(uniqueDbName('catalog'));
  await other.createCollection('explicit');
  await other.createCollection('explicit'); // identical options: success
  await other.collection('implicit').insertOne({ a: 1 });
  const names = (await other.listCollections({}, { nameOnly: true }).toArray()).map((c) => c.name).sort();
  assert.deepEqual(names, ['explicit', 'implicit']);
  const full = await other.listCollections({ name: 'implicit' }).toArray();
  assert.equal(full[0]?.type, 'collection');
  const dbs = await suite.client.db('admin').admin().listDatabases();
  assert.ok(dbs.databases.some((d) => d.name === other.databaseName));
  assert.equal(await other.collection('implicit').drop(), true);
  assert.deepEqual((await other.listCollections().toArray()).map((c) => c.name), ['explicit']);
  assert.equal(await other.dropDatabase(), true);
  const after = await suite.client.db('admin').admin().listDatabases();
  assert.ok(!after.databases.some((d) => d.name === other.databaseName));
});

test('the oplog window: first and last entries of local.oplog.rs in $natural order', async () => {
  const c = fresh('oplog');
  await c.insertOne({ mark: 1 });
  const oplog = suite.client.db('local').collection('oplog.rs');
  const [first] = await oplog.find({}, { projection: { ts: 1, wall: 1 } }).sort({ $natural: 1 }).limit(1).toArray();
  const [last] = await oplog.find({}).sort({ $natural: -1 }).limit(1).toArray();
  assert.ok(first?.ts instanceof Timestamp && last?.ts instanceof Timestamp);
  assert.ok(first.wall instanceof Date && last.wall instanceof Date);
  assert.ok(first.ts.lessThanOrEqual(last.ts));
  const ping = await suite.db.command({ ping: 1 });
  assert.ok(last.ts.lessThanOrEqual(ping.operationTime as Timestamp), 'the last entry is not newer than the cluster time');
  const mine = await oplog.find({ ns: `${suite.db.databaseName}.${c.collectionName}`, op: 'i' }).toArray();
  assert.equal(mine.length, 1);
  assert.equal((mine[0]!.o as Document).mark, 1);
});

test('an unknown command fails with CommandNotFound (59)', async () => {
  await assert.rejects(suite.db.command({ frobnicate: 1 }), (err: MongoServerError) => {
    assert.equal(err.code, 59);
    assert.equal(err.codeName, 'CommandNotFound');
    assert.match(err.message, /no such command: 'frobnicate'/);
    return true;
  });
});

test('transactions are refused and apply nothing', { skip: needsEmulator }, async () => {
  const c = fresh('txn');
  await c.insertOne({ before: true });
  const session = suite.client.startSession();
  try {
    session.startTransaction();
    await assert.rejects(c.insertOne({ inTxn: true }, { session }), (err: MongoServerError) => {
      assert.equal(err.code, 263);
      assert.match(err.message, /[Tt]ransactions are not supported/);
      return true;
    });
    await session.abortTransaction().catch(() => undefined);
  } finally {
    await session.endSession();
  }
  assert.equal(await c.countDocuments({ inTxn: true }), 0);
});

test('TTL indexes delete expired documents (monitor every second on this emulator)', { skip: needsEmulator }, async () => {
  const emu = await startEmulator({ port: 0, ttlMonitorSleepSecs: 1 });
  const c2 = await connect(emu.uri);
  try {
    const coll = c2.db('ttl').collection('events');
    await coll.createIndex({ 'meta.at': 1 }, { expireAfterSeconds: 2 });
    const stream = coll.watch([], { maxAwaitTimeMS: 100 });
    assert.equal(await stream.tryNext(), null);
    await coll.insertMany([
      { name: 'old', meta: { at: new Date(Date.now() - 60_000) } },
      { name: 'fresh', meta: { at: new Date(Date.now() + 3_600_000) } },
      { name: 'no date', meta: { at: 'yesterday' } },
    ]);
    await waitUntil(async () => (await coll.countDocuments()) === 2, 5000, 'the TTL monitor');
    assert.deepEqual((await coll.find({}).toArray()).map((d) => d.name).sort(), ['fresh', 'no date']);
    const events: Document[] = [];
    while (events.length < 4) events.push((await stream.next()) as Document);
    assert.equal(events[3]!.operationType, 'delete', 'TTL deletions are change events, as on mongod');
    await stream.close();
  } finally {
    await c2.close();
    await emu.close();
  }
});
