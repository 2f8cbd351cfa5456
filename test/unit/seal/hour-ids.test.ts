/**
 * The hour's `_id`s read as bytes (src/seal/hour-ids.ts) are the driver cursor's: the same values
 * (BSON types kept: ObjectId, string, Int32, Long, Double, Decimal128, embedded document), the
 * same keys in both JSON modes, the same order, through several replies (small batches), both
 * ways (commands in a session; the driver's raw cursor for a collection that does not read from
 * the primary, and on a server without logical sessions); a consumer that stops early leaves no
 * cursor open.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Decimal128, Double, Int32, Long, MongoClient, ObjectId } from 'mongodb';
import type { Collection, Document } from 'mongodb';
import type { HourId } from '../../../src/seal/hour-ids.js';
import { hourIds } from '../../../src/seal/hour-ids.js';
import { hourDocuments } from '../../../src/seal/hour-query.js';
import { idKeyOf } from '../../../src/spool/document-ids.js';
import type { JsonMode } from '../../../src/spool/json-lines.js';
import { needsEmulator, startTestMongo } from '../../helpers/mongo.js';
import type { TestMongo } from '../../helpers/mongo.js';

const H0 = Date.parse('2024-03-10T05:00:00Z');
const slot = { start: H0, end: H0 + 3_600_000 };

let mongo: TestMongo;
let client: MongoClient;
let coll: Collection<Document>;
before(async () => {
  mongo = await startTestMongo();
  client = new MongoClient(mongo.uri);
  await client.connect();
  coll = client.db('hour_ids').collection('apilogs');
  await insertDocs(coll);
});
after(async () => {
  await client?.close();
  await mongo?.close();
});

async function insertDocs(c: Collection<Document>): Promise<void> {
  const at = (i: number): Date => new Date(H0 + i * 1000);
  const docs: Document[] = [
    { _id: ObjectId.createFromTime(H0 / 1000 + 1), createdAt: at(1) },
    { _id: 'a-string', createdAt: at(2) },
    { _id: new Int32(7), createdAt: at(3) },
    { _id: Long.fromString('9007199254740993'), createdAt: at(4) },
    { _id: new Double(2.5), createdAt: at(5) },
    { _id: Decimal128.fromString('1.10'), createdAt: at(6) },
    { _id: { a: 1, b: 'x' }, createdAt: at(7) },
    // No date in the timestamp field: its ObjectId time puts it in the hour.
    { _id: ObjectId.createFromTime(H0 / 1000 + 8) },
    ...Array.from({ length: 12 }, (_, i) => ({ _id: ObjectId.createFromTime(H0 / 1000 + 100 + i), createdAt: at(100 + i) })),
    // Other hours.
    { _id: ObjectId.createFromTime(H0 / 1000 - 10), createdAt: new Date(H0 - 10_000) },
    { _id: 'next-hour', createdAt: new Date(H0 + 3_600_000) },
  ];
  await c.insertMany(docs as never[]);
}

async function viaDriver(c: Collection<Document>, jsonMode: JsonMode): Promise<HourId[]> {
  const idKey = idKeyOf(jsonMode);
  const out: HourId[] = [];
  for await (const doc of hourDocuments({ collection: c, timestampField: 'createdAt', jsonMode }, slot, { _id: 1 })) out.push({ id: doc._id, key: idKey(doc._id) });
  return out;
}

async function viaBytes(c: Collection<Document>, jsonMode: JsonMode, batchSize?: number): Promise<{ ids: HourId[]; batches: number }> {
  const ids: HourId[] = [];
  let batches = 0;
  for await (const batch of hourIds({ collection: c, timestampField: 'createdAt', jsonMode }, slot, batchSize)) {
    batches++;
    ids.push(...batch);
  }
  return { ids, batches };
}

const typeOf = (v: unknown): string => (v !== null && typeof v === 'object' && '_bsontype' in v ? String((v as { _bsontype: unknown })._bsontype) : typeof v);

for (const jsonMode of ['analytics', 'ejson'] as const) {
  for (const [how, readPreference] of [
    ['commands', undefined],
    ['the driver cursor', 'primaryPreferred'],
  ] as const) {
    test(`hourIds (${how}, ${jsonMode}): the driver cursor's values, keys and order, over several replies`, async () => {
      const c = readPreference === undefined ? coll : client.db('hour_ids').collection('apilogs', { readPreference });
      const expected = await viaDriver(c, jsonMode);
      assert.equal(expected.length, 20);
      for (const batchSize of [3, 1000]) {
        const got = await viaBytes(c, jsonMode, batchSize);
        assert.deepEqual(got.ids, expected);
        assert.deepEqual(got.ids.map((x) => typeOf(x.id)), expected.map((x) => typeOf(x.id)));
        assert.equal(got.batches, batchSize === 3 ? 7 : 1);
      }
    });
  }
}

test('hourIds: a consumer that stops early leaves no cursor open', async () => {
  const open = async (): Promise<number> => Number((await client.db('admin').command({ serverStatus: 1 })).metrics.cursor.open.total);
  const before = await open();
  for await (const batch of hourIds({ collection: coll, timestampField: 'createdAt', jsonMode: 'analytics' }, slot, 3)) {
    assert.equal(batch.length, 3);
    assert.equal(await open(), before + 1);
    break;
  }
  assert.equal(await open(), before);
});

test('hourIds on a server without logical sessions: the driver cursor\'s values and keys', { skip: needsEmulator }, async () => {
  const bare = await startTestMongo({ noSessions: true });
  const c2 = new MongoClient(bare.uri);
  try {
    await c2.connect();
    const c = c2.db('hour_ids').collection('apilogs');
    await insertDocs(c);
    for (const jsonMode of ['analytics', 'ejson'] as const) {
      const expected = await viaDriver(c, jsonMode);
      assert.equal(expected.length, 20);
      assert.deepEqual((await viaBytes(c, jsonMode, 3)).ids, expected);
    }
  } finally {
    await c2.close();
    await bare.close();
  }
});
