/**
 * Issue 16 item 3, `run --standby`, with real processes on one host (one spool directory):
 *  - a standby waits while the active `run` holds the lease (its log names the holder, /readyz
 *    answers 200 "standby: waiting for the lease held by …", cronlog_role says standby, it
 *    captures nothing, has no spool file open and seals nothing), `status` lists only the active
 *    owner; when the active one is SIGKILLed the standby takes over at once (same host, process
 *    gone) and captures and seals from then on; when the active one is SIGSTOPped past its lease the standby takes over after the lease expired, never before;
 *    either way every inserted `_id` ends up in exactly one delivered object;
 *  - two standbys and one active: after the active dies exactly one standby becomes active, the
 *    other keeps waiting (now for the new owner), and takes over once that one stops on SIGTERM
 *    (which releases the lease). SIGTERM while standby: standby-soak.test.ts.
 * The lease TTL is short (LEASE_TTL_SECONDS=5: renewed, and retried by standbys, every ~1.7 s).
 */
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ObjectId } from 'mongodb';
import { archiveEnv, waitFor } from '../helpers/archive-env.js';
import type { ArchiveEnv } from '../helpers/archive-env.js';
import { globObjects, idCounts } from '../helpers/archive-glob.js';
import { HOUR } from '../helpers/archive-keys.js';
import { runCli, startCli } from '../helpers/archiver-process.js';
import type { RunningCli } from '../helpers/archiver-process.js';
import { startTestMongo } from '../helpers/mongo.js';
import type { TestMongo } from '../helpers/mongo.js';
import { logLine, logLines, metricsUrlOf, readyz, scrapeRole, scrapeValue } from '../helpers/replicas.js';
import { readSpool } from '../helpers/spool-reader.js';

const TTL_SECONDS = 5;
const RENEWAL_MS = Math.floor((TTL_SECONDS * 1000) / 3);

let mongo: TestMongo;
before(async () => {
  mongo = await startTestMongo();
});
after(async () => {
  await mongo.close();
});

function replicaEnv(env: ArchiveEnv, extra: Record<string, string> = {}): Record<string, string> {
  return env.env({ METRICS_PORT: '0', LEASE_TTL_SECONDS: String(TTL_SECONDS), ...extra });
}

function startRun(env: ArchiveEnv, standby: boolean, extra: Record<string, string> = {}): RunningCli {
  return startCli(['run', '--no-env-file', ...(standby ? ['--standby'] : [])], replicaEnv(env, extra));
}

const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const HOST = escape(hostname());

/** The previous UTC hour (sealable at once with SEAL_GRACE_SECONDS=0). */
function previousHour(): number {
  return Math.floor(Date.now() / HOUR) * HOUR - HOUR;
}

/** Inserts `n` documents into `hour`; returns their `_id`s as the archive's JSON text. */
async function insert(env: ArchiveEnv, n: number, hour: number): Promise<string[]> {
  const docs = Array.from({ length: n }, (_, i) => ({ _id: new ObjectId(), createdAt: new Date(hour + ((i * 7919_000) % HOUR)), path: `/standby/${i}` }));
  await env.client.db(env.db).collection('apilogs').insertMany(docs);
  return docs.map((d) => JSON.stringify(d._id.toHexString()));
}

/** The `_id`s in the spool (open and sealed files) or already delivered, as the archive's JSON text; empty while a member is being written. */
async function spooledIds(env: ArchiveEnv): Promise<string[]> {
  try {
    const spooled = (await readSpool(env.spoolDirectory, `${env.db}.apilogs`)).map((s) => JSON.stringify(s.doc._id));
    return [...spooled, ...(await globObjects(env.archiveDirectory)).flatMap((o) => o.ids)];
  } catch {
    return [];
  }
}

/** The files under `dir` that process `pid` has open (/proc/<pid>/fd). */
async function openFilesUnder(pid: number, dir: string): Promise<string[]> {
  const fdDir = `/proc/${pid}/fd`;
  const out: string[] = [];
  for (const fd of await fs.readdir(fdDir)) {
    const target = await fs.readlink(join(fdDir, fd)).catch(() => '');
    if (target.startsWith(dir)) out.push(target);
  }
  return out;
}

interface Running {
  command: string;
  host: string;
  pid: number;
  epoch: number | null;
  since: string;
  leaseExpiresAt: string;
}

async function statusOwner(env: ArchiveEnv): Promise<Running | null> {
  const r = await runCli(['status', '--no-env-file', '--json'], replicaEnv(env));
  return (JSON.parse(r.stdout) as { running: Running | null }).running;
}

/** Seals every due hour with the CLI and checks that each `_id` is in exactly one delivered object, and nothing else is. */
async function sealAndCheck(env: ArchiveEnv, ids: readonly string[]): Promise<void> {
  const seal = await runCli(['seal', '--no-env-file', '--json'], replicaEnv(env));
  assert.equal(seal.code, 0, seal.stdout + seal.stderr);
  const report = JSON.parse(seal.stdout) as { reconciled: Array<{ hour: string; status: string }> };
  assert.ok(report.reconciled.every((r) => r.status === 'ok'), JSON.stringify(report.reconciled));
  const counts = idCounts(await globObjects(env.archiveDirectory, 'api-logs'));
  const lost = ids.filter((id) => !counts.has(id)).length;
  const duplicated = [...counts.values()].filter((n) => n > 1).length;
  assert.deepEqual({ lost, duplicated, archived: counts.size }, { lost: 0, duplicated: 0, archived: ids.length });
}

async function stop(run: RunningCli | undefined): Promise<void> {
  if (run && run.child.exitCode === null && run.child.signalCode === null) {
    run.child.kill('SIGKILL');
    await run.exited;
  }
}

/** The active owner, as `status` lists it, while it is `run` (pid `pid`) on this host. */
async function assertOwner(env: ArchiveEnv, pid: number | undefined): Promise<Running> {
  const owner = await statusOwner(env);
  assert.ok(owner, 'status lists an owner');
  assert.equal(owner.pid, pid);
  assert.equal(owner.host, hostname());
  assert.equal(owner.command, 'run');
  assert.ok(Date.parse(owner.leaseExpiresAt) > Date.parse(owner.since));
  return owner;
}

test('a standby waits while the active run holds the lease, then takes over at once when it is SIGKILLed', { timeout: 180_000 }, async () => {
  const env = await archiveEnv(mongo);
  const a = startRun(env, false);
  let b: RunningCli | undefined;
  try {
    const aUrl = await metricsUrlOf(a);
    await a.waitFor('archiver started', 60_000);
    // The standby's seal schedule fires every 2 s: it must not run while it waits.
    b = startRun(env, true, { SEAL_SCHEDULE: '*/2 * * * * *' });
    const bUrl = await metricsUrlOf(b);
    await b.waitFor('standby: waiting for the lease held by', 60_000);
    const waiting = logLine(b, 'standby: waiting for the lease held by');
    assert.match(waiting?.message ?? '', new RegExp(`held by "run" on ${HOST} \\(pid ${a.child.pid}, epoch \\d+\\) since \\d{4}-`));

    // While it waits: ready (so a rollout does not stall on it), saying so; role standby; it
    // captures nothing and holds no spool file open while the active one captures.
    const ready = await readyz(bUrl);
    assert.equal(ready.status, 200);
    assert.equal(ready.body.role, 'standby');
    assert.match(String(ready.body.standby), new RegExp(`^waiting for the lease held by "run" on ${HOST} \\(pid ${a.child.pid}, epoch \\d+\\)`));
    assert.equal((await fetch(`${bUrl}/healthz`)).status, 200);
    assert.deepEqual(await scrapeRole(bUrl), { active: 0, standby: 1 });
    assert.deepEqual(await scrapeRole(aUrl), { active: 1, standby: 0 });
    const hour = previousHour();
    const ids = await insert(env, 40, hour);
    await waitFor(async () => (await scrapeValue(aUrl, 'cronlog_events_captured_total')) >= 40, 30_000, 'the active run to capture');
    await waitFor(async () => new Set(await spooledIds(env)).size === ids.length, 30_000, 'the active run to flush its spool');
    await waitFor(async () => (await openFilesUnder(a.child.pid ?? 0, env.spoolDirectory)).length > 0, 10_000, 'the active run to hold its spool files open');
    assert.equal(await scrapeValue(bUrl, 'cronlog_events_captured_total'), 0, 'the standby captures nothing');
    assert.deepEqual(await openFilesUnder(b.child.pid ?? 0, env.spoolDirectory), [], 'the standby has no spool file open');
    assert.equal(logLine(b, 'archiver started'), undefined);
    await assertOwner(env, a.child.pid);
    await new Promise((r) => setTimeout(r, 4000));
    assert.deepEqual(await globObjects(env.archiveDirectory), [], 'the standby sealed nothing although an hour was due');

    const killedAt = Date.now();
    a.child.kill('SIGKILL');
    await a.exited;
    await b.waitFor('took over the lease from', 30_000);
    const took = logLine(b, 'took over the lease from');
    assert.match(took?.message ?? '', new RegExp(`^took over the lease from "run" on ${HOST} \\(pid ${a.child.pid}\\)`));
    assert.match(took?.message ?? '', /its process on this host had exited/);
    console.log(JSON.stringify({ standbyTakeover: { cause: 'SIGKILL', gapMs: Date.parse(took?.timestamp ?? '') - killedAt } }));
    await b.waitFor('archiver started', 30_000);
    assert.deepEqual(await scrapeRole(bUrl), { active: 1, standby: 0 });
    // Its schedule runs now (so nothing above was sealed only because it had not fired yet).
    await b.waitFor('seal run finished', 30_000);
    await waitFor(async () => (await readyz(bUrl)).status === 200 && (await readyz(bUrl)).body.role === undefined, 30_000, '/readyz of the new active owner');
    const owner = await assertOwner(env, b.child.pid);
    const text = await runCli(['status', '--no-env-file'], replicaEnv(env));
    assert.match(text.stdout, new RegExp(`^running +run on ${HOST} \\(pid ${b.child.pid}, epoch \\d+\\) since ${escape(owner.since)}, lease valid until \\d{4}-`, 'm'));

    ids.push(...(await insert(env, 40, hour)));
    await waitFor(async () => new Set(await spooledIds(env)).size === ids.length, 30_000, 'the new owner to capture');
    b.child.kill('SIGTERM');
    assert.equal((await b.exited).code, 0);
    await sealAndCheck(env, ids);
  } finally {
    await stop(a);
    await stop(b);
    await env.close();
  }
});

test('a standby takes over from a run frozen with SIGSTOP once its lease expired, never before', { timeout: 180_000 }, async () => {
  const env = await archiveEnv(mongo);
  const a = startRun(env, false);
  let b: RunningCli | undefined;
  try {
    await a.waitFor('archiver started', 60_000);
    b = startRun(env, true);
    const bUrl = await metricsUrlOf(b);
    await b.waitFor('standby: waiting for the lease held by', 60_000);
    const hour = previousHour();
    const ids = await insert(env, 30, hour);
    await waitFor(async () => new Set(await spooledIds(env)).size === ids.length, 30_000, 'the active run to capture');

    a.child.kill('SIGSTOP');
    const stoppedAt = Date.now();
    // The frozen holder's last expiry, as MongoDB has it (a renewal in flight may still land).
    const jobs = env.client.db(env.db).collection('jobs');
    let lastExpiry = 0;
    await waitFor(async () => {
      const lease = await jobs.findOne({ _id: `lease:${env.db}.apilogs` as never });
      if (lease?.pid === a.child.pid) lastExpiry = Math.max(lastExpiry, (lease?.expiresAt as Date).getTime());
      return logLine(b as RunningCli, 'took over the lease from') !== undefined;
    }, 60_000, 'the standby to take over');
    const took = logLine(b, 'took over the lease from');
    const tookAt = Date.parse(took?.timestamp ?? '');
    assert.match(took?.message ?? '', new RegExp(`^took over the lease from "run" on ${HOST} \\(pid ${a.child.pid}\\)`));
    assert.match(took?.message ?? '', /: the namespace had no owner for \d+\.\d s, since its lease expired at /);
    assert.ok(lastExpiry > 0 && tookAt >= lastExpiry, `taken over at ${new Date(tookAt).toISOString()}, not before the lease expired at ${new Date(lastExpiry).toISOString()}`);
    const gapMs = tookAt - stoppedAt;
    console.log(JSON.stringify({ standbyTakeover: { cause: 'SIGSTOP', gapMs, afterExpiryMs: tookAt - lastExpiry } }));
    assert.ok(gapMs < TTL_SECONDS * 1000 + RENEWAL_MS + 5000, `takeover ${gapMs} ms after the freeze: within the lease TTL + one renewal interval (+5 s of slack)`);

    await b.waitFor('archiver started', 30_000);
    assert.deepEqual(await scrapeRole(bUrl), { active: 1, standby: 0 });
    await assertOwner(env, b.child.pid);
    ids.push(...(await insert(env, 30, hour)));
    await waitFor(async () => new Set(await spooledIds(env)).size === ids.length, 30_000, 'the new owner to capture');
    // The frozen one stays frozen (what it does when it resumes is the fencing tests' part).
    assert.equal(a.child.exitCode, null);
    b.child.kill('SIGTERM');
    assert.equal((await b.exited).code, 0);
    a.child.kill('SIGKILL');
    await a.exited;
    await sealAndCheck(env, ids);
  } finally {
    await stop(a);
    await stop(b);
    await env.close();
  }
});

test('two standbys and one active: after the active dies exactly one standby takes over, the other keeps waiting, and takes over when the new owner stops', { timeout: 180_000 }, async () => {
  const env = await archiveEnv(mongo);
  const a = startRun(env, false);
  const standbys: RunningCli[] = [];
  try {
    await a.waitFor('archiver started', 60_000);
    standbys.push(startRun(env, true), startRun(env, true));
    const urls = await Promise.all(standbys.map((s) => metricsUrlOf(s)));
    await Promise.all(standbys.map((s) => s.waitFor('standby: waiting for the lease held by', 60_000)));
    const ids = await insert(env, 30, previousHour());
    await waitFor(async () => new Set(await spooledIds(env)).size === ids.length, 30_000, 'the active run to capture');

    a.child.kill('SIGKILL');
    await a.exited;
    await waitFor(() => standbys.some((s) => logLine(s, 'took over the lease from') !== undefined), 30_000, 'a standby to take over');
    const winner = standbys.findIndex((s) => logLine(s, 'took over the lease from') !== undefined);
    const w = standbys[winner] as RunningCli;
    const l = standbys[1 - winner] as RunningCli;
    const loserUrl = urls[1 - winner] as string;
    await w.waitFor('archiver started', 30_000);
    // The other one sees the new owner and keeps waiting for it, across several tries.
    await waitFor(
      () => logLines(l).filter((x) => x.message.includes('standby: waiting for the lease held by')).some((x) => x.message.includes(`(pid ${w.child.pid}, epoch `)),
      30_000,
      'the other standby to wait for the new owner',
    );
    await new Promise((r) => setTimeout(r, 3 * RENEWAL_MS));
    assert.equal(logLine(l, 'took over the lease from'), undefined, 'exactly one standby took over');
    assert.equal(logLine(l, 'archiver started'), undefined);
    assert.deepEqual(await scrapeRole(loserUrl), { active: 0, standby: 1 });
    assert.equal((await readyz(loserUrl)).body.role, 'standby');
    assert.deepEqual(await scrapeRole(urls[winner] as string), { active: 1, standby: 0 });
    await assertOwner(env, w.child.pid);

    // The owner stops cleanly (SIGTERM: it releases the lease): the one still waiting takes over at its next try.
    w.child.kill('SIGTERM');
    assert.equal((await w.exited).code, 0);
    await l.waitFor('took over the lease from', 30_000);
    const took = logLine(l, 'took over the lease from');
    assert.match(took?.message ?? '', new RegExp(`^took over the lease from "run" on ${HOST} \\(pid ${w.child.pid}\\).*: it released the lease$`));
    await l.waitFor('archiver started', 30_000);
    assert.deepEqual(await scrapeRole(loserUrl), { active: 1, standby: 0 });
    await assertOwner(env, l.child.pid);
    ids.push(...(await insert(env, 30, previousHour())));
    await waitFor(async () => new Set(await spooledIds(env)).size === ids.length, 30_000, 'the last owner to capture');
    l.child.kill('SIGTERM');
    assert.equal((await l.exited).code, 0);
    await sealAndCheck(env, ids);
  } finally {
    await stop(a);
    for (const s of standbys) await stop(s);
    await env.close();
  }
});
