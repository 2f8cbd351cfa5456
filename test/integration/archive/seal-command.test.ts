import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { archiveEnv, insertCaptured, startArchiver, waitFor } from '../../helpers/archive-env.js';
import { HOUR, hourKey } from '../../helpers/archive-keys.js';
import { runCli, startCli, stderrText } from '../../helpers/archiver-process.js';
import { emulatorOnly, startTestMongo } from '../../helpers/mongo.js';
import type { TestMongo } from '../../helpers/mongo.js';

let mongo: TestMongo;
before(async () => {
  mongo = await startTestMongo();
});
after(async () => {
  await mongo.close();
});

test('seal seals due hours once and exits 0; it is refused while run owns the collection', { timeout: 120_000 }, async () => {
  const env = await archiveEnv(mongo);
  try {
    const run = startCli(['run', '--no-env-file'], env.env());
    await run.waitFor('archiver started', 60_000);
    const h = Math.floor(Date.now() / HOUR) * HOUR - HOUR;
    await env.client.db(env.db).collection('apilogs').insertMany(Array.from({ length: 12 }, (_, i) => ({ createdAt: new Date(h + i * 60_000) })));
    await new Promise((r) => setTimeout(r, 1500));
    const refused = await runCli(['seal', '--no-env-file'], env.env());
    assert.equal(refused.code, 3);
    assert.match(stderrText(refused.stderr), /another cron-log-service process owns .*"run" on .* \(pid \d+\)/);
    run.child.kill('SIGTERM');
    assert.equal((await run.exited).code, 0);

    const sealed = await runCli(['seal', '--no-env-file', '--json'], env.env());
    assert.equal(sealed.code, 0, sealed.stderr);
    const report = JSON.parse(sealed.stdout) as { hours: Array<{ key: string; count: number; status: string }>; reconciled: Array<{ status: string }> };
    assert.deepEqual(report.hours.map((x) => [x.key, x.count, x.status]), [[hourKey(h), 12, 'delivered']]);
    assert.ok(report.reconciled.every((r) => r.status === 'ok'));
    const again = await runCli(['seal', '--no-env-file'], env.env());
    assert.equal(again.code, 0);
    assert.match(again.stdout, /no hour was due/);
  } finally {
    await env.close();
  }
});

test('every finished hour since capture began gets a manifest, empty ones with count 0', async () => {
  const env = await archiveEnv(mongo);
  try {
    const archiver = await startArchiver(env.config());
    const now = Date.now();
    const current = Math.floor(now / HOUR) * HOUR;
    await insertCaptured(env, archiver, [{ createdAt: new Date(now) }]);
    // Seal as if three hours had passed: the current hour (1 document) and two empty ones.
    const report = await archiver.sealNow(current + 3 * HOUR);
    await archiver.close();
    assert.deepEqual(report.hours.map((x) => [x.start, x.status, x.count]), [
      [current, 'delivered', 1],
      [current + HOUR, 'empty', 0],
      [current + 2 * HOUR, 'empty', 0],
    ]);
    for (const [i, n] of [1, 0, 0].entries()) {
      const m = JSON.parse(await fs.readFile(join(env.archiveDirectory, hourKey(current + i * HOUR, { ext: '.manifest.json' })), 'utf8')) as { count: number; parts: unknown[] };
      assert.equal(m.count, n);
      assert.equal(m.parts.length, n);
    }
  } finally {
    await env.close();
  }
});

test('documents removed by a TTL index are reported as expired-at-source, not as loss', { skip: emulatorOnly('ttlMonitorSleepSecs'), timeout: 60_000 }, async () => {
  const ttlMongo = await startTestMongo({ ttlMonitorSleepSecs: 1 });
  const env = await archiveEnv(ttlMongo);
  try {
    const coll = env.client.db(env.db).collection('apilogs');
    const h = Math.floor(Date.now() / HOUR) * HOUR - 5 * HOUR;
    await coll.insertMany(Array.from({ length: 20 }, (_, i) => ({ createdAt: new Date(h + i * 60_000) })));
    const from = new Date(h).toISOString();
    const to = new Date(h + HOUR).toISOString();
    const bf = await runCli(['backfill', '--no-env-file', '--from', from, '--to', to], env.env());
    assert.equal(bf.code, 0, bf.stdout + bf.stderr);
    // Keep documents for 4 hours: the archived hour (5 hours ago) expires at the source.
    await coll.createIndex({ createdAt: 1 }, { expireAfterSeconds: 4 * 3600 });
    await waitFor(async () => (await coll.countDocuments()) === 0, 30_000, 'the TTL monitor to delete the hour');
    const rec = await runCli(['reconcile', '--no-env-file', '--from', from, '--to', to, '--json'], env.env());
    assert.equal(rec.code, 0, rec.stdout + rec.stderr);
    assert.deepEqual(JSON.parse(rec.stdout).map((r: { mongo: number; archived: number; status: string }) => [r.mongo, r.archived, r.status]), [[0, 20, 'expired-at-source']]);
  } finally {
    await env.close();
    await ttlMongo.close();
  }
});
