/**
 * Change streams with a `$match` after `$changeStream`: a filtered stream delivers exactly the
 * events of the unfiltered stream that match, each one byte for byte the same (full documents
 * included), whatever the filter: on operationType ($eq, $in, $nin, $ne, $or, $nor), on ns, on
 * the documents, or a mix; and the same events as the filter wrapped with `$and: [..., {$expr:
 * true}]`, which the emulator can only evaluate on the decoded event. The streams are read as raw
 * BSON (aggregate with `raw: true`) from the same start time, after the writes.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { BSON } from 'bson';
import type { Collection, Db, Document, MongoClient } from 'mongodb';
import { startTestMongo, uniqueDbName } from '../src/testing.js';
import type { TestMongo } from '../src/testing.js';
import { connect } from './support.js';

let mongo: TestMongo;
let client: MongoClient;

before(async () => {
  mongo = await startTestMongo();
  client = await connect(mongo.uri);
});

after(async () => {
  await client?.close();
  await mongo?.close();
});

/** Creates the collections; returns the operation time to start the streams at (before any event). */
async function createCollections(db: Db, ...names: string[]): Promise<BSON.Timestamp> {
  const session = client.startSession();
  try {
    for (const name of names) await db.createCollection(name, { session });
    return session.operationTime!;
  } finally {
    await session.endSession();
  }
}

/**
 * Every event of the stream from `startAt`, as raw BSON: until the server closes the cursor
 * (invalidate) or two getMores in a row return nothing (the writes are all done).
 */
async function readRaw(target: Db | Collection<NumberedDoc>, startAt: BSON.Timestamp, stages: Document[], options: Document = {}): Promise<Buffer[]> {
  const pipeline = [{ $changeStream: { startAtOperationTime: startAt, ...options } }, ...stages];
  const cursor = target.aggregate(pipeline, { raw: true, batchSize: 1000, maxAwaitTimeMS: 50 });
  const out: Buffer[] = [];
  try {
    for (let empty = 0; empty < 2; ) {
      const ev = (await cursor.tryNext()) as unknown as Buffer | null;
      if (ev !== null) {
        out.push(ev);
        empty = 0;
      } else if (cursor.id?.isZero() === true) {
        break;
      } else {
        empty++;
      }
    }
  } finally {
    await cursor.close();
  }
  return out;
}

interface NumberedDoc {
  _id: number;
  n?: number;
  [field: string]: unknown;
}

interface Case {
  name: string;
  stages: Document[];
  /** Which events of the unfiltered stream the filter keeps. */
  keeps: (ev: Document) => boolean;
}

const operationTypes = (list: Buffer[]): string[] => list.map((raw) => BSON.deserialize(raw).operationType as string);

/** The stages with each `$match` wrapped so that no part of it can be told from the event's metadata alone. */
const opaque = (stages: Document[]): Document[] =>
  stages.map((s) => (s.$match ? { $match: { $and: [s.$match as Document, { $expr: true }] } } : s));

/**
 * Each case's stream is exactly the unfiltered stream's matching events, byte for byte (an
 * invalidate event, which ends the stream, aside), and the same as with an opaque filter.
 */
async function checkCases(target: Db | Collection<NumberedDoc>, startAt: BSON.Timestamp, cases: Case[], options: Document = {}): Promise<void> {
  const notInvalidate = (raw: Buffer): boolean => BSON.deserialize(raw).operationType !== 'invalidate';
  const all = (await readRaw(target, startAt, [], options)).filter(notInvalidate);
  for (const c of cases) {
    const got = await readRaw(target, startAt, c.stages, options);
    const expected = all.filter((raw) => c.keeps(BSON.deserialize(raw)));
    const events = got.filter(notInvalidate);
    assert.deepEqual(operationTypes(events), operationTypes(expected), `${c.name}: operation types`);
    events.forEach((raw, i) => assert.ok(raw.equals(expected[i]!), `${c.name}: event ${i} differs from the unfiltered stream's`));
    const general = await readRaw(target, startAt, opaque(c.stages), options);
    assert.deepEqual(operationTypes(got), operationTypes(general), `${c.name}: with an opaque filter`);
    got.forEach((raw, i) => assert.ok(raw.equals(general[i]!), `${c.name}: event ${i} differs with an opaque filter`));
  }
}

const op = (...types: string[]) => (ev: Document): boolean => types.includes(ev.operationType as string);

test('filtered collection streams deliver exactly the matching events, byte for byte', async () => {
  const db = client.db(uniqueDbName('csfilter'));
  try {
    const startAt = await createCollections(db, 'a', 'b');
    const a = db.collection<NumberedDoc>('a');
    await a.insertMany([
      { _id: 1, n: 1, keep: true, s: 'é', d: 1.5, big: BSON.Long.fromNumber(2 ** 40) },
      { _id: 2, n: 2, keep: false, nested: { list: [1, 'x', null] } },
      { _id: 3, n: 3, keep: true, when: new Date(0) },
    ]);
    await a.updateOne({ _id: 1 }, { $set: { n: 10 } });
    await a.replaceOne({ _id: 2 }, { n: 20, keep: true });
    await a.deleteOne({ _id: 3 });
    await a.insertOne({ _id: 4, n: 4, keep: true });
    await a.updateOne({ _id: 4 }, { $set: { n: 5, more: [1, 2] } });
    await a.deleteOne({ _id: 1 });
    await db.collection<NumberedDoc>('b').insertOne({ _id: 1, other: true });

    const all = await readRaw(a, startAt, []);
    assert.deepEqual(
      operationTypes(all),
      ['insert', 'insert', 'insert', 'update', 'replace', 'delete', 'insert', 'update', 'delete'],
    );
    const doc = BSON.deserialize(all[0]!, { raw: true }).fullDocument as Buffer;
    assert.deepEqual(BSON.deserialize(doc, { promoteValues: false }).big, BSON.Long.fromNumber(2 ** 40));

    const fullDoc = (ev: Document): Document => (ev.fullDocument ?? {}) as Document;
    await checkCases(a, startAt, [
      { name: '$in', stages: [{ $match: { operationType: { $in: ['insert', 'replace'] } } }], keeps: op('insert', 'replace') },
      {
        name: "the tailer's $in",
        stages: [{ $match: { operationType: { $in: ['insert', 'drop', 'rename', 'dropDatabase'] } } }],
        keeps: op('insert'),
      },
      { name: '$nin', stages: [{ $match: { operationType: { $nin: ['update', 'delete'] } } }], keeps: op('insert', 'replace') },
      { name: '$eq', stages: [{ $match: { operationType: { $eq: 'delete' } } }], keeps: op('delete') },
      { name: 'implicit $eq', stages: [{ $match: { operationType: 'update' } }], keeps: op('update') },
      { name: '$ne', stages: [{ $match: { operationType: { $ne: 'insert' } } }], keeps: (ev) => ev.operationType !== 'insert' },
      { name: '$in matching nothing', stages: [{ $match: { operationType: { $in: ['drop'] } } }], keeps: () => false },
      {
        name: 'operationType and ns',
        stages: [{ $match: { 'ns.coll': 'a', 'ns.db': db.databaseName, operationType: { $in: ['delete', 'update'] } } }],
        keeps: op('delete', 'update'),
      },
      {
        name: 'operationType and a fullDocument field',
        stages: [{ $match: { operationType: { $in: ['insert', 'replace'] }, 'fullDocument.keep': true } }],
        keeps: (ev) => op('insert', 'replace')(ev) && fullDoc(ev).keep === true,
      },
      {
        name: '$or mixing operationType and fullDocument',
        stages: [{ $match: { $or: [{ operationType: 'delete' }, { 'fullDocument.n': { $gte: 4 } }] } }],
        keeps: (ev) => ev.operationType === 'delete' || (fullDoc(ev).n as number) >= 4,
      },
      {
        name: '$or on operationType and ns',
        stages: [{ $match: { $or: [{ operationType: 'update' }, { operationType: 'delete', 'ns.coll': 'a' }] } }],
        keeps: op('update', 'delete'),
      },
      { name: '$nor', stages: [{ $match: { $nor: [{ operationType: 'insert' }, { operationType: 'update' }] } }], keeps: op('replace', 'delete') },
      {
        name: 'two $match stages',
        stages: [{ $match: { operationType: { $in: ['insert', 'update', 'delete'] } } }, { $match: { 'documentKey._id': { $in: [1, 4] } } }],
        keeps: (ev) => op('insert', 'update', 'delete')(ev) && [1, 4].includes((ev.documentKey as Document)._id as number),
      },
    ]);
    // with fullDocument: 'updateLookup', the looked-up documents too
    await checkCases(a, startAt, [{ name: 'updateLookup', stages: [{ $match: { operationType: { $in: ['update'] } } }], keeps: op('update') }], {
      fullDocument: 'updateLookup',
    });
  } finally {
    await db.dropDatabase();
  }
});

test('filters on ns and operationType in database streams, up to dropDatabase', async () => {
  const db = client.db(uniqueDbName('csfilter'));
  const startAt = await createCollections(db, 'a', 'b');
  await db.collection<NumberedDoc>('a').insertMany([{ _id: 1 }, { _id: 2 }]);
  await db.collection<NumberedDoc>('b').insertOne({ _id: 1 });
  await db.collection<NumberedDoc>('a').deleteOne({ _id: 2 });
  await db.collection('b').drop();
  await db.dropDatabase();
  const ns = (ev: Document): Document => (ev.ns ?? {}) as Document;
  await checkCases(db, startAt, [
    { name: 'ns.coll', stages: [{ $match: { 'ns.coll': 'a' } }], keeps: (ev) => ns(ev).coll === 'a' },
    { name: 'ns.coll $ne', stages: [{ $match: { 'ns.coll': { $ne: 'a' } } }], keeps: (ev) => ns(ev).coll !== 'a' },
    {
      name: 'ns.coll $nin and operationType',
      stages: [{ $match: { 'ns.coll': { $nin: ['a'] }, operationType: { $in: ['insert', 'drop', 'dropDatabase'] } } }],
      keeps: (ev) => ns(ev).coll !== 'a' && op('insert', 'drop', 'dropDatabase')(ev),
    },
    { name: 'ns.db', stages: [{ $match: { 'ns.db': db.databaseName } }], keeps: () => true },
    {
      name: 'ns.db and operationType',
      stages: [{ $match: { 'ns.db': db.databaseName, operationType: { $in: ['drop', 'dropDatabase'] } } }],
      keeps: op('drop', 'dropDatabase'),
    },
  ]);
});
