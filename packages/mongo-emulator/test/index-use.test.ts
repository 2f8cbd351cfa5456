/**
 * Reads served by indexes: ranges and equalities on `_id` and on indexed fields (find, count,
 * distinct, aggregate `$match`, update and delete filters, `$or`) return exactly the documents a
 * collection scan would, after inserts out of key order, updates moving the indexed value,
 * deletes, values of mixed types and arrays. Every expectation is computed here from the
 * documents written, so an index that returns too few (or wrong) candidates fails a test.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ObjectId } from 'mongodb';
import type { Document } from 'mongodb';
import { needsEmulator } from '../src/testing.js';
import { emulatorSuite } from './support.js';

const suite = emulatorSuite('index_use');
const { fresh } = suite;

const DAY = Date.UTC(2024, 0, 15);
const MIN = 60_000;
const at = (minute: number): Date => new Date(DAY + minute * MIN);

/** A deterministic permutation of 0..n-1 (keys inserted out of order). */
function shuffled(n: number): number[] {
  const out = Array.from({ length: n }, (_, i) => i);
  let s = 7;
  for (let i = n - 1; i > 0; i--) {
    s = (s * 1103515245 + 12345) % 2147483648;
    const j = s % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/** Sorted `i` values of a result (results of an index scan come in index order on mongod). */
function ids(docs: Document[]): number[] {
  return docs.map((d) => d.i as number).sort((a, b) => a - b);
}

function expected(docs: Map<number, Document>, pred: (d: Document) => boolean): number[] {
  return [...docs.values()].filter(pred).map((d) => d.i as number).sort((a, b) => a - b);
}

test('ranges on _id: ObjectIds by creation time, mixed _id types, and the reconcile filter', async () => {
  const c = fresh('idrange');
  const t0 = 1_700_000_000;
  const byI = new Map<number, Document>();
  // ObjectIds a minute apart, inserted out of order; a third without a date createdAt.
  for (const i of shuffled(120)) {
    const d: Document = { _id: ObjectId.createFromTime(t0 + i * 60), i };
    if (i % 3 !== 0) d.createdAt = at(i);
    else if (i % 2 === 0) d.createdAt = `${at(i).toISOString()}`;
    byI.set(i, d);
  }
  const docs = [...byI.values()];
  await c.insertMany(docs.slice(0, 60));
  // Non-ObjectId ids: never in an ObjectId range.
  await c.insertMany([{ _id: 5 as unknown as ObjectId, i: 1000 }, { _id: 'x' as unknown as ObjectId, i: 1001 }, { _id: new Date(t0 * 1000) as unknown as ObjectId, i: 1002 }]);
  const lo = ObjectId.createFromTime(t0 + 30 * 60);
  const hi = ObjectId.createFromTime(t0 + 90 * 60);
  const inRange = (d: Document): boolean => d._id instanceof ObjectId && d._id.toHexString() >= lo.toHexString() && d._id.toHexString() < hi.toHexString();
  const current = new Map([...byI].filter(([, d]) => docs.slice(0, 60).includes(d)));
  assert.deepEqual(ids(await c.find({ _id: { $gte: lo, $lt: hi } }).toArray()), expected(current, inRange));
  // More inserts after the first indexed read (appended after its keys), again out of order.
  await c.insertMany(docs.slice(60));
  assert.deepEqual(ids(await c.find({ _id: { $gte: lo, $lt: hi } }).toArray()), expected(byI, inRange));
  assert.deepEqual(ids(await c.find({ _id: { $gt: lo, $lte: hi } }).toArray()), expected(byI, (d) => d._id instanceof ObjectId && d._id.toHexString() > lo.toHexString() && d._id.toHexString() <= hi.toHexString()));
  // The reconcile filter: an _id range and no date in createdAt.
  const noDate = { _id: { $gte: lo, $lt: hi }, createdAt: { $not: { $type: 'date' } } };
  const want = expected(byI, (d) => inRange(d) && !(d.createdAt instanceof Date));
  assert.ok(want.length > 0);
  assert.deepEqual(ids(await c.find(noDate).toArray()), want);
  assert.equal(await c.countDocuments(noDate), want.length);
  const grouped = await c
    .aggregate([{ $match: noDate }, { $project: { _id: 0, t: { $convert: { input: '$_id', to: 'date' } }, i: 1 } }, { $sort: { i: 1 } }])
    .toArray();
  assert.deepEqual(grouped.map((g) => g.i), want);
  assert.deepEqual(grouped.map((g) => (g.t as Date).getTime()), want.map((i) => (t0 + i * 60) * 1000));
  // A range of ObjectIds holding none of them.
  assert.deepEqual(await c.find({ _id: { $gte: ObjectId.createFromTime(t0 - 3600), $lt: ObjectId.createFromTime(t0) } }).toArray(), []);
  // Numbers, strings and dates as _id are ranged within their own type only.
  const q = async (filter: Document): Promise<number[]> => ids(await c.find(filter).toArray());
  assert.deepEqual(await q({ _id: { $gte: 0 } }), [1000]);
  assert.deepEqual(await q({ _id: { $gt: 'a' } }), [1001]);
  assert.deepEqual(await q({ _id: { $lte: new Date(t0 * 1000) } }), [1002]);
  assert.deepEqual(await q({ _id: { $in: [5, 'x', lo, ObjectId.createFromTime(1)] } }), [30, 1000, 1001]);
  // Deleted documents leave the range; a re-inserted _id comes back once.
  await c.deleteMany({ _id: { $gte: lo, $lt: ObjectId.createFromTime(t0 + 40 * 60) } });
  byI.forEach((d, i) => {
    if (i >= 30 && i < 40) byI.delete(i);
  });
  await c.insertOne({ _id: ObjectId.createFromTime(t0 + 35 * 60), i: 35 });
  byI.set(35, { _id: ObjectId.createFromTime(t0 + 35 * 60), i: 35 });
  assert.deepEqual(ids(await c.find({ _id: { $gte: lo, $lt: hi } }).toArray()), expected(byI, inRange));
});

test('ranges on an indexed date field: find, count, distinct, aggregate, after inserts, updates and deletes', async () => {
  const c = fresh('daterange');
  await c.createIndex({ createdAt: 1 });
  const byI = new Map<number, Document>();
  const put = (d: Document): void => void byI.set(d.i as number, d);
  const batch = shuffled(300).map((i) => ({ i, createdAt: at(i), hour: Math.floor(i / 60) }));
  batch.forEach(put);
  await c.insertMany(batch.slice(0, 200));
  await c.insertMany(batch.slice(200));
  const check = async (from: number, to: number): Promise<void> => {
    const range = { createdAt: { $gte: at(from), $lt: at(to) } };
    const want = expected(byI, (d) => d.createdAt instanceof Date && d.createdAt >= at(from) && d.createdAt < at(to));
    assert.deepEqual(ids(await c.find(range).toArray()), want, `find [${from}, ${to})`);
    assert.equal(await c.countDocuments(range), want.length);
    const perHour = await c.aggregate([{ $match: range }, { $group: { _id: { $dateTrunc: { date: '$createdAt', unit: 'hour' } }, n: { $sum: 1 } } }]).toArray();
    assert.equal(perHour.reduce((s, g) => s + (g.n as number), 0), want.length);
    const hours = [...new Set(want.map((i) => byI.get(i)!.hour as number))].sort();
    assert.deepEqual(((await c.distinct('hour', range)) as number[]).sort(), hours);
  };
  await check(50, 130);
  await check(0, 1);
  await check(299, 400);
  await check(-10, 0);
  assert.deepEqual(ids(await c.find({ createdAt: { $gt: at(10), $lte: at(12) } }).toArray()), [11, 12]);
  assert.deepEqual(ids(await c.find({ createdAt: at(42) }).toArray()), [42]);
  assert.deepEqual(ids(await c.find({ createdAt: { $eq: at(43) } }).toArray()), [43]);
  assert.deepEqual(ids(await c.find({ createdAt: { $in: [at(7), at(8), at(1000)] } }).toArray()), [7, 8]);
  // Sort, skip and limit still apply to the narrowed documents.
  const page = await c.find({ createdAt: { $gte: at(100) } }).sort({ createdAt: -1 }).skip(5).limit(3).toArray();
  assert.deepEqual(page.map((d) => d.i), [294, 293, 292]);

  // Updates moving documents into and out of the range; a replacement; an update of another field.
  await c.updateMany({ createdAt: { $gte: at(60), $lt: at(70) } }, { $set: { createdAt: at(1000 + 1) } });
  for (let i = 60; i < 70; i++) put({ ...byI.get(i)!, createdAt: at(1001) });
  await c.updateOne({ i: 250 }, { $set: { createdAt: at(65) } });
  put({ ...byI.get(250)!, createdAt: at(65) });
  await c.replaceOne({ i: 251 }, { i: 251, createdAt: at(66), hour: 99 });
  put({ i: 251, createdAt: at(66), hour: 99 });
  await c.updateOne({ i: 80 }, { $set: { note: 'touched' } });
  await check(50, 130);
  await check(60, 70);
  await check(1000, 1002);
  // Deletes by range; inserts below existing keys after the index was read.
  assert.equal((await c.deleteMany({ createdAt: { $gte: at(100), $lt: at(110) } })).deletedCount, 10);
  for (let i = 100; i < 110; i++) byI.delete(i);
  await check(100, 110);
  const early = [{ i: 500, createdAt: at(55), hour: 0 }, { i: 501, createdAt: at(-5), hour: -1 }];
  await c.insertMany(early);
  early.forEach(put);
  await check(50, 130);
  await check(-10, 60);
  // findOneAndUpdate and findOneAndDelete pick their document through the range.
  const moved = await c.findOneAndUpdate({ createdAt: { $gte: at(120), $lt: at(121) } }, { $set: { createdAt: at(-7) } }, { returnDocument: 'after' });
  assert.equal(moved?.i, 120);
  put({ ...byI.get(120)!, createdAt: at(-7) });
  const gone = await c.findOneAndDelete({ createdAt: { $gte: at(-7), $lt: at(-6) } });
  assert.equal(gone?.i, 120);
  byI.delete(120);
  await check(-10, 130);
});

test('an indexed field holding several types and arrays: type bracketing and array semantics', async () => {
  const c = fresh('mixed');
  await c.createIndex({ v: -1 });
  const docs: Document[] = [
    { i: 0, v: at(10) },
    { i: 1, v: at(20) },
    { i: 2, v: 15 },
    { i: 3, v: 'm' },
    { i: 4, v: null },
    { i: 5 },
    { i: 6, v: [at(0), at(30)] }, // neither element in [10, 25), but one >= 10 and one < 25
    { i: 7, v: [5, at(12)] },
    { i: 8, v: true },
    { i: 9, v: new ObjectId('65a4e0000000000000000000') },
    { i: 10, v: { nested: at(15) } },
    { i: 11, v: [[at(13)]] },
    { i: 12, v: 25.5 },
    { i: 13, v: 'a' },
    { i: 14, v: [] },
  ];
  await c.insertMany(docs);
  const q = async (filter: Document): Promise<number[]> => ids(await c.find(filter).toArray());
  assert.deepEqual(await q({ v: { $gte: at(10), $lt: at(25) } }), [0, 1, 6, 7]);
  assert.deepEqual(await q({ v: { $gte: at(10) } }), [0, 1, 6, 7]);
  assert.deepEqual(await q({ v: { $lt: at(11) } }), [0, 6]);
  assert.deepEqual(await q({ v: { $gte: 10, $lte: 30 } }), [2, 12]);
  assert.deepEqual(await q({ v: { $lt: 10 } }), [7]);
  assert.deepEqual(await q({ v: { $gt: 'b' } }), [3]);
  assert.deepEqual(await q({ v: { $gte: 'a', $lt: 'n' } }), [3, 13]);
  assert.deepEqual(await q({ v: true }), [8]);
  assert.deepEqual(await q({ v: at(12) }), [7]);
  assert.deepEqual(await q({ v: { $in: [15, 'a', at(30)] } }), [2, 6, 13]);
  assert.deepEqual(await q({ v: { $gte: new ObjectId('65a4e0000000000000000000') } }), [9]);
  assert.deepEqual(await q({ v: { $gte: at(10), $lt: at(25) }, i: { $gt: 0 } }), [1, 6, 7]);
  assert.equal(await c.countDocuments({ v: { $gte: at(0) } }), 4);
  // An update making a scalar an array after the index was read.
  await c.updateOne({ i: 2 }, { $set: { v: [at(1), at(40)] } });
  assert.deepEqual(await q({ v: { $gte: at(10), $lt: at(25) } }), [0, 1, 2, 6, 7]);
  assert.deepEqual(await q({ v: { $gte: 10, $lte: 30 } }), [12]);
});

test('dotted paths, $or unions and $and on indexed fields', async () => {
  const c = fresh('or');
  await c.createIndex({ 'meta.at': 1 });
  await c.createIndex({ kind: 1, 'meta.at': 1 });
  const docs: Document[] = Array.from({ length: 60 }, (_, i) => ({
    i,
    kind: ['a', 'b', 'c'][i % 3],
    meta: i % 10 === 9 ? [{ at: at(i) }, { at: at(i + 100) }] : { at: at(i) },
    n: i,
  }));
  await c.insertMany(docs);
  const q = async (filter: Document): Promise<number[]> => ids(await c.find(filter).toArray());
  // Without $elemMatch, one element of meta may satisfy one bound and another the other.
  assert.deepEqual(await q({ 'meta.at': { $gte: at(105), $lt: at(112) } }), [9, 19, 29, 39, 49, 59]);
  assert.deepEqual(await q({ 'meta.at': { $gte: at(105), $lt: at(112), $ne: at(0) } }), [9, 19, 29, 39, 49, 59]);
  assert.deepEqual(await q({ 'meta.at': { $gte: at(109), $lte: at(109) } }), [9, 19, 29, 39, 49, 59]);
  assert.deepEqual(await q({ meta: { $elemMatch: { at: { $gte: at(109), $lte: at(109) } } } }), [9]);
  assert.deepEqual(await q({ 'meta.at': { $gte: at(5), $lt: at(8) } }), [5, 6, 7]);
  assert.deepEqual(await q({ kind: 'b', 'meta.at': { $lt: at(10) } }), [1, 4, 7]);
  // Overlapping clauses: each document once.
  assert.deepEqual(await q({ $or: [{ 'meta.at': { $lt: at(4) } }, { kind: 'c', n: { $lt: 12 } }, { 'meta.at': { $gte: at(2), $lt: at(3) } }] }), [0, 1, 2, 3, 5, 8, 11]);
  // A clause without an index: the whole $or is answered by a scan, with the same results.
  assert.deepEqual(await q({ $or: [{ 'meta.at': at(20) }, { n: 40 }] }), [20, 40]);
  assert.deepEqual(await q({ $or: [{ _id: docs[3]!._id }, { kind: 'a', 'meta.at': { $gte: at(50) } }] }), [3, 9, 39, 51, 54, 57]);
  assert.deepEqual(await q({ $and: [{ 'meta.at': { $gte: at(10) } }, { 'meta.at': { $lt: at(13) } }, { kind: { $in: ['a', 'b'] } }] }), [9, 10, 12]);
  assert.equal(await c.countDocuments({ $or: [{ kind: 'a' }, { kind: 'b' }], 'meta.at': { $lt: at(6) } }), 4);
  const n = await c.aggregate([{ $match: { $or: [{ kind: 'c' }, { 'meta.at': { $gte: at(58) } }] } }, { $count: 'n' }]).toArray();
  assert.deepEqual(n, [{ n: 25 }]);
});

/** serverStatus counters of documents examined and collection scans. */
async function scanCounters(): Promise<{ scannedObjects: number; collectionScans: number }> {
  const status = await suite.client.db('admin').command({ serverStatus: 1 });
  const qe = (status.metrics as Document).queryExecutor as Document;
  return { scannedObjects: Number(qe.scannedObjects), collectionScans: Number((qe.collectionScans as Document).total) };
}

// On a real server other clients' reads move these counters too.
test('indexed reads examine only the documents in range (serverStatus metrics.queryExecutor)', { skip: needsEmulator }, async () => {
  const c = fresh('metrics');
  await c.createIndex({ createdAt: 1 });
  await c.insertMany(Array.from({ length: 2000 }, (_, i) => ({ i, createdAt: at(i % 1440) })));
  let before = await scanCounters();
  assert.equal(await c.countDocuments({ createdAt: { $gte: at(60), $lt: at(62) } }), 4);
  let now = await scanCounters();
  assert.equal(now.collectionScans - before.collectionScans, 0);
  assert.equal(now.scannedObjects - before.scannedObjects, 4);
  // The ObjectIds are from now: an _id range of 2024-01-15 holds none of them.
  before = now;
  const from = ObjectId.createFromTime(DAY / 1000);
  const to = ObjectId.createFromTime(DAY / 1000 + 86_400);
  assert.deepEqual(await c.aggregate([{ $match: { _id: { $gte: from, $lt: to }, createdAt: { $not: { $type: 'date' } } } }]).toArray(), []);
  now = await scanCounters();
  assert.equal(now.collectionScans - before.collectionScans, 0);
  assert.equal(now.scannedObjects - before.scannedObjects, 0);
  // A filter without an indexed field, and a $natural hint, scan the collection.
  before = now;
  assert.equal(await c.countDocuments({ i: { $lt: 10 } }), 10);
  assert.equal((await c.find({ createdAt: at(5) }).hint({ $natural: 1 }).toArray()).length, 2);
  now = await scanCounters();
  assert.equal(now.collectionScans - before.collectionScans, 2);
  assert.equal(now.scannedObjects - before.scannedObjects, 4000);
});

test('_id equalities with an $or on indexed ranges (the purge deletes): _id lookups, results of a scan, after deletes', { skip: needsEmulator }, async () => {
  const c = fresh('id_lookups');
  await c.createIndex({ createdAt: 1 });
  const docs: Document[] = Array.from({ length: 400 }, (_, i) => ({ _id: new ObjectId(), i, createdAt: at(i % 120) }));
  await c.insertMany(docs);
  const rule = (from: number, to: number): Document => ({
    $or: [
      { createdAt: { $gte: at(from), $lt: at(to) } },
      { _id: { $gte: ObjectId.createFromTime(at(from).getTime() / 1000), $lt: ObjectId.createFromTime(at(to).getTime() / 1000) }, createdAt: { $not: { $type: 'date' } } },
    ],
  });
  const byI = new Map(docs.map((d) => [d.i as number, d]));
  for (const [batch, from, to] of [[[0, 1, 2, 121, 200, 399], 0, 1], [[3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16], 0, 120]] as const) {
    const filter = { _id: { $in: batch.map((i) => byI.get(i)!._id) }, ...rule(from, to) };
    const want = expected(byI, (d) => (batch as readonly number[]).includes(d.i as number) && (d.i as number) % 120 >= from && (d.i as number) % 120 < to);
    const before = await scanCounters();
    assert.deepEqual(ids(await c.find(filter).toArray()), want);
    const now = await scanCounters();
    // The _id lookups are the candidates, even where the $or's indexes would give fewer (4 in
    // the first batch): the $or is not planned (planning it refreshes its indexes).
    assert.equal(now.collectionScans - before.collectionScans, 0);
    assert.equal(now.scannedObjects - before.scannedObjects, batch.length);
    assert.equal((await c.deleteMany(filter)).deletedCount, want.length);
    for (const i of want) byI.delete(i);
  }
  // A range on the index after the deletes: the documents left, as a scan finds them.
  assert.deepEqual(ids(await c.find({ createdAt: { $lt: at(20) } }).toArray()), expected(byI, (d) => (d.i as number) % 120 < 20));
});
