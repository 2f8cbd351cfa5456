/**
 * The benchmark harness: runs each benchmark (default 3 paired runs: the figure and its baseline
 * back to back, on this machine, in this run) and prints one JSON object (`--json`) or a table.
 *
 *   npm run bench -- [--json] [--quick | --full] [--only spool,capture] [--runs N] [--hour-size 1m] [--cpu-prof DIR]
 *
 *   --quick      tiny sizes, seconds (what test/bench/bench-quick.test.ts runs)
 *   --full       the sizes of the issue where the default ones are reduced to fit ~6 minutes
 *                (reconcile: a day of 1,000,000 documents instead of 500,000)
 *   --only       comma-separated benchmark names: spool, capture, ceiling, latency, memory, deliver,
 *                reconcile, backfill, restore, purge, startup, scale; and the opt-in ones, run only when
 *                named here: memory-catchup
 *   --hour-size  the largest hour a size-aware benchmark builds: 100k, 1m or 10m documents
 *                (case-insensitive; default: each benchmark's own). memory: its big hour; scale measures 10k, 100k, ... up to it.
 *   --runs N     paired runs per benchmark (default 3, or the benchmark's own `defaultRuns`: memory 2, deliver 5; 1 with --quick)
 *   --cpu-prof D child processes (the emulator, the memory benchmark's archiver) write V8 CPU
 *                profiles to D; profile this process with `node --cpu-prof --import tsx bench/run.ts`.
 *                Summarize a profile with `node --import tsx bench/profile-summary.ts FILE`.
 *
 * Progress goes to stderr; stdout carries only the JSON (or the table) — npm itself prints a
 * "> cron-log-service@… bench" banner on stdout, so pipe `npm run -s bench -- --json` (or
 * `node --import tsx bench/run.ts --json`). The exit code is 1 when a benchmark failed to run (not
 * when a target is missed). SIGTERM, SIGINT or SIGHUP stop every child process the benchmarks
 * started (lib/stop-children.ts), then the harness exits 128 + the signal. What each benchmark
 * measures and the latest results: docs/performance.md.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, freemem, loadavg, tmpdir, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { buildReport, renderTable } from './lib/report.js';
import type { Benchmark, BenchmarkReport, SizeProfile } from './lib/types.js';
import { backfillBenchmark } from './backfill.js';
import { captureBenchmark } from './capture.js';
import { ceilingBenchmark } from './ceiling.js';
import { deliverBenchmark } from './deliver.js';
import { latencyBenchmark } from './latency.js';
import { parseHourSize } from './lib/hour-size.js';
import { memoryCatchupBenchmark } from './memory-catchup.js';
import { memoryBenchmark } from './memory.js';
import { purgeBenchmark } from './purge.js';
import { reconcileBenchmark } from './reconcile.js';
import { restoreBenchmark } from './restore.js';
import { scaleBenchmark } from './scale.js';
import { spoolBenchmark } from './spool.js';
import { startupBenchmark } from './startup.js';
import { stopChildrenOnSignals } from './lib/stop-children.js';

const ALL: Benchmark[] = [
  spoolBenchmark,
  captureBenchmark,
  ceilingBenchmark,
  latencyBenchmark,
  memoryBenchmark,
  deliverBenchmark,
  reconcileBenchmark,
  backfillBenchmark,
  restoreBenchmark,
  purgeBenchmark,
  startupBenchmark,
  scaleBenchmark,
  memoryCatchupBenchmark,
];

function usage(message: string): never {
  process.stderr.write(`bench: ${message}\nusage: npm run bench -- [--json] [--quick|--full] [--only ${ALL.map((b) => b.name).join(',')}] [--runs N] [--hour-size 100k|1m|10m] [--cpu-prof DIR]\n`);
  process.exit(2);
}

// A SIGTERM, SIGINT or SIGHUP stops the emulators, s3rvers and archivers the benchmarks started.
stopChildrenOnSignals();

let parsed;
try {
  parsed = parseArgs({
    options: {
      json: { type: 'boolean', default: false },
      quick: { type: 'boolean', default: false },
      full: { type: 'boolean', default: false },
      only: { type: 'string' },
      runs: { type: 'string' },
      'hour-size': { type: 'string' },
      'cpu-prof': { type: 'string' },
    },
    strict: true,
    allowPositionals: false,
  });
} catch (err) {
  usage((err as Error).message);
}
const opts = parsed.values;
if (opts.quick && opts.full) usage('--quick and --full exclude each other');
const profile: SizeProfile = opts.quick ? 'quick' : opts.full ? 'full' : 'default';
const runsGiven = opts.runs !== undefined ? Number(opts.runs) : undefined;
if (runsGiven !== undefined && (!Number.isInteger(runsGiven) || runsGiven < 1 || runsGiven > 50)) usage(`--runs expects an integer 1-50, got ${String(opts.runs)}`);
/** Paired runs of `b`: --runs, else 1 with --quick, else the benchmark's own default, else 3. */
const runsOf = (b: Benchmark): number => runsGiven ?? (profile === 'quick' ? 1 : (b.defaultRuns ?? 3));
const names = opts.only?.split(',').map((s) => s.trim()).filter(Boolean);
const unknown = names?.filter((n) => !ALL.some((b) => b.name === n)) ?? [];
if (unknown.length > 0) usage(`unknown benchmark ${unknown.join(', ')}`);
const selected = names ? ALL.filter((b) => names.includes(b.name)) : ALL.filter((b) => b.optIn !== true);
let hourSize: number | undefined;
try {
  hourSize = opts['hour-size'] === undefined ? undefined : parseHourSize(opts['hour-size']);
} catch (err) {
  usage((err as Error).message);
}
const cpuProfDir = opts['cpu-prof'] !== undefined ? resolve(opts['cpu-prof']) : undefined;

const cpu = cpus();
const started = new Date();
const load0 = loadavg();
const t0 = performance.now();
const log = (m: string): void => void process.stderr.write(`[bench ${((performance.now() - t0) / 1000).toFixed(1)}s] ${m}\n`);

const reports: BenchmarkReport[] = [];
let failed = false;
for (const b of selected) {
  const dir = await mkdtemp(join(tmpdir(), `cls-bench-${b.name}-`));
  const bt = performance.now();
  const runs = runsOf(b);
  log(`${b.name}: start (${profile}, ${runs} run${runs === 1 ? '' : 's'})`);
  try {
    const out = await b.run({ runs, profile, dir, cpuProfDir, log, hourSize });
    const report = buildReport(b, out, (performance.now() - bt) / 1000);
    reports.push(report);
    log(`${b.name}: ${report.figure} vs ${report.baseline} ${b.unit}, ratio ${report.ratio}, target ${report.target.met ? 'met' : 'missed'} (${report.seconds}s)`);
  } catch (err) {
    failed = true;
    log(`${b.name}: FAILED: ${(err as Error).stack ?? String(err)}`);
    reports.push({
      ...buildReport(b, { samples: [], sizes: {} }, (performance.now() - bt) / 1000),
      error: (err as Error).message,
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const result = {
  harness: 'cron-log-service benchmarks',
  startedAt: started.toISOString(),
  seconds: Math.round((performance.now() - t0) / 100) / 10,
  machine: {
    cores: cpu.length,
    cpuModel: cpu[0]?.model.trim() ?? 'unknown',
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    memoryMiB: Math.round(totalmem() / 2 ** 20),
    freeMemoryMiB: Math.round(freemem() / 2 ** 20),
    loadAverage: { start: load0.map((v) => Math.round(v * 100) / 100), end: loadavg().map((v) => Math.round(v * 100) / 100) },
  },
  options: { profile, runs: runsGiven ?? (profile === 'quick' ? 1 : 'default'), only: selected.map((b) => b.name), ...(hourSize !== undefined ? { hourSize } : {}) },
  sizes: Object.fromEntries(reports.map((r) => [r.name, r.sizes])),
  summary: {
    met: reports.filter((r) => r.error === undefined && r.target.met).map((r) => r.name),
    missed: reports.filter((r) => r.error === undefined && !r.target.met).map((r) => r.name),
    failed: reports.filter((r) => r.error !== undefined).map((r) => r.name),
  },
  benchmarks: Object.fromEntries(reports.map((r) => [r.name, r])),
};

if (opts.json) {
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
} else {
  const m = result.machine;
  process.stdout.write(
    `cron-log-service benchmarks — ${m.cores} cores, ${m.cpuModel}, Node ${m.node}, load ${m.loadAverage.start.join(' ')}; ` +
      `${profile} sizes, ${runsGiven ?? (profile === 'quick' ? 1 : 'default')} run(s) each, ${result.seconds}s\n\n${renderTable(reports)}\n`,
  );
}
process.exitCode = failed ? 1 : 0;
