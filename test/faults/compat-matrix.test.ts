/**
 * The compatibility matrix (issue 17): the crash test against every server profile the archiver
 * serves. `run` captures while documents are inserted continuously and is killed with SIGKILL at
 * random moments (inside reads, checkpoints and seal runs, which its schedule starts every 2
 * seconds) and restarted. At the end every acknowledged `_id` is in exactly one delivered
 * object, of its hour, and `reconcile` exits 0 with every hour `ok`. The profiles:
 * - replica set: change streams, the raw client (also a real server given MONGODB_URI);
 * - standalone: no change streams, capture by query (captureMode auto);
 * - no sessions and no postBatchResumeToken: the driver's ChangeStream;
 * - MongoDB 4.4: wire version 9, no 5.0+ aggregation operators (counts, reconcile).
 *
 * To get whole hours in a minute, the application's clock lags two hours: createdAt is two hours
 * (and up to half a second more, out of insert order) behind the insert, so the hours it fills
 * are due for sealing while capture still reads them (their documents read after the seal go to
 * late parts). Capture by query gets a settle delay covering that lag (2 h + 1 s), so the query
 * reads each document about a second after its insert.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ObjectId } from 'mongodb';
import { archiveEnv, waitFor } from '../helpers/archive-env.js';
import type { ArchiveEnv } from '../helpers/archive-env.js';
import { globObjects } from '../helpers/archive-glob.js';
import { HOUR, hourKey } from '../helpers/archive-keys.js';
import { runCli, startCli } from '../helpers/archiver-process.js';
import { emulatorOnly, startTestMongo } from '../helpers/mongo.js';
import type { TestMongoOptions } from '../helpers/mongo.js';

interface Profile {
  name: string;
  options: TestMongoOptions;
  /** What `run` must log about how it reads (the capture mode or change-stream client chosen). */
  logs: RegExp;
}

const PROFILES: Profile[] = [
  { name: 'replica set', options: {}, logs: /capture by change stream/ },
  { name: 'standalone (capture by query)', options: { standalone: true }, logs: /capture by query/ },
  { name: 'no sessions, no postBatchResumeToken', options: { noSessions: true, noPostBatchResumeToken: true }, logs: /driver's change stream/ },
  { name: 'MongoDB 4.4', options: { serverVersion: '4.4' }, logs: /capture by change stream/ },
];

const KILLS = 4;
const DOCS = 1200;
const LAG_MS = 2 * HOUR;

interface ReconcileRow {
  hour: string;
  mongo: number;
  archived: number | null;
  status: string;
}

for (const profile of PROFILES) {
  const skip = Object.keys(profile.options).length === 0 ? false : emulatorOnly(profile.name);
  test(`${profile.name}: SIGKILL ${KILLS} times under insert load, every _id exactly once in its hour's objects, reconcile exit 0`, { skip, timeout: 240_000 }, async () => {
    await using mongo = await startTestMongo(profile.options);
    const env = await archiveEnv(mongo);
    try {
      await crashTest(env, profile);
    } finally {
      await env.close();
    }
  });
}

async function crashTest(env: ArchiveEnv, profile: Profile): Promise<void> {
  const runEnv = env.env({ SEAL_SCHEDULE: '*/2 * * * * *', QUERY_SETTLE_SECONDS: String(LAG_MS / 1000 + 1), QUERY_POLL_INTERVAL_MS: '50' });
  const from = Math.floor((Date.now() - LAG_MS) / HOUR) * HOUR - HOUR;
  // The first start reads from an hour before the lagging clock's (later starts resume).
  let run = startCli(['run', '--no-env-file', '--reset-from', new Date(from).toISOString()], runEnv);
  await run.waitFor('archiver started', 60_000);
  assert.match(run.output().stderr, profile.logs, `how ${profile.name} is read`);

  const apilogs = env.client.db(env.db).collection('apilogs');
  const acked: Array<{ id: string; at: number }> = [];
  let inserting = true;
  const inserter = (async () => {
    while (acked.length < DOCS) {
      const docs = Array.from({ length: 20 }, () => ({ _id: new ObjectId(), createdAt: new Date(Date.now() - LAG_MS - Math.floor(Math.random() * 500)), path: '/api/x' }));
      await apilogs.insertMany(docs, { ordered: true });
      for (const d of docs) acked.push({ id: d._id.toHexString(), at: d.createdAt.getTime() });
      await new Promise((r) => setTimeout(r, 15));
    }
    inserting = false;
  })();

  let kills = 0;
  while (kills < KILLS) {
    await new Promise((r) => setTimeout(r, 300 + Math.floor(Math.random() * 1200)));
    run.child.kill('SIGKILL');
    assert.equal((await run.exited).signal, 'SIGKILL');
    kills++;
    run = startCli(['run', '--no-env-file'], runEnv);
    await run.waitFor('archiver started', 60_000);
  }
  await inserter;
  assert.equal(inserting, false);
  assert.equal(acked.length, DOCS);

  // The last run reads up to the last insert (a settle delay after it), then stops cleanly.
  const lastAt = Math.max(...acked.map((a) => a.at));
  await waitFor(() => Date.now() - LAG_MS - 1000 > lastAt + 1500, 30_000, 'the settle delay to pass the last document');
  await new Promise((r) => setTimeout(r, 1500));
  run.child.kill('SIGTERM');
  const res = await run.exited;
  assert.equal(res.code, 0, `clean exit after SIGTERM:\n${res.stderr.slice(-2000)}`);
  // Then every hour written is due (it ended more than two hours ago): seal delivers what is left.
  const sealed = await runCli(['seal', '--no-env-file'], runEnv);
  assert.equal(sealed.code, 0, sealed.stderr.slice(-2000));

  const objects = await globObjects(env.archiveDirectory);
  const holders = new Map<string, string[]>();
  for (const o of objects) for (const id of o.ids) holders.set(id, [...(holders.get(id) ?? []), o.key]);
  let missing = 0;
  let duplicates = 0;
  let wrongHour = 0;
  for (const { id, at } of acked) {
    const keys = holders.get(JSON.stringify(id)) ?? [];
    if (keys.length === 0) missing++;
    if (keys.length > 1) duplicates++;
    if (keys.length === 1 && !(keys[0] as string).startsWith(hourKey(Math.floor(at / HOUR) * HOUR, { ext: '' }))) wrongHour++;
  }
  const parts = objects.filter((o) => o.key.includes('.part')).length;
  console.log(JSON.stringify({ compatibilityMatrix: { profile: profile.name, kills, documents: DOCS, objects: objects.length, lateParts: parts, missing, duplicates, wrongHour } }));
  assert.equal(missing, 0, 'no acknowledged document lost');
  assert.equal(duplicates, 0, 'no document in two objects');
  assert.equal(wrongHour, 0, 'every document in an object of its hour');
  assert.equal(holders.size, DOCS, 'nothing else archived');

  // The hours the documents fell in (one or two: they span about a minute).
  const firstHour = Math.floor(Math.min(...acked.map((a) => a.at)) / HOUR) * HOUR;
  const to = Math.floor(lastAt / HOUR) * HOUR + HOUR;
  const rec = await runCli(['reconcile', '--no-env-file', '--from', new Date(firstHour).toISOString(), '--to', new Date(to).toISOString(), '--json'], runEnv);
  assert.equal(rec.code, 0, `${rec.stdout}\n${rec.stderr.slice(-2000)}`);
  const rows = JSON.parse(rec.stdout) as ReconcileRow[];
  assert.ok(rows.length >= 1);
  assert.deepEqual(
    rows.map((r) => r.status),
    rows.map(() => 'ok'),
  );
  assert.equal(
    rows.reduce((n, r) => n + r.mongo, 0),
    DOCS,
  );
}
