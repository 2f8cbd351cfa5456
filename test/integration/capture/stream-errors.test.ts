/**
 * What capture does when the change stream cannot go on: a resume token this deployment
 * cannot use, and the watched collection dropped. Each gives a clear error, exit code 3, and
 * a documented way out (--reset-from) that works.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { archiveEnv, waitFor } from '../../helpers/archive-env.js';
import { startCli } from '../../helpers/archiver-process.js';
import { startTestMongo } from '../../helpers/mongo.js';
import type { TestMongo } from '../../helpers/mongo.js';
import { readSpool, spoolNow } from '../../helpers/spool-reader.js';

let mongo: TestMongo;
before(async () => {
  mongo = await startTestMongo();
});
after(async () => {
  await mongo.close();
});

test('an unusable resume token stops run with a clear error; --reset-from rebuilds without repeating', { timeout: 120_000 }, async () => {
  const env = await archiveEnv(mongo);
  try {
    const ns = `${env.db}.apilogs`;
    const coll = env.client.db(env.db).collection('apilogs');
    const first = startCli(['run', '--no-env-file'], env.env());
    await first.waitFor('archiver started', 60_000);
    await coll.insertMany([{ createdAt: new Date(), n: 1 }, { createdAt: new Date(), n: 2 }]);
    await waitFor(async () => (await spoolNow(env.spoolDirectory, ns)).length === 2, 20_000, 'two documents spooled');
    first.child.kill('SIGTERM');
    assert.equal((await first.exited).code, 0);

    // A token from somewhere else (e.g. a restored cluster): not a token this server issued.
    await env.client
      .db(env.db)
      .collection('jobs')
      .updateOne({ _id: `capture:${ns}` as never }, { $set: { 'position.token': { _data: 'not-a-resume-token' } } });
    await coll.insertOne({ createdAt: new Date(), n: 3 });
    const broken = startCli(['run', '--no-env-file'], env.env());
    const res = await broken.exited;
    assert.equal(res.code, 3, res.stderr.slice(-1500));
    assert.match(res.stderr, /resume token cannot be used on this deployment/);
    assert.match(res.stderr, /--reset-from/);

    const from = new Date(Date.now() - 3_600_000).toISOString();
    const reset = startCli(['run', '--no-env-file', '--reset-from', from], env.env());
    await reset.waitFor('archiver started', 60_000);
    await coll.insertOne({ createdAt: new Date(), n: 4 });
    await waitFor(async () => (await spoolNow(env.spoolDirectory, ns)).length >= 4, 20_000, 'four documents');
    reset.child.kill('SIGTERM');
    assert.equal((await reset.exited).code, 0);
    const ns4 = (await readSpool(env.spoolDirectory, ns)).map((s) => s.doc.n).sort();
    assert.deepEqual(ns4, [1, 2, 3, 4], 'the reset archived what was missing and nothing twice');
  } finally {
    await env.close();
  }
});

test('dropping the watched collection stops run with a clear error naming it', { timeout: 120_000 }, async () => {
  const env = await archiveEnv(mongo);
  try {
    const coll = env.client.db(env.db).collection('apilogs');
    await coll.insertOne({ createdAt: new Date() });
    const run = startCli(['run', '--no-env-file'], env.env());
    await run.waitFor('archiver started', 60_000);
    await coll.insertOne({ createdAt: new Date() });
    await new Promise((r) => setTimeout(r, 500));
    await coll.drop();
    const res = await run.exited;
    assert.equal(res.code, 3, res.stderr.slice(-1500));
    assert.match(res.stderr, new RegExp(`collection ${env.db}\\.apilogs was dropped`));
    assert.match(res.stderr, /--reset-from/);
  } finally {
    await env.close();
  }
});
