/**
 * History lost: the archiver is stopped while more documents are inserted than the (small)
 * oplog keeps, so its resume token falls off the oplog. On restart the change stream fails
 * with ChangeStreamHistoryLost and the gap is repaired from a query: every _id exactly once.
 * Needs an emulator flag (--oplog-size): skipped against a real replica set.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { archiveEnv, insertCaptured, startArchiver, waitFor } from '../../helpers/archive-env.js';
import { HOUR } from '../../helpers/archive-keys.js';
import { emulatorOnly, startTestMongo } from '../../helpers/mongo.js';
import { readSpool } from '../../helpers/spool-reader.js';

test('a resume token that fell off the oplog is repaired from a query, without duplicates', { skip: emulatorOnly('--oplog-size') }, async () => {
  const mongo = await startTestMongo({ oplogSize: 100 });
  const env = await archiveEnv(mongo);
  try {
    const coll = env.client.db(env.db).collection('apilogs');
    const base = Math.floor(Date.now() / HOUR) * HOUR - 2 * HOUR;
    const first = await startArchiver(env.config());
    await insertCaptured(env, first, Array.from({ length: 40 }, (_, i) => ({ n: i, createdAt: new Date(base + i * 60_000) })));
    await first.close();

    // 600 inserts while stopped: far more than the 100 oplog entries kept.
    for (let i = 0; i < 6; i++) {
      await coll.insertMany(Array.from({ length: 100 }, (_, j) => ({ n: 40 + i * 100 + j, createdAt: new Date(base + ((i * 100 + j) % 170) * 60_000) })));
    }
    const second = await startArchiver(env.config());
    await waitFor(() => second.stats().capture.repaired === 600, 30_000, 'the repair of 600 documents');
    // Capture goes on from the stream after the repair.
    await coll.insertMany(Array.from({ length: 10 }, (_, i) => ({ n: 640 + i, createdAt: new Date() })));
    await waitFor(() => second.stats().capture.captured === 10, 20_000, 'live capture after the repair');
    await second.close();

    const spooled = await readSpool(env.spoolDirectory, `${env.db}.apilogs`);
    const ns = spooled.map((s) => s.doc.n as number).sort((a, b) => a - b);
    assert.deepEqual(ns, Array.from({ length: 650 }, (_, i) => i), 'every document exactly once');
    for (const s of spooled) {
      const at = Date.parse(s.doc.createdAt as string);
      assert.equal(s.hour, Math.floor(at / HOUR) * HOUR, 'each in the file of its hour');
    }
    const logs = await env.client.db(env.db).collection('jobs').findOne({ _id: `capture:${env.db}.apilogs` as never });
    assert.ok(logs?.position, 'a checkpoint after the repair');
  } finally {
    await env.close();
    await mongo.close();
  }
});
