/**
 * startup: how long a restarted `cron-log-service run` (compiled build, plain node, as an
 * installed package runs) takes from its spawn to the change stream open, and to its first
 * checkpoint, with a spool of 10 open hours.
 *
 * Set-up (untimed): the emulator in its own process; the command built as `npm run build` ships
 * it (bench/lib/compile.ts: bin/cron-log-service.js running the esbuild bundle of
 * scripts/bundle.ts, plain node, no tsx); a first `run` (S3 destination, whose endpoint is never contacted: no
 * hour is sealed, the schedule is once a year) captures documents spread over the current hour
 * and the 9 before it, then stops on SIGTERM: 10 open spool files with their facts sidecars and
 * the checkpoint listing them.
 *
 * Each paired run first inserts a backlog (documents of the same 10 hours, written while nothing
 * runs), then, in alternating order:
 * - figure: spawns `run` again and reads its log lines (JSON, stderr): "change stream open" (the
 *   first fetch of the resumed stream answered) and "first checkpoint since the stream opened
 *   saved" (the backlog durable in the spool and its checkpoint in `jobs`); then SIGTERM. The
 *   figure is the time from the spawn to the checkpoint line, as this process sees it (the line's
 *   own `processUptimeMs` is a detail). At the stream-open line the child's CPU time and RSS are
 *   read from /proc.
 * - baseline: spawns bench/children/startup-bare.ts: a bare driver process that connects, opens
 *   `watch()` at the cluster time taken before the backlog, reads it, and saves a token.
 * `node -e 0` (node's own start-up) is measured in each run as a detail.
 *
 * Target: both times ≤ 1 s (the checkpoint comes after the open, so the figure ≤ 1,000 ms checks
 * both; the open time is in the details).
 */
import { spawn } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { MongoClient } from 'mongodb';
import type { Db } from 'mongodb';
import { CheckpointStore } from '../src/ledger/checkpoints.js';
import { clusterTimeNow } from '../src/source/cluster-time.js';
import { spoolLayout } from '../src/spool/spool-files.js';
import type { Benchmark, BenchContext, BenchOutput, RunSample } from './lib/types.js';
import { HOUR, freshDir, uriWithDb } from './lib/common.js';
import { insertGenerated } from './lib/documents.js';
import { cpuSecondsOf, startEmulatorProcess } from './lib/emulator-process.js';

const DB = 'bench_startup';
const COLLECTION = 'apilogs';
const JOBS = 'jobs';
const HOURS = 10;
const OPEN_LINE = 'change stream open';
const CHECKPOINT_LINE = 'first checkpoint since the stream opened saved';

interface Spawned {
  /** ms from the spawn to each awaited line (as this process saw it arrive). */
  at: Record<string, number>;
  /** The line objects themselves. */
  lines: Record<string, Record<string, unknown>>;
  /** CPU ms and RSS MiB of the child when the first awaited line arrived. */
  cpuMsAtFirst: number;
  rssMiBAtFirst: number;
  stop(): Promise<number | null>;
}

async function rssMiBOf(pid: number): Promise<number> {
  try {
    const { readFile } = await import('node:fs/promises');
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(await readFile(`/proc/${pid}/status`, 'utf8'));
    return m?.[1] !== undefined ? Number(m[1]) / 1024 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

/**
 * Spawns `node args` and resolves once every line whose `message` is in `wait` arrived (JSON lines
 * on stdout or stderr), with the times; rejects when the child exits first or after 60 s.
 */
function spawnUntil(args: string[], options: { cwd: string; env: NodeJS.ProcessEnv }, wait: readonly string[]): Promise<Spawned> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, args, { cwd: options.cwd, env: options.env, stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    const at: Record<string, number> = {};
    const lines: Record<string, Record<string, unknown>> = {};
    let tail = '';
    let firstProbe: Promise<[number, number]> | undefined;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`timed out waiting for ${wait.filter((w) => at[w] === undefined).join(', ')}: ${tail.slice(-2000)}`));
    }, 60_000);
    const onLine = (text: string): void => {
      let obj: Record<string, unknown>;
      try {
        obj = JSON.parse(text) as Record<string, unknown>;
      } catch {
        return;
      }
      const message = obj.message;
      if (typeof message !== 'string' || !wait.includes(message) || at[message] !== undefined) return;
      at[message] = performance.now() - t0;
      lines[message] = obj;
      firstProbe ??= Promise.all([cpuSecondsOf(child.pid as number).catch(() => Number.NaN), rssMiBOf(child.pid as number)]);
      if (wait.every((w) => at[w] !== undefined)) {
        clearTimeout(timer);
        void firstProbe.then(([cpu, rss]) =>
          resolve({
            at,
            lines,
            cpuMsAtFirst: cpu * 1000,
            rssMiBAtFirst: rss,
            stop: async () => {
              if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
              return exited;
            },
          }),
        );
      }
    };
    const reader = (): ((d: Buffer) => void) => {
      let buf = '';
      return (d: Buffer) => {
        const s = d.toString();
        tail = (tail + s).slice(-4000);
        buf += s;
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          onLine(buf.slice(0, nl));
          buf = buf.slice(nl + 1);
        }
      };
    };
    child.stdout.on('data', reader());
    child.stderr.on('data', reader());
    child.once('error', reject);
    void exited.then((code) => {
      if (wait.some((w) => at[w] === undefined)) {
        clearTimeout(timer);
        reject(new Error(`the child exited (code ${String(code)}) before ${wait.filter((w) => at[w] === undefined).join(', ')}: ${tail.slice(-2000)}`));
      }
    });
  });
}

/** ms from spawning `node -e 0` to its exit. */
function nodeStartMs(): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, ['-e', '0'], { stdio: 'ignore' });
    child.once('error', reject);
    child.once('exit', () => resolve(performance.now() - t0));
  });
}

async function durableLines(db: Db): Promise<number> {
  const cp = await new CheckpointStore(db.collection(JOBS), `${DB}.${COLLECTION}`).load();
  return (cp?.spool.files ?? []).reduce((n, f) => n + f.lines, 0);
}

export const startupBenchmark: Benchmark = {
  name: 'startup',
  title: 'start-up of a restarted run with 10 open spool hours: spawn to first checkpoint',
  unit: 'ms',
  better: 'lower',
  figure: 'ms from spawning `cron-log-service run` (bin/ running the bundle of `npm run build`, plain node; spool of 10 open hours and a backlog) to its first checkpoint after the stream opened (details: to the change stream open)',
  baseline: 'ms from spawning a bare driver process (connect, watch() at a cluster time, read the same backlog, save a token) to its token saved',
  target: { text: '<= 1000 ms (stream open and first checkpoint)', checks: [{ on: 'figure', op: '<=', value: 1000 }] },
  async run(ctx: BenchContext): Promise<BenchOutput> {
    const perHour = ctx.profile === 'quick' ? 100 : 1_000;
    const backlog = ctx.profile === 'quick' ? 50 : 500;
    const emu = await startEmulatorProcess(ctx.cpuProfDir ? { cpuProfDir: ctx.cpuProfDir } : {});
    const client = new MongoClient(emu.uri);
    await client.connect();
    const samples: RunSample[] = [];
    const db = client.db(DB);
    const coll = db.collection(COLLECTION);
    try {
      const { compileForNode, compiledBin, compiledTree } = await import('./lib/compile.js'); // loads TypeScript: only when needed
      const compiled = await compiledTree();
      const cli = await compiledBin();
      const bare = await compileForNode('bench/children/startup-bare.ts');
      const spool = await freshDir(ctx.dir, 'spool');
      const env: NodeJS.ProcessEnv = {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        DB_URI: uriWithDb(emu.uri, DB),
        API_LOGS_COLLECTION: COLLECTION,
        JOBS_COLLECTION: JOBS,
        UPLOAD_PROVIDER: 's3',
        S3_BUCKET: 'bench-startup',
        S3_ENDPOINT: 'http://127.0.0.1:9',
        S3_FORCE_PATH_STYLE: 'true',
        AWS_ACCESS_KEY_ID: 'bench',
        AWS_SECRET_ACCESS_KEY: 'bench-secret',
        SPOOL_DIRECTORY: spool,
        SEAL_SCHEDULE: '0 0 1 1 *',
        LOG_FORMAT: 'json',
        LOG_LEVEL: 'info',
      };
      const runArgs = [...(ctx.cpuProfDir !== undefined ? ['--cpu-prof', '--cpu-prof-dir', ctx.cpuProfDir] : []), cli, 'run', '--no-env-file'];
      const now = Date.now();
      const lastHour = now - (now % HOUR);
      const firstHour = lastHour - (HOURS - 1) * HOUR;

      // The spool of 10 open hours: a first run captures them, then stops.
      ctx.log(`startup: building a spool of ${HOURS} open hours (${perHour} documents each)`);
      const first = await spawnUntil(runArgs, { cwd: compiled, env }, [OPEN_LINE]);
      for (let h = 0; h < HOURS; h++) {
        const from = firstHour + h * HOUR;
        await insertGenerated(coll, perHour, from, Math.min(from + HOUR, now), { seed: 10 + h, batch: 5_000 });
      }
      let expected = HOURS * perHour;
      const deadline = performance.now() + 120_000;
      while ((await durableLines(db)) < expected) {
        if (performance.now() > deadline) throw new Error('the first run did not checkpoint the spool in 120 s');
        await new Promise((r) => setTimeout(r, 100));
      }
      const firstExit = await first.stop();
      if (firstExit !== 0) throw new Error(`the first run exited with ${String(firstExit)}`);
      const openFiles = (await readdir(spoolLayout(spool, `${DB}.${COLLECTION}`).open)).filter((n) => n.endsWith('.ndjson.gz')).length;
      if (openFiles !== HOURS) throw new Error(`the first run left ${openFiles} open spool files, not ${HOURS}`);

      for (let i = 0; i < ctx.runs; i++) {
        const t = await clusterTimeNow(db);
        await insertGenerated(coll, backlog, firstHour, now, { seed: 100 + i });
        expected += backlog;
        let figure: Spawned | undefined;
        let baseline: Spawned | undefined;
        for (const side of i % 2 === 0 ? (['figure', 'baseline'] as const) : (['baseline', 'figure'] as const)) {
          if (side === 'figure') {
            figure = await spawnUntil(runArgs, { cwd: compiled, env }, [OPEN_LINE, CHECKPOINT_LINE]);
            const code = await figure.stop();
            if (code !== 0) throw new Error(`run exited with ${String(code)} on SIGTERM`);
            const lines = await durableLines(db);
            if (lines !== expected) throw new Error(`after the restart the checkpoint holds ${lines} lines, not ${expected}`);
          } else {
            const args = { uri: emu.uri, db: DB, collection: COLLECTION, jobs: 'bare_jobs', startAt: { t: t.getHighBitsUnsigned(), i: t.getLowBitsUnsigned() }, count: backlog };
            baseline = await spawnUntil([bare, JSON.stringify(args)], { cwd: compiled, env: { PATH: process.env.PATH } }, ['open', 'checkpoint']);
            await baseline.stop();
          }
        }
        const f = figure as Spawned;
        const b = baseline as Spawned;
        // A log line carries it in `meta` (the JSON log format); the bare child's line at the top.
        const uptime = (s: Spawned, line: string): number => {
          const l = s.lines[line];
          return Number((l?.meta as Record<string, unknown> | undefined)?.processUptimeMs ?? l?.processUptimeMs);
        };
        const sample: RunSample = {
          figure: f.at[CHECKPOINT_LINE] as number,
          baseline: b.at.checkpoint as number,
          details: {
            streamOpenMs: f.at[OPEN_LINE] as number,
            baselineStreamOpenMs: b.at.open as number,
            streamOpenUptimeMs: uptime(f, OPEN_LINE),
            checkpointUptimeMs: uptime(f, CHECKPOINT_LINE),
            baselineStreamOpenUptimeMs: uptime(b, 'open'),
            cpuMsAtStreamOpen: f.cpuMsAtFirst,
            baselineCpuMsAtStreamOpen: b.cpuMsAtFirst,
            rssMiBAtStreamOpen: f.rssMiBAtFirst,
            baselineRssMiBAtStreamOpen: b.rssMiBAtFirst,
            nodeStartMs: await nodeStartMs(),
          },
        };
        samples.push(sample);
        ctx.log(
          `startup: run ${i + 1}/${ctx.runs}: stream open ${Math.round(f.at[OPEN_LINE] as number)} ms, first checkpoint ${Math.round(sample.figure)} ms ` +
            `(cpu ${Math.round(f.cpuMsAtFirst)} ms, rss ${f.rssMiBAtFirst.toFixed(1)} MiB at open); bare driver: open ${Math.round(b.at.open as number)} ms, token saved ${Math.round(sample.baseline)} ms`,
        );
      }
    } finally {
      await client.close();
      await emu.close();
    }
    return {
      samples,
      sizes: { openHours: HOURS, documentsPerHour: perHour, backlogDocuments: backlog },
      notes: [
        'Times are from spawn() in the harness to the arrival of the child\'s log line (JSON on stderr); the *UptimeMs details are the child\'s own performance.now() in that line (from its process start). cpuMsAtStreamOpen / rssMiBAtStreamOpen: /proc of the child when the stream-open line arrived (CPU in 10 ms ticks).',
        'The destination is S3 with an endpoint that is never contacted (no hour is due: the seal schedule is once a year); the spool holds 10 open hours with facts sidecars, recovered from the checkpoint of a clean stop (SIGTERM).',
      ],
    };
  },
};
