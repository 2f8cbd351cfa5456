/**
 * A find with an `_id`-only projection by the archiver's hour rule (the deep check's and the
 * purge's `_id` listing; answered from the stored bytes by id-listing.ts, the collection scanned
 * as the cursor is read when the index would select much of it) lists the `_id`s a find of the
 * whole documents finds, in the same order, batch after batch, with skip and limit, for
 * documents of every shape of the timestamp field.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ObjectId } from 'mongodb';
import type { Document } from 'mongodb';
import { emulatorSuite } from './support.js';

const HOUR = 3_600_000;
const from = Date.UTC(2024, 0, 15, 10);
const to = from + HOUR;
const oid = (ms: number, n: number): ObjectId => new ObjectId(`${Math.floor(ms / 1000).toString(16).padStart(8, '0')}${n.toString(16).padStart(16, '0')}`);

const byField = { createdAt: { $gte: new Date(from), $lt: new Date(to) } };
const byObjectId = { _id: { $gte: oid(from, 0), $lt: oid(to, 0) }, createdAt: { $not: { $gte: new Date(0), $lt: new Date(253402300800000) } } };

function docs(): Document[] {
  const out: Document[] = [];
  let n = 0;
  for (const idTime of [from - HOUR, from + 10, to - 1000, to + 10]) {
    for (const t of [from - 1, from, from + 1, to - 1, to, -5]) {
      out.push({ _id: oid(idTime, ++n), createdAt: new Date(t), v: n % 3 });
      out.push({ _id: oid(idTime, ++n), createdAt: [new Date(t)] });
    }
    for (const odd of [undefined, null, 'yesterday', from + 5, { t: new Date(from) }]) out.push(odd === undefined ? { _id: oid(idTime, ++n) } : { _id: oid(idTime, ++n), createdAt: odd });
  }
  out.push({ _id: 42, createdAt: new Date(from + 5) }, { _id: 'text', createdAt: new Date(from + 6) });
  return out;
}

const suite = emulatorSuite('id_listing');

test('the _id listing by the hour rule lists what a find of whole documents finds, in order', async () => {
  const coll = suite.fresh('listing');
  // Many documents outside the hour too: both the index path and a scan are exercised.
  await coll.insertMany(docs());
  await coll.insertMany(Array.from({ length: 40 }, (_, i) => ({ _id: oid(from - 2 * HOUR, 1000 + i), createdAt: new Date(from - 2 * HOUR) })));
  await coll.createIndex({ createdAt: 1 });
  let listed = 0;
  for (const filter of [{ $or: [byField, byObjectId] }, byField, byObjectId, { ...byField, v: 1 }]) {
    for (const opts of [{}, { skip: 2 }, { limit: 3 }, { hint: { $natural: 1 } }]) {
      const ids = await coll.find(filter, { ...opts, projection: { _id: 1 }, batchSize: 4 }).toArray();
      const whole = await coll.find(filter, { ...opts, batchSize: 4 }).toArray();
      assert.deepEqual(ids, whole.map((d) => ({ _id: d._id as unknown })), `${JSON.stringify(filter)} ${JSON.stringify(opts)}`);
      listed += ids.length;
    }
  }
  assert.ok(listed > 20);
});
