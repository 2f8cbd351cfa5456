/**
 * Fault: split brain on one host (issue 16, DESIGN invariant 8). A `run` (A) captures while
 * documents are inserted continuously; it is frozen with SIGSTOP past its lease; a freshly
 * started `run` (B) takes the lease over (a new epoch) and the same spool directory; A is
 * resumed (SIGCONT) while the inserts go on. A must stop with exit code 3 naming B (host, pid,
 * epoch) without one of its bytes reaching a checkpoint or an object: every spool file decodes,
 * the checkpoint's cluster time never goes backwards, and once everything is sealed every `_id`
 * is in exactly one delivered object of its hour and `reconcile --deep` exits 0.
 *
 * Before the fix, A flushed its buffered lines at its old offsets into the files B appended to
 * (the hour stopped decoding: `incorrect header check`) and saved stale checkpoints.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { constants as zlib, gunzipSync } from 'node:zlib';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { Document, Timestamp } from 'mongodb';
import { archiveEnv, waitFor } from '../helpers/archive-env.js';
import type { ArchiveEnv } from '../helpers/archive-env.js';
import { HOUR, hourKey } from '../helpers/archive-keys.js';
import { cleanEnv, ROOT, runCli, startCli, stderrText } from '../helpers/archiver-process.js';
import type { RunningCli } from '../helpers/archiver-process.js';
import { readArchiveDir, readSpool } from '../helpers/spool-reader.js';
import { createDestination } from '../../src/deliver/index.js';
import { startFaultProxy } from '../helpers/fault-proxy.js';
import { s3EnvVars, s3Options, startTestS3 } from '../helpers/s3.js';

/** Renewed every second: on SIGCONT the overdue checkpoint timer (every 100 ms) usually fires first. */
const LEASE_TTL_SECONDS = 3;
const DOCS = 5000;

/**
 * The distinct `_id`s in the spool while processes write it: a file read in the middle of a
 * write ends in a partial member, so the complete members only are counted (the assertions
 * read the spool strictly once every writer has stopped).
 */
async function spooledIds(spoolDirectory: string, ns: string): Promise<Set<string>> {
  const ids = new Set<string>();
  for (const { text } of await spoolTexts(spoolDirectory, ns, zlib.Z_SYNC_FLUSH)) {
    for (const line of text?.split('\n') ?? []) {
      const m = /^\{"_id":"([0-9a-f]{24})"/.exec(line);
      if (m) ids.add(m[1]!);
    }
  }
  return ids;
}

/** Each spool file's text (gunzipped with `finishFlush`), or why it does not decode. */
async function spoolTexts(spoolDirectory: string, ns: string, finishFlush: number): Promise<Array<{ file: string; text?: string; error?: string }>> {
  const out: Array<{ file: string; text?: string; error?: string }> = [];
  for (const sub of ['open', 'sealed']) {
    const dir = join(spoolDirectory, ns, sub);
    for (const name of await readdir(dir).catch(() => [] as string[])) {
      if (!name.endsWith('.ndjson.gz')) continue;
      try {
        out.push({ file: `${sub}/${name}`, text: gunzipSync(await readFile(join(dir, name)), { finishFlush }).toString() });
      } catch (err) {
        out.push({ file: `${sub}/${name}`, error: (err as Error).message });
      }
    }
  }
  return out;
}

/** Samples the checkpoint's cluster time every few ms; `backwards` lists every step back. */
function watchCheckpoint(env: ArchiveEnv): { stop(): Promise<void>; samples: () => number; backwards: string[]; last: () => Timestamp | undefined } {
  const jobs = env.client.db(env.db).collection('jobs');
  const id = `capture:${env.db}.apilogs`;
  let last: Timestamp | undefined;
  let samples = 0;
  const backwards: string[] = [];
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const doc = (await jobs.findOne({ _id: id as never }).catch(() => null)) as Document | null;
      const p = doc?.position as { clusterTime?: Timestamp; startAtOperationTime?: Timestamp } | undefined;
      const t = p?.clusterTime ?? p?.startAtOperationTime;
      if (t) {
        samples++;
        if (last && t.comp(last) < 0) backwards.push(`${last.toString()} → ${t.toString()} (written by pid ${String(doc?.pid)})`);
        last = t;
      }
      await new Promise((r) => setTimeout(r, 5));
    }
  })();
  return {
    backwards,
    samples: () => samples,
    last: () => last,
    async stop() {
      stopped = true;
      await loop;
    },
  };
}

/**
 * Where A is frozen. `capture`: while it captures (lines in memory, a flush every 100 ms).
 * `seal`: both runs also seal every second (the hours are due at once), and A is frozen as
 * soon as one of its seal runs has moved a closed hour into sealed/, before that hour's
 * delivery is recorded and its file removed. `upload`: the same, delivering to S3 (s3rver)
 * through a fault proxy that holds A's first data upload for a few seconds and freezes A the
 * moment that request arrives.
 */
type Pause = 'capture' | 'seal' | 'upload';

interface Delivery {
  /** Environment variables of the destination. */
  vars: Record<string, string>;
  /** Every data object delivered, decoded. */
  objects(): Promise<Array<{ key: string; lines: string[] }>>;
  /** Called with A once it runs: arms the trap of the `upload` pause. */
  arm?(a: RunningCli): Promise<void>;
  close(): Promise<void>;
}

function fileDelivery(env: ArchiveEnv): Delivery {
  return { vars: {}, objects: () => readArchiveDir(env.archiveDirectory), close: async () => undefined };
}

async function s3Delivery(): Promise<Delivery> {
  const s3 = await startTestS3();
  const proxy = await startFaultProxy(s3.endpoint);
  const dest = createDestination({ kind: 's3', s3: s3Options(s3), retryAttempts: 0 });
  return {
    vars: s3EnvVars(s3, { S3_ENDPOINT: proxy.endpoint }),
    async objects() {
      const out: Array<{ key: string; lines: string[] }> = [];
      for await (const o of dest.list('api-logs/')) {
        if (!o.key.endsWith('.ndjson.gz')) continue;
        const chunks: Buffer[] = [];
        for await (const c of await dest.get(o.key)) chunks.push(Buffer.from(c as Buffer));
        out.push({ key: o.key, lines: gunzipSync(Buffer.concat(chunks)).toString().split('\n').filter((l) => l !== '') });
      }
      return out;
    },
    async arm(a) {
      let frozen!: () => void;
      let sprung = false;
      const trapped = new Promise<void>((r) => (frozen = r));
      proxy.rule({
        op: ['PutObject', 'CreateMultipartUpload'],
        times: 1,
        when: (r) => {
          if (sprung || r.key?.endsWith('.ndjson.gz') !== true) return false;
          // A is uploading: freeze it now, with the request held by the proxy.
          sprung = true;
          a.child.kill('SIGSTOP');
          frozen();
          return true;
        },
        fault: { type: 'stall', ms: 4000 },
      });
      await trapped;
    },
    async close() {
      await dest.close();
      await proxy.close();
      await s3.close();
    },
  };
}

/** Resolves once a spool file is in sealed/ (a seal run is between closing and recording an hour). */
async function sealInProgress(dir: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if ((await readdir(dir).catch(() => [] as string[])).some((n) => n.endsWith('.ndjson.gz'))) return;
    await new Promise((r) => setTimeout(r, 2));
  }
  throw new Error(`no seal run seen in ${dir}`);
}

/** `newOwner`: B is started once A is frozen (fresh), or waits as a standby from the start. */
async function splitBrain(env: ArchiveEnv, pause: Pause, delivery: Delivery, newOwner: 'fresh' | 'standby' = 'fresh'): Promise<void> {
  const vars = env.env({ LEASE_TTL_SECONDS: String(LEASE_TTL_SECONDS), ...(pause === 'capture' ? {} : { SEAL_SCHEDULE: '* * * * * *' }), ...delivery.vars });
  const ns = `${env.db}.apilogs`;
  const idsFile = join(env.dir, 'ids.txt');
  const watch = watchCheckpoint(env);
  let a: RunningCli | undefined;
  let b: RunningCli | undefined;
  try {
    a = startCli(['run', '--no-env-file'], vars);
    await a.waitFor('archiver started', 60_000);
    if (newOwner === 'standby') {
      b = startCli(['run', '--no-env-file', '--standby'], vars);
      await b.waitFor('standby: waiting for the lease', 60_000);
    }
    // createdAt in finished hours (1 to 3 hours ago): `seal` delivers them all at the end.
    const inserter = spawn(
      process.execPath,
      ['--import', 'tsx', 'scripts/insert-traffic.ts', '--uri', env.uri, '--count', String(DOCS), '--batch', '20', '--interval-ms', '10', '--hours', '3', '--until-hours-ago', '1', '--ids-out', idsFile],
      { cwd: ROOT, env: cleanEnv({}), stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const inserterDone = new Promise<number | null>((res) => inserter.on('close', res));
    await waitFor(async () => (await spooledIds(env.spoolDirectory, ns)).size >= 200, 30_000, 'A to capture under load');

    // A freezes (with lines in memory; in the middle of a seal run; of an upload), past its lease.
    if (pause === 'seal') await sealInProgress(join(env.spoolDirectory, ns, 'sealed'));
    if (pause === 'upload') await delivery.arm!(a);
    else a.child.kill('SIGSTOP');
    if (b === undefined) {
      await new Promise((r) => setTimeout(r, LEASE_TTL_SECONDS * 1000 + 1500));
      b = startCli(['run', '--no-env-file'], vars);
    }
    // A standby takes over by itself once A's lease expired.
    await b.waitFor('archiver started', 60_000);
    const lease = await env.client.db(env.db).collection('jobs').findOne({ _id: `lease:${ns}` as never });
    assert.equal(lease?.pid, b.child.pid, 'B holds the lease');
    const epochB = lease?.epoch as number;
    assert.ok(epochB >= 2, `B's epoch ${epochB}`);
    // B captures for a while, then A wakes up while the inserts go on.
    await new Promise((r) => setTimeout(r, 700));
    const beforeResume = watch.last();
    a.child.kill('SIGCONT');
    const resA = await Promise.race([a.exited, new Promise<undefined>((r) => setTimeout(() => r(undefined), 60_000))]);
    assert.ok(resA, 'A stopped after it resumed');
    assert.equal(resA.code, 3, `A exits 3:\n${resA.stderr.slice(-3000)}`);
    assert.match(stderrText(resA.stderr), new RegExp(`"run" on ${hostname()} \\(pid ${b.child.pid}, epoch ${epochB}\\) since `), 'A names the new owner');
    const afterResume = watch.last();
    assert.ok(beforeResume && afterResume && afterResume.comp(beforeResume) >= 0, `the checkpoint did not go back: ${String(beforeResume)} → ${String(afterResume)}`);

    assert.equal(await inserterDone, 0, 'the inserter finished');
    const acked = (await readFile(idsFile, 'utf8')).trim().split('\n').map((l) => l.split(' ') as [string, string]);
    assert.equal(acked.length, DOCS);
    // B catches up (or the spool stops growing: the checks below say what is wrong).
    let seen = -1;
    let quietSince = Date.now();
    await waitFor(
      async () => {
        const n = (await spooledIds(env.spoolDirectory, ns)).size;
        if (n !== seen) [seen, quietSince] = [n, Date.now()];
        return n >= DOCS || Date.now() - quietSince > 10_000;
      },
      90_000,
      'B to capture everything',
    );
    b.child.kill('SIGTERM');
    const resB = await b.exited;
    assert.equal(resB.code, 0, `B stops cleanly:\n${resB.stderr.slice(-3000)}`);
    await watch.stop();
    assert.ok(watch.samples() > 10);
    assert.deepEqual(watch.backwards, [], 'the checkpoint never went backwards');
    const cp = await env.client.db(env.db).collection('jobs').findOne({ _id: `capture:${ns}` as never });
    assert.equal(cp?.pid, b.child.pid, 'the checkpoint was written last by B');
    assert.equal(cp?.epoch, epochB);

    const undecodable = (await spoolTexts(env.spoolDirectory, ns, zlib.Z_FINISH)).filter((f) => f.error !== undefined);
    assert.deepEqual(undecodable, [], 'every spool file decodes');
    const spooled = await readSpool(env.spoolDirectory, ns);
    const counts = new Map<string, number>();
    for (const s of spooled) counts.set(String(s.doc._id), (counts.get(String(s.doc._id)) ?? 0) + 1);
    assert.deepEqual([...counts.values()].filter((n) => n !== 1), [], 'each _id once in the spool');

    // Seal everything, then check the archive.
    const seal = await runCli(['seal', '--no-env-file', '--json'], vars, { timeoutMs: 120_000 });
    assert.equal(seal.code, 0, seal.stdout + seal.stderr.slice(-3000));
    const objects = await delivery.objects();
    const where = new Map<string, string[]>();
    for (const o of objects) for (const l of o.lines) {
      const id = String((JSON.parse(l) as { _id: unknown })._id);
      where.set(id, [...(where.get(id) ?? []), o.key]);
    }
    const wrong = acked.filter(([id, at]) => {
      const keys = where.get(id) ?? [];
      const hour = Math.floor(Date.parse(at) / HOUR) * HOUR;
      return keys.length !== 1 || !keys[0]!.startsWith(hourKey(hour, { ext: '' }));
    });
    assert.deepEqual(wrong.slice(0, 5), [], `${wrong.length} _id(s) not in exactly one object of their hour`);
    assert.equal(where.size, DOCS, 'nothing else archived');
    const times = acked.map(([, at]) => Date.parse(at));
    const from = new Date(Math.floor(Math.min(...times) / HOUR) * HOUR).toISOString();
    const to = new Date(Math.floor(Math.max(...times) / HOUR) * HOUR + HOUR).toISOString();
    const rec = await runCli(['reconcile', '--no-env-file', '--from', from, '--to', to, '--deep', '--json'], vars, { timeoutMs: 120_000 });
    assert.equal(rec.code, 0, rec.stdout + rec.stderr.slice(-3000));
  } finally {
    await watch.stop();
    for (const p of [a, b]) {
      if (p && p.child.exitCode === null && p.child.signalCode === null) {
        p.child.kill('SIGCONT');
        p.child.kill('SIGKILL');
        await p.exited;
      }
    }
  }
}

test('split brain on one host: a run frozen past its lease, a new run takes over, the first resumes: it exits 3 and none of its bytes reach a checkpoint or an object', { timeout: 300_000 }, async () => {
  const env = await archiveEnv();
  try {
    await splitBrain(env, 'capture', fileDelivery(env));
  } finally {
    await env.close();
  }
});

test('split brain with the pause during a seal run: the stale run records and removes nothing; every hour is delivered once', { timeout: 300_000 }, async () => {
  const env = await archiveEnv();
  try {
    await splitBrain(env, 'seal', fileDelivery(env));
  } finally {
    await env.close();
  }
});

test('split brain with the pause during an upload to S3: the held upload may land, but only with bytes its owner checkpointed; every hour is delivered once', { timeout: 300_000 }, async () => {
  const env = await archiveEnv();
  const delivery = await s3Delivery();
  try {
    await splitBrain(env, 'upload', delivery);
  } finally {
    await delivery.close();
    await env.close();
  }
});

test('split brain with a standby: A frozen past its lease, the standby takes over by itself, A resumes: it exits 3 and none of its bytes reach a checkpoint or an object', { timeout: 300_000 }, async () => {
  const env = await archiveEnv();
  try {
    await splitBrain(env, 'capture', fileDelivery(env), 'standby');
  } finally {
    await env.close();
  }
});
