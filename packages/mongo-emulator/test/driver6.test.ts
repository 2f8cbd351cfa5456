/**
 * The 6.x driver (mongodb@6, installed as `mongodb6`) works against the emulator too:
 * replica set topology, CRUD, a change stream with its automatic resume.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { MongoClient } from 'mongodb6';
import type { Document, TopologyDescriptionChangedEvent } from 'mongodb6';
import { lockFailCommand, startTestMongo, uniqueDbName } from '../src/testing.js';
import type { TestMongo } from '../src/testing.js';
import { connect } from './support.js';

let mongo: TestMongo;
const dbName = uniqueDbName('driver6');

before(async () => {
  mongo = await startTestMongo();
});

after(async () => {
  const c = new MongoClient(mongo.uri);
  await c.db(dbName).dropDatabase();
  await c.close();
  await mongo?.close();
});

test('mongodb 6.x: topology, CRUD, aggregate, and a change stream that resumes by itself', async () => {
  const appName = `driver6-${randomBytes(4).toString('hex')}`;
  const events: TopologyDescriptionChangedEvent[] = [];
  const client = new MongoClient(mongo.uri, { appName, serverSelectionTimeoutMS: 10_000 });
  client.on('topologyDescriptionChanged', (e) => events.push(e));
  await client.connect();
  const locker = await connect(mongo.uri);
  const unlock = await lockFailCommand(locker);
  try {
    assert.equal(events.at(-1)!.newDescription.type, 'ReplicaSetWithPrimary');
    const coll = client.db(dbName).collection('logs');
    await coll.insertMany([{ n: 1 }, { n: 2 }, { n: 3 }]);
    await coll.updateOne({ n: 2 }, { $set: { two: true } });
    assert.deepEqual(await coll.find({ n: { $gte: 2 } }, { projection: { _id: 0 } }).sort({ n: 1 }).toArray(), [{ n: 2, two: true }, { n: 3 }]);
    assert.deepEqual(await coll.aggregate([{ $group: { _id: null, total: { $sum: '$n' } } }]).toArray(), [{ _id: null, total: 6 }]);

    const stream = coll.watch([], { maxAwaitTimeMS: 100 });
    assert.equal(await stream.tryNext(), null);
    await coll.insertOne({ n: 4 });
    assert.equal(((await stream.next()) as Document).fullDocument.n, 4);
    await client.db('admin').command({
      configureFailPoint: 'failCommand',
      mode: { times: 1 },
      data: { failCommands: ['getMore'], closeConnection: true, appName },
    });
    await coll.insertMany([{ n: 5 }, { n: 6 }]);
    const got = [(await stream.next()) as Document, (await stream.next()) as Document].map((e) => e.fullDocument.n);
    assert.deepEqual(got, [5, 6]);
    await stream.close();
  } finally {
    await client.db('admin').command({ configureFailPoint: 'failCommand', mode: 'off' });
    await unlock();
    await locker.close();
    await client.close();
  }
});
