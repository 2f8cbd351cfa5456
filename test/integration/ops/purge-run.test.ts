/**
 * Issue 18, PURGE_AFTER: a real `run` child process with PURGE_AFTER purges, after its
 * scheduled seal runs, the hours it captured, sealed, delivered and verified once they ended
 * PURGE_AFTER ago; hours that have not are left in MongoDB. Without PURGE_AFTER `run` deletes
 * nothing (the default, checked by every other `run` test leaving its documents in place).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ObjectId } from 'mongodb';
import { archiveEnv, waitFor } from '../../helpers/archive-env.js';
import { HOUR } from '../../helpers/archive-keys.js';
import { startCli } from '../../helpers/archiver-process.js';

test('run with PURGE_AFTER purges the hours it archived once they are older than PURGE_AFTER, and only those', async () => {
  const env = await archiveEnv();
  const run = startCli(['run', '--no-env-file'], env.env({ SEAL_SCHEDULE: '* * * * * *', PURGE_AFTER: '2h', LOG_LEVEL: 'info' }));
  try {
    await run.waitFor('archiver started', 60_000);
    const apilogs = env.client.db(env.db).collection('apilogs');
    const now = Date.now();
    const old = Math.floor(now / HOUR) * HOUR - 5 * HOUR;
    const recent = Math.floor(now / HOUR) * HOUR - HOUR; // ended less than 2 h ago
    const mk = (start: number, n: number) => Array.from({ length: n }, (_, k) => ({ _id: new ObjectId(), createdAt: new Date(start + 1000 + k * 1000), path: `/${start}/${k}` }));
    const oldDocs = [...mk(old, 5), ...mk(old + HOUR, 4)];
    const recentDocs = mk(recent, 3);
    await apilogs.insertMany([...oldDocs, ...recentDocs]);

    // run captures, seals and delivers them; its purge pass then deletes the two old hours.
    const logs = env.client.db(env.db).collection('logs');
    await waitFor(async () => (await logs.countDocuments({ op: 'purge', outcome: 'ok' })) >= 2, 60_000, 'two hours purged by run');
    assert.equal(await apilogs.countDocuments({ _id: { $in: oldDocs.map((d) => d._id) } }), 0, 'the old hours are gone from MongoDB');
    const purged = await logs.find({ op: 'purge', outcome: 'ok' }).sort({ hourStart: 1 }).toArray();
    assert.deepEqual(purged.map((r) => [(r.hourStart as Date).getTime(), r.count]), [[old, 5], [old + HOUR, 4]]);
    assert.ok(purged.every((r) => typeof r.epoch === 'number'), 'purge records carry the epoch of run');
    // The recent hour was delivered too, and stays in MongoDB.
    const day = await env.client.db(env.db).collection('jobs').findOne({ kind: 'day', [`hours.${new Date(recent).toISOString().slice(0, 16)}+00:00.state`]: { $in: ['delivered', 'verified'] } });
    assert.ok(day, 'the recent hour was delivered');
    assert.equal(await apilogs.countDocuments({ _id: { $in: recentDocs.map((d) => d._id) } }), recentDocs.length, 'the recent hour is not purged');
    assert.match(run.output().stderr, /purge pass finished/);
  } finally {
    run.child.kill('SIGTERM');
    await run.exited;
    await env.close();
  }
});
