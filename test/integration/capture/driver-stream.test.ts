/**
 * Capture through the driver's ChangeStream (what a tailer uses behind mongos routers or a load
 * balancer, where the emulator cannot stand): the same lines as the raw client, nothing lost or
 * repeated across a restart, and an idle stream's token advancing.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Decimal128, ObjectId } from 'mongodb';
import { tailerFor } from '../../../src/archiver.js';
import { lineEncoder } from '../../../src/spool/json-lines.js';
import { Tailer } from '../../../src/source/tailer.js';
import type { StreamClient } from '../../../src/source/stream-client.js';
import { silentLogger } from '../../../src/log.js';
import { archiveEnv, waitFor } from '../../helpers/archive-env.js';
import { startTestMongo } from '../../helpers/mongo.js';
import type { TestMongo } from '../../helpers/mongo.js';
import { readSpool } from '../../helpers/spool-reader.js';

let mongo: TestMongo;
before(async () => {
  mongo = await startTestMongo();
});
after(async () => {
  await mongo.close();
});

function tailer(env: Awaited<ReturnType<typeof archiveEnv>>, streamClient: StreamClient): Tailer {
  const t = tailerFor(env.config(), env.client, silentLogger);
  return new Tailer({ ...t.options, streamClient });
}

test('the driver client archives the same lines as the raw one, once each across a restart, and its idle token advances', async () => {
  const env = await archiveEnv(mongo);
  try {
    const coll = env.client.db(env.db).collection('apilogs');
    const docs = [
      { _id: new ObjectId(), createdAt: new Date(), method: 'GET', status: 200 },
      { _id: new ObjectId(), createdAt: new Date(), price: Decimal128.fromString('9.99'), tags: ['a'] },
    ];
    const first = tailer(env, 'driver');
    await first.start();
    await coll.insertMany(docs);
    await waitFor(() => first.stats().captured === 2, 20_000, 'two events');
    await first.stop();
    await coll.insertOne({ _id: new ObjectId(), createdAt: new Date(), n: 3 });
    const second = tailer(env, 'driver');
    await second.start();
    await waitFor(() => second.stats().captured === 1, 20_000, 'the event written while stopped');
    const token = JSON.stringify((await env.client.db(env.db).collection('jobs').findOne({ _id: `capture:${env.db}.apilogs` as never }))?.position?.token);
    const other = env.client.db(env.db).collection('unrelated');
    await waitFor(
      async () => {
        await other.insertOne({ at: new Date() });
        await second.checkpoint();
        const now = (await env.client.db(env.db).collection('jobs').findOne({ _id: `capture:${env.db}.apilogs` as never }))?.position?.token;
        return JSON.stringify(now) !== token;
      },
      20_000,
      'the idle token to advance',
    );
    await second.stop();

    const spooled = await readSpool(env.spoolDirectory, `${env.db}.apilogs`);
    assert.equal(spooled.length, 3, 'each document once');
    const encode = lineEncoder('analytics');
    for (const d of docs) {
      const found = spooled.find((s) => s.doc._id === d._id.toHexString());
      assert.deepEqual(found?.doc, JSON.parse(encode(d)), 'the line the encoder writes');
    }
  } finally {
    await env.close();
  }
});
