/**
 * Issue 16 item 5: a complete first hour, also through a crash loop at the first deployment.
 * Documents of the current hour are written before the first `run` ever starts and all along;
 * the first `run` is SIGKILLed again and again during its start-up (once as soon as its first
 * checkpoint marks the hour's query pending, then at various delays after the spawn). Once a
 * run survives, the current hour holds every document exactly once: sealed (as the seal at the
 * hour's end does) it reconciles `ok`, also deep, and no `_id` is delivered twice.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ObjectId } from 'mongodb';
import { openSharedContext } from '../../src/archive-context.js';
import { sealerFor, tailerFor } from '../../src/archiver.js';
import { silentLogger } from '../../src/log.js';
import { reconcileRange } from '../../src/reconcile/reconcile.js';
import { archiveEnv, waitFor } from '../helpers/archive-env.js';
import type { ArchiveEnv } from '../helpers/archive-env.js';
import { globObjects, idCounts } from '../helpers/archive-glob.js';
import { HOUR } from '../helpers/archive-keys.js';
import { startCli } from '../helpers/archiver-process.js';
import { startTestMongo } from '../helpers/mongo.js';
import type { TestMongo } from '../helpers/mongo.js';
import { readSpool, spoolNow } from '../helpers/spool-reader.js';

let mongo: TestMongo;
let env: ArchiveEnv;
before(async () => {
  mongo = await startTestMongo();
  env = await archiveEnv(mongo);
});
after(async () => {
  await env.close();
  await mongo.close();
});

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

test('crash loop at the first deployment: once a run survives, the current hour is complete; sealed, it reconciles ok with no duplicate', { timeout: 180_000 }, async () => {
  // The hour must not end during the test (the first start archives the hour it starts in). The
  // test takes ~25 s on a quiet machine; 75 s of margin bounds the wait for the next hour, which
  // otherwise made the suite up to two minutes longer when it ran near the hour's end.
  const left = HOUR - (Date.now() % HOUR);
  if (left < 75_000) await sleep(left + 1000);
  const current = Math.floor(Date.now() / HOUR) * HOUR;
  const ns = `${env.db}.apilogs`;
  const apilogs = env.client.db(env.db).collection('apilogs');
  const jobs = env.client.db(env.db).collection('jobs');
  const inserted: string[] = [];
  const doc = (tag: string, at: number): { _id: ObjectId; createdAt: Date; path: string } => {
    const _id = new ObjectId();
    inserted.push(JSON.stringify(_id.toHexString()));
    return { _id, createdAt: new Date(Math.min(at, current + HOUR - 1)), path: `/${tag}` };
  };

  // Written before the first start, spread over the hour so far.
  const span = Math.max(1, Date.now() - current);
  await apilogs.insertMany(Array.from({ length: 80 }, (_, i) => doc('before', current + Math.floor((i * span) / 80))));

  // Written all along: 5 documents every 40 ms.
  let inserting = true;
  const inserter = (async () => {
    while (inserting) {
      await apilogs.insertMany(Array.from({ length: 5 }, () => doc('during', Date.now())));
      await sleep(40);
    }
  })();

  async function kill(run: ReturnType<typeof startCli>): Promise<void> {
    run.child.kill('SIGKILL');
    const res = await run.exited;
    assert.equal(res.signal, 'SIGKILL', `killed during start-up, not exited: ${res.stderr.slice(-2000)}`);
  }
  // Kill 1: as soon as the first checkpoint exists (it marks the hour's query pending).
  let run = startCli(['run', '--no-env-file'], env.env());
  await waitFor(async () => (await jobs.findOne({ _id: `capture:${ns}` as never })) !== null, 60_000, 'the first checkpoint');
  await kill(run);
  // Kill 2: once the hour's query is done (its log line), before or while the stream opens.
  run = startCli(['run', '--no-env-file'], env.env());
  await run.waitFor('repair from query complete', 60_000).catch(() => undefined);
  await kill(run);
  // Then at various moments after the spawn (start-up takes a second or more under load).
  let survivedStartup = 0;
  for (const delay of [200, 600, 1000, 1500, 2000, 3000, 4000]) {
    run = startCli(['run', '--no-env-file'], env.env());
    await sleep(delay);
    if (run.output().stderr.includes('archiver started')) survivedStartup++;
    await kill(run);
  }

  // One survives.
  const final = startCli(['run', '--no-env-file'], env.env());
  await final.waitFor('archiver started', 60_000);
  await sleep(500);
  inserting = false;
  await inserter;
  // (Documents it never archives are named by the assertions below.)
  await waitFor(async () => (await spoolNow(env.spoolDirectory, ns)).length >= inserted.length, 30_000, 'the surviving run to catch up').catch(() => undefined);
  final.child.kill('SIGTERM');
  const res = await final.exited;
  assert.equal(res.code, 0, `clean exit after SIGTERM:\n${res.stderr.slice(-2000)}`);

  const spooled = (await readSpool(env.spoolDirectory, ns)).map((s) => JSON.stringify(s.doc._id));
  const seen = new Map<string, number>();
  for (const id of spooled) seen.set(id, (seen.get(id) ?? 0) + 1);
  console.log(JSON.stringify({ firstHourCrashLoop: { documents: inserted.length, spooled: spooled.length, survivedStartup } }));
  assert.deepEqual([...seen].filter(([, n]) => n > 1), [], 'no document spooled twice');
  assert.deepEqual(inserted.filter((id) => !seen.has(id)), [], 'every document of the hour spooled, those written before the first start too');
  const cp = await jobs.findOne({ _id: `capture:${ns}` as never });
  assert.equal(cp?.pendingRepair, undefined, 'the hour query is done');
  assert.equal((cp?.since as Date).getTime(), current, 'since = the first hour');

  // Seal the hour as the seal at its end does, then reconcile it.
  const config = env.config();
  const ctx = openSharedContext(config, env.client, silentLogger);
  try {
    const tailer = tailerFor(config, env.client, silentLogger, undefined, ctx);
    await tailer.recover();
    const report = await sealerFor(ctx, tailer, silentLogger).sealDue(current + HOUR + 1);
    await tailer.stop();
    assert.equal(report.failed, 0, JSON.stringify(report));
    const rows = await reconcileRange(ctx, ctx.clock, { from: current, to: current + HOUR, deep: true, now: current + HOUR + 1 });
    assert.deepEqual(
      rows.map((r) => [r.status, r.mongo, r.archived]),
      [['ok', inserted.length, inserted.length]],
      JSON.stringify(rows),
    );
  } finally {
    await ctx.close();
  }
  const counts = idCounts(await globObjects(env.archiveDirectory, 'api-logs'));
  assert.deepEqual([...counts.values()].filter((n) => n !== 1), [], 'every _id delivered once');
  assert.equal(counts.size, inserted.length);
});
