import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { Decimal128, Long, MongoClient, ObjectId } from 'mongodb';
import { toAnalytics } from '../../../src/spool/json-lines.js';
import { spoolFileName } from '../../../src/spool/spool-files.js';
import { archiveEnv, insertCaptured, startArchiver, waitFor } from '../../helpers/archive-env.js';
import { HOUR } from '../../helpers/archive-keys.js';
import type { ArchiveEnv } from '../../helpers/archive-env.js';
import { lockFailCommand, setFailCommand, startTestMongo } from '../../helpers/mongo.js';
import type { TestMongo } from '../../helpers/mongo.js';
import { readSpool } from '../../helpers/spool-reader.js';

let mongo: TestMongo;
before(async () => {
  mongo = await startTestMongo();
});
after(async () => {
  await mongo.close();
});


function hourStart(ms: number): number {
  return Math.floor(ms / HOUR) * HOUR;
}

test('inserts land in the spool file of their hour and decode to what was inserted', async () => {
  const env: ArchiveEnv = await archiveEnv(mongo);
  try {
    const archiver = await startArchiver(env.config());
    const base = hourStart(Date.now()) - 3 * HOUR;
    const docs = [
      { _id: new ObjectId(), createdAt: new Date(base + 5 * 60_000), method: 'GET', status: 200, latency: Long.fromString('9007199254740993'), price: Decimal128.fromString('9.99') },
      { _id: new ObjectId(), createdAt: new Date(base + HOUR + 1), method: 'POST', status: 201, tags: ['a', 'b'], nested: { at: new Date(0) } },
      { _id: new ObjectId(), createdAt: new Date(base + 2 * HOUR + 59 * 60_000), method: 'DELETE', status: 204 },
      // no date in createdAt: the ObjectId time decides the hour
      { _id: ObjectId.createFromTime(Math.floor((base + HOUR + 30 * 60_000) / 1000)), createdAt: 'yesterday', method: 'GET', status: 404 },
    ];
    await insertCaptured(env, archiver, docs);
    await archiver.close();

    const spooled = await readSpool(env.spoolDirectory, `${env.db}.apilogs`);
    assert.equal(spooled.length, docs.length);
    const expectedHour = [base, base + HOUR, base + 2 * HOUR, base + HOUR];
    for (const [i, d] of docs.entries()) {
      const found = spooled.filter((s) => s.doc._id === d._id.toHexString());
      assert.equal(found.length, 1, `document ${i} archived once`);
      assert.equal(found[0]!.hour, expectedHour[i], `document ${i} in the file of its hour`);
      assert.deepEqual(found[0]!.doc, toAnalytics(d));
    }
    assert.equal(spooled.find((s) => s.doc._id === docs[0]!._id.toHexString())!.doc.latency, '9007199254740993');

    // The checkpoint records the resume token and, per file, the durable size and line count.
    const cp = await env.client.db(env.db).collection('jobs').findOne({ _id: `capture:${env.db}.apilogs` as never });
    assert.ok(cp?.position?.token, 'resume token checkpointed');
    for (const f of cp!.spool.files as Array<{ hour: Date; part: number; offset: number; lines: number }>) {
      const path = join(env.spoolDirectory, `${env.db}.apilogs`, 'open', spoolFileName({ hour: f.hour.getTime(), part: f.part }));
      assert.equal((await fs.stat(path)).size, f.offset, 'checkpointed offset = durable file size after a clean stop');
    }
    assert.equal((cp!.spool.files as Array<{ lines: number }>).reduce((n, f) => n + f.lines, 0), docs.length);
  } finally {
    await env.close();
  }
});

test('a restart resumes from the checkpoint: nothing lost, nothing repeated', async () => {
  const env = await archiveEnv(mongo);
  try {
    const coll = env.client.db(env.db).collection('apilogs');
    const first = await startArchiver(env.config());
    await insertCaptured(env, first, Array.from({ length: 50 }, (_, i) => ({ createdAt: new Date(), n: i })));
    await first.close();
    // Written while no archiver runs: the change stream delivers them after the restart.
    await coll.insertMany(Array.from({ length: 30 }, (_, i) => ({ createdAt: new Date(), n: 50 + i })));
    const second = await startArchiver(env.config());
    await waitFor(() => second.stats().capture.captured === 30, 20_000, 'the 30 documents written while stopped');
    await insertCaptured(env, second, [{ createdAt: new Date(), n: 80 }]);
    await second.close();
    const ns = (await readSpool(env.spoolDirectory, `${env.db}.apilogs`)).map((s) => s.doc.n as number).sort((a, b) => a - b);
    assert.deepEqual(ns, Array.from({ length: 81 }, (_, i) => i));
  } finally {
    await env.close();
  }
});

test('capture goes on by itself after a dropped connection and a resumable server error: every document once', async () => {
  const env = await archiveEnv(mongo);
  const appName = `capture-resume-${env.db}`.slice(0, 100);
  const client = new MongoClient(env.uri, { appName });
  await client.connect();
  const unlock = await lockFailCommand(env.client);
  try {
    const archiver = await startArchiver(env.config(), { client });
    const round = (n: number): Promise<void> => insertCaptured(env, archiver, Array.from({ length: 100 }, (_, i) => ({ createdAt: new Date(), n: n * 100 + i })));
    await round(0);
    await setFailCommand(env.client, appName, { times: 1 }, { failCommands: ['getMore'], closeConnection: true });
    await round(1);
    // A real server labels a change stream's ShutdownInProgress resumable; failCommand only when asked.
    await setFailCommand(env.client, appName, { times: 1 }, { failCommands: ['getMore'], errorCode: 91, errorLabels: ['ResumableChangeStreamError'] });
    await round(2);
    // Unlabelled, it reaches the tailer, which waits the outage out and reopens the stream.
    await setFailCommand(env.client, appName, { times: 1 }, { failCommands: ['getMore'], errorCode: 91 });
    await round(3);
    await archiver.close();
    const spooled = await readSpool(env.spoolDirectory, `${env.db}.apilogs`);
    assert.deepEqual(
      spooled.map((s) => s.doc.n as number).sort((a, b) => a - b),
      Array.from({ length: 400 }, (_, i) => i),
      'every document once',
    );
  } finally {
    await setFailCommand(env.client, appName, 'off');
    await unlock();
    await client.close();
    await env.close();
  }
});

test('an idle stream still advances its checkpointed resume token', async () => {
  const env = await archiveEnv(mongo);
  try {
    const archiver = await startArchiver(env.config());
    const jobs = env.client.db(env.db).collection('jobs');
    const id = `capture:${env.db}.apilogs`;
    await waitFor(async () => Boolean((await jobs.findOne({ _id: id as never }))?.position?.token), 20_000, 'a first token');
    const before = JSON.stringify((await jobs.findOne({ _id: id as never }))!.position.token);
    // Activity elsewhere in the cluster moves the oplog on; the watched collection stays quiet.
    const other = env.client.db(env.db).collection('unrelated');
    await waitFor(
      async () => {
        await other.insertOne({ at: new Date() });
        return JSON.stringify((await jobs.findOne({ _id: id as never }))!.position.token) !== before;
      },
      20_000,
      'the idle resume token to advance',
    );
    assert.equal(archiver.stats().capture.captured, 0);
    await archiver.close();
  } finally {
    await env.close();
  }
});

test('when the stream goes quiet, its last events are made durable before the next interval; a trickle of events does not checkpoint each one', async () => {
  const env = await archiveEnv(mongo);
  try {
    // Interval 8 s: quiet-stream checkpoints at most every 2 s, and none of the waits below
    // reaches the first interval tick.
    const archiver = await startArchiver(env.config({ checkpointIntervalMs: 8_000 }));
    const started = Date.now();
    const jobs = env.client.db(env.db).collection('jobs');
    const durable = async (): Promise<number> => {
      const cp = await jobs.findOne({ _id: `capture:${env.db}.apilogs` as never });
      return ((cp?.spool?.files ?? []) as Array<{ lines: number }>).reduce((n, f) => n + f.lines, 0);
    };
    const coll = env.client.db(env.db).collection('apilogs');
    for (const round of [1, 2]) {
      await coll.insertMany(Array.from({ length: 20 }, (_, i) => ({ createdAt: new Date(), round, i })));
      await waitFor(async () => (await durable()) === 20 * round, 10_000, `the events of round ${round} durable in the checkpoint`);
      assert.ok(Date.now() - started < 6_000, `round ${round} durable ${Date.now() - started} ms after the start, before the first interval tick`);
    }
    // Nothing new: no further checkpoints.
    const quiet = archiver.stats().capture.checkpoints;
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(archiver.stats().capture.checkpoints, quiet);
    // One event every 60 ms for 1.5 s: the stream is quiet after each, but checkpoints start at
    // most every 2 s.
    await new Promise((r) => setTimeout(r, 2_000));
    const before = archiver.stats().capture.checkpoints;
    for (let i = 0; i < 25; i++) {
      await coll.insertOne({ createdAt: new Date(), trickle: i });
      await new Promise((r) => setTimeout(r, 60));
    }
    const during = archiver.stats().capture.checkpoints - before;
    assert.ok(during <= 2, `${during} checkpoints for 25 events 60 ms apart`);
    await archiver.close();
    assert.equal((await readSpool(env.spoolDirectory, `${env.db}.apilogs`)).length, 65);
  } finally {
    await env.close();
  }
});

test('with captureOperations update and delete, those changes are archived as change records in the hour of the change', async () => {
  const env = await archiveEnv(mongo);
  try {
    const archiver = await startArchiver(env.config({ captureOperations: ['insert', 'update', 'delete'] }));
    const coll = env.client.db(env.db).collection('apilogs');
    const old = new Date(hourStart(Date.now()) - 5 * HOUR);
    const { insertedId } = await coll.insertOne({ createdAt: old, status: 200, price: Decimal128.fromString('1.50') });
    await coll.updateOne({ _id: insertedId }, { $set: { status: 500 } });
    await coll.deleteOne({ _id: insertedId });
    await waitFor(() => archiver.stats().capture.captured === 3, 20_000, 'three changes captured');
    await archiver.close();
    const spooled = await readSpool(env.spoolDirectory, `${env.db}.apilogs`);
    assert.equal(spooled.length, 3);
    const insert = spooled.find((s) => s.doc._id === insertedId.toHexString());
    assert.deepEqual(insert?.doc, { _id: insertedId.toHexString(), createdAt: old.toISOString(), status: 200, price: '1.50' });
    assert.equal(insert?.hour, hourStart(old.getTime()), 'the insert in the hour of its createdAt');
    const update = spooled.find((s) => s.doc.operationType === 'update');
    const del = spooled.find((s) => s.doc.operationType === 'delete');
    assert.ok(update && del, JSON.stringify(spooled.map((s) => s.doc)));
    assert.deepEqual(update.doc.documentKey, { _id: insertedId.toHexString() });
    assert.deepEqual((update.doc.updateDescription as { updatedFields: unknown }).updatedFields, { status: 500 });
    assert.equal((update.doc.fullDocument as { status: number }).status, 500, 'updateLookup: the document after the update');
    assert.deepEqual(del.doc.documentKey, { _id: insertedId.toHexString() });
    assert.equal(del.doc.fullDocument, null);
    for (const change of [update, del]) {
      assert.equal(change.hour, hourStart((change.doc.clusterTime as { t: number }).t * 1000), 'a change in the hour of its cluster time');
      assert.deepEqual(Object.keys(change.doc.clusterTime as object), ['t', 'i']);
    }
  } finally {
    await env.close();
  }
});

test('ejson mode writes canonical Extended JSON', async () => {
  const env = await archiveEnv(mongo);
  try {
    const archiver = await startArchiver(env.config({ jsonMode: 'ejson' }));
    const _id = new ObjectId();
    await insertCaptured(env, archiver, [{ _id, createdAt: new Date('2024-01-15T00:30:00Z'), n: 1.5, big: Long.fromNumber(7) }]);
    await archiver.close();
    const [s] = await readSpool(env.spoolDirectory, `${env.db}.apilogs`);
    assert.deepEqual(s!.doc, {
      _id: { $oid: _id.toHexString() },
      createdAt: { $date: { $numberLong: String(Date.parse('2024-01-15T00:30:00Z')) } },
      n: { $numberDouble: '1.5' },
      big: { $numberLong: '7' },
    });
    assert.equal(s!.hour, Date.parse('2024-01-15T00:00:00Z'));
  } finally {
    await env.close();
  }
});

test('an archiver that loses its lease to another process stops capturing', async () => {
  const env = await archiveEnv(mongo);
  try {
    const archiver = await startArchiver(env.config(), { leaseTtlMs: 600 });
    // Another process took over (the lease had expired during an outage, say).
    await env.client
      .db(env.db)
      .collection('jobs')
      .updateOne({ _id: `lease:${env.db}.apilogs` as never }, { $set: { owner: 'elsewhere:1:x', host: 'elsewhere', pid: 1, command: 'run' } });
    await assert.rejects(archiver.done(), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'LEASE_HELD');
      assert.match(err.message, /lost the lease on .*apilogs to "run" on elsewhere \(pid 1, epoch \d+\)/);
      return true;
    });
    await archiver.close();
  } finally {
    await env.close();
  }
});
