/**
 * The crash test: the archiver runs as a child process and is killed with SIGKILL at random
 * moments while another process inserts documents continuously, with createdAt spread over
 * the last 3 hours; it is restarted after each kill. At the end every acknowledged _id is in
 * the spool exactly once, in the file of its hour.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { archiveEnv, waitFor } from '../../helpers/archive-env.js';
import type { ArchiveEnv } from '../../helpers/archive-env.js';
import { cleanEnv, ROOT, startCli } from '../../helpers/archiver-process.js';
import { startTestMongo } from '../../helpers/mongo.js';
import type { TestMongo } from '../../helpers/mongo.js';
import { readSpool, spoolNow } from '../../helpers/spool-reader.js';

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

const KILLS = 12;
const DOCS = 4000;

test(`SIGKILL ${KILLS} times during capture: every inserted _id exactly once, in the file of its hour`, { timeout: 240_000 }, async () => {
  const idsFile = join(env.dir, 'ids.txt');
  // The archiver's first start fixes where capture begins: the inserter starts after it.
  let run = startCli(['run', '--no-env-file'], env.env());
  await run.waitFor('archiver started', 60_000);
  const inserter = spawn(
    process.execPath,
    ['--import', 'tsx', 'scripts/insert-traffic.ts', '--uri', env.uri, '--count', String(DOCS), '--batch', '20', '--interval-ms', '15', '--hours', '3', '--ids-out', idsFile],
    { cwd: ROOT, env: cleanEnv({}), stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const inserterDone = new Promise<number | null>((res) => inserter.on('close', res));
  let inserterExited = false;
  void inserterDone.then(() => (inserterExited = true));

  let kills = 0;
  for (;;) {
    // Let it capture for a random while (inside or between checkpoints), then kill it.
    await new Promise((r) => setTimeout(r, 150 + Math.floor(Math.random() * 900)));
    run.child.kill('SIGKILL');
    const res = await run.exited;
    assert.equal(res.signal, 'SIGKILL');
    kills++;
    if (kills >= KILLS) break;
    run = startCli(['run', '--no-env-file'], env.env());
    await run.waitFor('archiver started', 60_000);
  }
  assert.equal(await inserterDone, 0, 'the inserter finished');
  assert.ok(inserterExited);

  // A last run catches up, then stops cleanly (SIGTERM: flush + final checkpoint, exit 0).
  const acked = (await readFile(idsFile, 'utf8')).trim().split('\n').map((l) => l.split(' ') as [string, string]);
  assert.equal(acked.length, DOCS);
  const final = startCli(['run', '--no-env-file'], env.env());
  await final.waitFor('archiver started', 60_000);
  const ns = `${env.db}.apilogs`;
  await waitFor(async () => (await spoolNow(env.spoolDirectory, ns)).length >= DOCS, 60_000, 'the final run to catch up');
  final.child.kill('SIGTERM');
  const res = await final.exited;
  assert.equal(res.code, 0, `clean exit after SIGTERM:\n${res.stderr.slice(-2000)}`);

  const spooled = await readSpool(env.spoolDirectory, ns);
  const seen = new Map<string, number>();
  for (const s of spooled) seen.set(s.doc._id as string, (seen.get(s.doc._id as string) ?? 0) + 1);
  const duplicates = [...seen.values()].filter((n) => n > 1).length;
  const missing = acked.filter(([id]) => !seen.has(id)).length;
  const byId = new Map(spooled.map((s) => [s.doc._id as string, s]));
  const wrongHour = acked.filter(([id, at]) => {
    const s = byId.get(id);
    return s !== undefined && s.hour !== Math.floor(Date.parse(at) / 3_600_000) * 3_600_000;
  }).length;
  const hours = new Set(spooled.map((s) => s.hour)).size;
  console.log(JSON.stringify({ crashTest: { kills, documents: DOCS, spooled: spooled.length, duplicates, missing, wrongHour, hours } }));
  assert.equal(missing, 0, 'no acknowledged document lost');
  assert.equal(duplicates, 0, 'no document archived twice');
  assert.equal(wrongHour, 0, 'every document in the file of its hour');
  assert.equal(spooled.length, DOCS, 'nothing else archived');
  assert.ok(hours >= 3, `documents spread over ${hours} hours`);
});
