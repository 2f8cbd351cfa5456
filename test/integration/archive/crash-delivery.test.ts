/**
 * The crash test extended to delivery: `run` seals and delivers every second while it is
 * killed with SIGKILL at random moments (during capture, sealing and upload alike) and another
 * process inserts documents of the last 3 finished hours. At the end every _id is in exactly
 * one delivered object of its hour, and reconcile --deep passes.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { archiveEnv, waitFor } from '../../helpers/archive-env.js';
import type { ArchiveEnv } from '../../helpers/archive-env.js';
import { cleanEnv, ROOT, runCli, startCli } from '../../helpers/archiver-process.js';
import { startTestMongo } from '../../helpers/mongo.js';
import type { TestMongo } from '../../helpers/mongo.js';
import { readArchiveDir } from '../../helpers/spool-reader.js';

const HOUR = 3_600_000;
const KILLS = 10;
const DOCS = 3000;
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

function hourOfKey(key: string): number {
  const m = /(\d{4}-\d{2}-\d{2})\/(\d{2})-\d{2}/.exec(key);
  assert.ok(m, key);
  return Date.parse(`${m[1]}T${m[2]}:00:00Z`);
}

test(`SIGKILL ${KILLS} times during capture, seal and upload: every _id in exactly one delivered object of its hour`, { timeout: 300_000 }, async () => {
  const vars = env.env({ SEAL_SCHEDULE: '* * * * * *' });
  const idsFile = join(env.dir, 'ids.txt');
  let run = startCli(['run', '--no-env-file'], vars);
  await run.waitFor('archiver started', 60_000);
  const inserter = spawn(
    process.execPath,
    ['--import', 'tsx', 'scripts/insert-traffic.ts', '--uri', env.uri, '--count', String(DOCS), '--batch', '10', '--interval-ms', '60', '--hours', '3', '--until-hours-ago', '1', '--ids-out', idsFile],
    { cwd: ROOT, env: cleanEnv({}), stdio: ['ignore', 'ignore', 'inherit'] },
  );
  const inserterDone = new Promise<number | null>((res) => inserter.on('close', res));
  let kills = 0;
  let killedWhileSealing = 0;
  for (;;) {
    if (kills % 2 === 1) {
      // Every other kill lands while the process is sealing and delivering: after it finished
      // a seal run (late parts keep every run busy while the inserter runs), at a random
      // moment of the next one.
      const sealed = await run.waitFor('seal run finished', 8_000).then(
        () => true,
        () => false,
      );
      if (sealed) killedWhileSealing++;
      await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 1000)));
    } else {
      await new Promise((r) => setTimeout(r, 200 + Math.floor(Math.random() * 1300)));
    }
    run.child.kill('SIGKILL');
    await run.exited;
    kills++;
    if (kills >= KILLS) break;
    run = startCli(['run', '--no-env-file'], vars);
    await run.waitFor('archiver started', 60_000);
  }
  assert.equal(await inserterDone, 0);
  const acked = (await readFile(idsFile, 'utf8')).trim().split('\n').map((l) => l.split(' ') as [string, string]);
  assert.equal(acked.length, DOCS);

  const final = startCli(['run', '--no-env-file'], vars);
  await final.waitFor('archiver started', 60_000);
  await waitFor(async () => (await readArchiveDir(env.archiveDirectory)).reduce((n, f) => n + f.lines.length, 0) >= DOCS, 90_000, 'every document delivered');
  final.child.kill('SIGTERM');
  assert.equal((await final.exited).code, 0);

  const objects = await readArchiveDir(env.archiveDirectory);
  const where = new Map<string, string[]>();
  for (const o of objects) {
    for (const line of o.lines) {
      const id = (JSON.parse(line) as { _id: string })._id;
      where.set(id, [...(where.get(id) ?? []), o.key]);
    }
  }
  const missing = acked.filter(([id]) => !where.has(id)).length;
  const duplicates = [...where.values()].filter((keys) => keys.length > 1).length;
  const wrongHour = acked.filter(([id, at]) => {
    const keys = where.get(id);
    return keys !== undefined && hourOfKey(keys[0]!) !== Math.floor(Date.parse(at) / HOUR) * HOUR;
  }).length;
  console.log(JSON.stringify({ crashDeliveryTest: { kills, killedDuringSealing: killedWhileSealing, documents: DOCS, objects: objects.length, duplicates, missing, wrongHour } }));
  assert.ok(killedWhileSealing >= 2, `kills during seal runs: ${killedWhileSealing}`);
  assert.equal(missing, 0);
  assert.equal(duplicates, 0);
  assert.equal(wrongHour, 0);

  const hours = [...new Set(acked.map(([, at]) => Math.floor(Date.parse(at) / HOUR) * HOUR))].sort();
  const rec = await runCli(['reconcile', '--no-env-file', '--from', new Date(hours[0]!).toISOString(), '--to', new Date(hours[hours.length - 1]! + HOUR).toISOString(), '--deep', '--json'], vars);
  assert.equal(rec.code, 0, rec.stdout + rec.stderr);
});
