/**
 * A change stream keeps up with bulk inserts: 20,000 documents of ~400 bytes inserted in
 * batches of 1,000 all arrive, none lost or repeated, within 2 s of the last insert.
 * (The insert rate itself is measured by bench/emulator.ts; this machine is shared.)
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { ObjectId } from 'mongodb';
import type { Document, MongoClient } from 'mongodb';
import { startTestMongo, uniqueDbName } from '../src/testing.js';
import type { TestMongo } from '../src/testing.js';
import { connect } from './support.js';

let mongo: TestMongo;
let client: MongoClient;
const dbName = uniqueDbName('throughput');

before(async () => {
  mongo = await startTestMongo();
  client = await connect(mongo.uri);
});

after(async () => {
  await client?.db(dbName).dropDatabase();
  await client?.close();
  await mongo?.close();
});

test('20,000 inserted documents all reach the change stream within 2 s of the last insert', async () => {
  const coll = client.db(dbName).collection('apilogs');
  const total = 20_000;
  const docs = Array.from({ length: total }, (_, i) => ({
    _id: new ObjectId(),
    i,
    createdAt: new Date(),
    method: 'GET',
    path: `/api/v1/customers/${i}/orders?page=${i % 17}`,
    status: 200,
    userAgent: 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36',
    headers: { host: 'api.example.com', accept: 'application/json', 'x-request-id': `req-${i}` },
    tags: ['prod', 'eu-west-1'],
  }));
  const stream = coll.watch([{ $match: { operationType: 'insert' } }], { maxAwaitTimeMS: 500 });
  assert.equal(await stream.tryNext(), null);
  const seen = new Set<number>();
  let duplicates = 0;
  const consume = (async () => {
    while (seen.size < total) {
      const ev = (await stream.next()) as Document;
      const i = ev.fullDocument.i as number;
      if (seen.has(i)) duplicates++;
      seen.add(i);
    }
    return performance.now();
  })();
  for (let i = 0; i < total; i += 1000) await coll.insertMany(docs.slice(i, i + 1000));
  const lastInsert = performance.now();
  const lastEvent = await Promise.race([
    consume,
    new Promise<number>((_, reject) => setTimeout(() => reject(new Error(`only ${seen.size} of ${total} events`)), 30_000)),
  ]);
  await stream.close();
  assert.equal(seen.size, total);
  assert.equal(duplicates, 0);
  assert.ok(lastEvent - lastInsert < 2000, `last event ${(lastEvent - lastInsert).toFixed(0)} ms after the last insert`);
});
