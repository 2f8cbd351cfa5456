/**
 * memory: peak RSS of `cron-log-service run` (the compiled build, plain node) while it captures a
 * steady 3,000 inserts/s and seals a big previous hour, against the same with a 100,000-document
 * previous hour. Issue 21 item 2: memory must not grow with the hour.
 *
 * Set-up, once per size (the previous wall-clock hour, so that the reconcile after the seal
 * compares it with MongoDB): the hour's documents are generated in batches of 10,000, inserted
 * into the emulator (its own process, like a mongod next to the archiver) and appended to a spool
 * file with the Spool class, as the tailer writes it (gzip members, facts sidecar, closed with its
 * closing record): the file a `run` process leaves in sealed/ when it closes a finished hour.
 *
 * Each run: the command line runs compiled to JavaScript (bench/lib/compile.ts,
 * bench/children/run-cli.ts: what `npm run build` ships) with `run --config` (S3 destination on
 * s3rver in its own process, 8 MiB parts, queue 4; a seal run every 2 seconds; a fresh spool
 * directory; its own jobs and logs collections). Once its change stream is open, this process
 * inserts 3,000 documents/s of the current hour (a batch every 50 ms). After 2 s of capture, the
 * big hour's file appears in sealed/ (hard links: sidecar first, then the file), as when `run`
 * closes a finished hour; the next seal run checks it from its facts, uploads it, writes its
 * manifest and reconciles it (MongoDB's count of the hour must equal the archive's). Capture goes
 * on for 1 more second; the inserts stop; once the child's checkpoint covers every live document,
 * SIGTERM (a clean stop). The child samples its own `process.memoryUsage()` every 50 ms (heap,
 * external, arrayBuffers, rss) and reports its kernel peak RSS (maxRSS, VmHWM); every live
 * document must have been captured.
 *
 * Figure: peak RSS (MiB) with the big hour (default 1,000,000 documents; `--hour-size 10m` for
 * the 10,000,000 of the issue). Baseline: the same with a 100,000-document hour. Target: figure
 * <= 160 MiB and ratio <= 1.15.
 */
import { spawn } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import { copyFile, link, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MongoClient, ObjectId } from 'mongodb';
import type { Db, Document } from 'mongodb';
import { apiLog, apiLogsBetween, rng } from '@cron-log-service/mongo-emulator/traffic';
import { CheckpointStore } from '../src/ledger/checkpoints.js';
import { Spool } from '../src/spool/spool.js';
import { spoolFileName, spoolLayout } from '../src/spool/spool-files.js';
import { lineEncoder } from '../src/spool/json-lines.js';
import { factsPath } from '../src/spool/facts-file.js';
import type { Benchmark, BenchContext, BenchOutput, RunSample } from './lib/types.js';
import { HOUR, freshDir, sleep, uriWithDb } from './lib/common.js';
import { startEmulatorProcess } from './lib/emulator-process.js';
import { warmIndexKeys } from './lib/hour-stream.js';
import { startS3rver } from './lib/s3rver-process.js';
import { RUN_ENV, RUN_NODE_FLAGS } from './lib/run-settings.js';
import type { S3Info } from './lib/s3rver-process.js';

const DB = 'bench_memory';
const RATE = 3000;
const BATCH_MS = 50;
/** A seal run every 2 seconds; the big hour's file appears in sealed/ after CAPTURE_FIRST_MS of capture. */
const SEAL_SCHEDULE = '*/2 * * * * *';
const CAPTURE_FIRST_MS = 2000;
/** Capture goes on this long after the big hour's reconcile, before the inserts stop. */
const AFTER_SEAL_MS = 1000;
const PART_MIB = 8;
/** Oplog entries of the emulator per document of the big hour (at least 200,000): see run(). */
const OPLOG_PER_HOUR_DOCUMENT = 0.3;
/** What `run` logs when its resume point fell off the oplog (src/source/tailer.ts). */
const HISTORY_LOST = 'change stream history lost';
const QUEUE = 4;

interface BuiltHour {
  name: 'small' | 'large';
  count: number;
  collection: string;
  hour: number;
  path: string;
  fileName: string;
  bytes: number;
}

/**
 * Inserts `count` documents of `hour` into `db.collection` and writes the same documents, as the
 * tailer would, to a spool file closed as a finished hour (facts sidecar with its closing record).
 */
async function buildHour(db: Db, dir: string, name: 'small' | 'large', count: number, hour: number, log: (m: string) => void): Promise<BuiltHour> {
  const collection = `apilogs_${name}`;
  const coll = db.collection(collection);
  // An index on the timestamp, as a deployment's API-log collection has: without one, `run`'s
  // first query of the current hour scans the whole collection in one batch (at 3,000,000
  // documents the emulator then answers nothing else for longer than the driver's monitor
  // timeout, and the run fails with PoolClearedOnNetworkError).
  await coll.createIndex({ createdAt: 1 });
  const spool = new Spool({ layout: spoolLayout(dir, `build-${name}`), gzipLevel: 6, timestampField: 'createdAt' });
  await spool.open(undefined);
  const encode = lineEncoder('analytics');
  const id = { hour, part: 1 };
  const r = rng(name === 'small' ? 21 : 22);
  const t0 = performance.now();
  // One batch in flight while the next is generated and spooled (this process and the emulator's work overlap).
  let inserted: Promise<unknown> = Promise.resolve();
  for (let i = 0; i < count; i += 10_000) {
    const docs = apiLogsBetween(r, Math.min(10_000, count - i), hour, hour + HOUR);
    // `_id`s of their createdAt time, as live inserts of the hour get: ObjectIds made by the
    // driver now would put the whole big hour in the current hour's `_id` range, which `run`'s
    // first-hour query then reads (over 10 minutes at 3M documents in the emulator).
    for (const doc of docs) (doc as Document)._id = new ObjectId(ObjectId.generate(Math.floor(doc.createdAt.getTime() / 1000)));
    await inserted;
    inserted = coll.insertMany(docs, { ordered: false });
    for (const doc of docs) spool.append(id, encode(doc));
    if (spool.pendingBytes >= 8 * 1024 * 1024) await spool.flush();
    if ((i / 10_000) % 50 === 49) log(`memory: ${i + 10_000} of ${count} documents (${Math.round((i + 10_000) / ((performance.now() - t0) / 1000))}/s)`);
  }
  await inserted;
  await spool.flush();
  await warmIndexKeys(coll, hour);
  const state = await spool.detach(id);
  await spool.close();
  const fileName = spoolFileName(id);
  return { name, count, collection, hour, path: join(spool.layout.open, fileName), fileName, bytes: state?.offset ?? 0 };
}

/** Hard link (or copy, across file systems) of `from` at `to`. */
async function place(from: string, to: string): Promise<void> {
  await link(from, to).catch(() => copyFile(from, to));
}

/** Inserts RATE documents/s of the current time into `coll` until `stop()`; resolves with the count. */
function offerLoad(db: Db, collection: string, seed: number): { stop(): Promise<number> } {
  const coll = db.collection(collection);
  const r = rng(seed);
  let stopped = false;
  let sent = 0;
  const t0 = performance.now();
  const loop = (async () => {
    while (!stopped) {
      await sleep(BATCH_MS);
      const due = Math.round(((performance.now() - t0) / 1000) * RATE);
      if (due <= sent) continue;
      const docs: Document[] = [];
      for (let i = sent; i < due; i++) docs.push(apiLog(r, new Date()));
      await coll.insertMany(docs);
      sent = due;
    }
    return sent;
  })();
  return {
    stop() {
      stopped = true;
      return loop;
    },
  };
}

interface MemoryReport {
  sampleMs: number;
  /** Rows of Date.now(), rss, heapTotal, heapUsed, external, arrayBuffers (MiB). */
  samples: number[];
  maxRssMiB: number;
  vmHWMMiB: number;
  cpuSeconds: number;
}

interface RunResult {
  cpuSeconds: number;
  maxRssMiB: number;
  vmHWMMiB: number;
  /** Peaks of the sampled process.memoryUsage() fields (MiB), over the whole run. */
  peak: Record<'rss' | 'heapTotal' | 'heapUsed' | 'external' | 'arrayBuffers', number>;
  /** The same peaks before the seal run of the big hour began, and during it (to the reconcile's end). */
  peakBeforeSeal: Record<'rss' | 'heapUsed' | 'external' | 'arrayBuffers', number>;
  peakDuringSeal: Record<'rss' | 'heapUsed' | 'external' | 'arrayBuffers', number>;
  sealSeconds: number;
  runSeconds: number;
  liveInserted: number;
  liveCaptured: number;
}

const FIELDS = ['rss', 'heapTotal', 'heapUsed', 'external', 'arrayBuffers'] as const;

function peaks(report: MemoryReport, from = -Infinity, to = Infinity): Record<(typeof FIELDS)[number], number> {
  const out = { rss: 0, heapTotal: 0, heapUsed: 0, external: 0, arrayBuffers: 0 };
  for (let i = 0; i < report.samples.length; i += 6) {
    const t = report.samples[i] as number;
    if (t < from || t > to) continue;
    FIELDS.forEach((f, k) => (out[f] = Math.max(out[f], report.samples[i + 1 + k] as number)));
  }
  return out;
}

function pick(p: Record<(typeof FIELDS)[number], number>): Record<'rss' | 'heapUsed' | 'external' | 'arrayBuffers', number> {
  return { rss: p.rss, heapUsed: p.heapUsed, external: p.external, arrayBuffers: p.arrayBuffers };
}

/** One `run` process sealing `hour` while capturing the live load; its memory figures. */
async function runOnce(opts: { quick: boolean; child: string; uri: string; s3: S3Info; hour: BuiltHour; dir: string; tag: string; seed: number; client: MongoClient; log: (m: string) => void }): Promise<RunResult> {
  const { hour, dir, tag } = opts;
  const jobs = `jobs_${tag}`;
  const logs = `logs_${tag}`;
  const spoolDirectory = join(dir, 'spool');
  const sealed = spoolLayout(spoolDirectory, `${DB}.${hour.collection}`).sealed;
  await mkdir(sealed, { recursive: true });
  const configPath = join(dir, 'config.json');
  await writeFile(
    configPath,
    JSON.stringify({
      dbUri: uriWithDb(opts.uri, DB),
      uploadProvider: 's3',
      outputDirectory: tag,
      s3: {
        bucket: opts.s3.bucket,
        region: opts.s3.region,
        endpoint: opts.s3.endpoint,
        forcePathStyle: true,
        accessKeyId: opts.s3.accessKeyId,
        secretAccessKey: opts.s3.secretAccessKey,
        partSizeMB: PART_MIB,
        queueSize: QUEUE,
      },
      spoolDirectory,
      sealSchedule: SEAL_SCHEDULE,
      collections: { apiLogsCollectionName: hour.collection, jobsCollectionName: jobs, logsCollectionName: logs },
      logging: { level: 'info', format: 'json', enableConsole: true },
    }),
  );
  // The live documents of earlier runs (after the big hour) are deleted: each run's first start
  // would query them into its open file (its first-hour query), a load that grows run after run.
  // Those left (none but across an hour's turn) are counted: the drain below waits for them too.
  const liveColl = opts.client.db(DB).collection(hour.collection);
  await liveColl.deleteMany({ createdAt: { $gte: new Date(hour.hour + HOUR) } });
  const liveHour = Math.floor(Date.now() / HOUR) * HOUR;
  const earlierLive = await liveColl.countDocuments({ createdAt: { $gte: new Date(liveHour) } });
  const reportPath = join(dir, 'memory.json');
  // BENCH_MEMORY_CHILD_FLAGS: the node/V8 flags of the `run` child instead of RUN_NODE_FLAGS
  // (e.g. "" for none, or --trace-gc); its environment has RUN_ENV unless BENCH_MEMORY_CHILD_ENV=none.
  const extra = (process.env.BENCH_MEMORY_CHILD_FLAGS ?? RUN_NODE_FLAGS.join(' ')).split(' ').filter(Boolean);
  const child = spawn(process.execPath, [...extra, opts.child, 'run', '--config', configPath, '--no-env-file'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...(process.env.BENCH_MEMORY_CHILD_ENV === 'none' ? {} : RUN_ENV), BENCH_MEMORY_REPORT: reportPath },
  });
  let err = '';
  let started!: () => void;
  const streamOpen = new Promise<void>((resolve) => (started = resolve));
  let stoppedLine: { meta?: { captured?: number } } | undefined;
  // A gap repair (history lost: capture fell behind by more than the oplog holds) would make the
  // figure a repair's, not the seal's: the run fails then (see the oplog size in run()).
  let repaired = false;
  // BENCH_MEMORY_KEEP=<dir>: the child's log goes there as it comes (kept when the run fails too).
  const keepDir = process.env.BENCH_MEMORY_KEEP;
  if (keepDir) mkdirSync(keepDir, { recursive: true });
  const keepLog = keepDir ? createWriteStream(join(keepDir, `${tag}-stderr.log`)) : undefined;
  child.stderr.on('data', (d: Buffer) => {
    keepLog?.write(d);
    err += d.toString();
    if (err.includes('"archiver started"')) started();
    if (err.includes(HISTORY_LOST)) repaired = true;
    if (err.length > 1_000_000) err = err.slice(-200_000);
  });
  child.stdout.resume();
  const exited = new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve(code));
  });
  const failed = exited.then((code) => {
    throw new Error(`the run child exited early (${String(code)}): ${err.slice(-2000)}`);
  });
  failed.catch(() => undefined);
  const t0 = Date.now();
  let openTimer: NodeJS.Timeout | undefined;
  const openTimeout = new Promise<never>((_, reject) => (openTimer = setTimeout(() => reject(new Error(`the run child did not open its change stream within 10 minutes: ${err.slice(-2000)}`)), 10 * 60_000)));
  try {
    await Promise.race([streamOpen, failed, openTimeout]);
  } catch (e) {
    child.kill('SIGKILL');
    throw e;
  } finally {
    clearTimeout(openTimer);
  }
  opts.log(`memory: ${tag}: change stream open after ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  const db = opts.client.db(DB);
  const load = offerLoad(db, hour.collection, opts.seed);
  let liveInserted = 0;
  try {
    // Capture alone first; then the closed hour appears in sealed/ (its sidecar first, the file
    // by an atomic link), as when `run` closes a finished hour, and the next seal run takes it.
    await Promise.race([sleep(opts.quick ? 1000 : CAPTURE_FIRST_MS), failed]);
    await place(factsPath(hour.path), factsPath(join(sealed, hour.fileName)));
    await place(hour.path, join(sealed, hour.fileName));
    const deadline = Date.now() + 30 * 60_000;
    let reconciled: Document | null = null;
    while (reconciled === null) {
      if (Date.now() > deadline) throw new Error('the big hour was not reconciled within 30 minutes');
      await Promise.race([sleep(200), failed]);
      reconciled = await db.collection(logs).findOne({ op: 'reconcile', hourStart: new Date(hour.hour) });
    }
    opts.log(`memory: ${tag}: hour reconciled after ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    const details = reconciled.details as { mongo?: number; archived?: number } | undefined;
    if (reconciled.outcome !== 'ok' || details?.mongo !== hour.count || details.archived !== hour.count) {
      throw new Error(`the reconcile of the big hour did not pass: ${JSON.stringify(reconciled)}`);
    }
    await Promise.race([sleep(opts.quick ? 500 : AFTER_SEAL_MS), failed]);
  } finally {
    liveInserted = await load.stop();
    // Capture drains what was inserted (its checkpoint covers every live document, this run's and
    // the earlier runs' of the current hour, or a minute passed); then a clean stop (flush,
    // checkpoint). (While the emulator counts the big hour for the reconcile, its event loop
    // stalls and capture falls behind: the drain takes that up.)
    const checkpoints = new CheckpointStore(db.collection(jobs), `${DB}.${hour.collection}`);
    const drainDeadline = Date.now() + 60_000;
    while (Date.now() < drainDeadline && child.exitCode === null) {
      const cp = await checkpoints.load().catch(() => undefined);
      if ((cp?.spool.files ?? []).reduce((n, f) => n + f.lines, 0) >= earlierLive + liveInserted) break;
      await sleep(100);
    }
    child.kill('SIGTERM');
  }
  const code = await exited;
  keepLog?.end();
  const runSeconds = (Date.now() - t0) / 1000;
  if (code !== 0) throw new Error(`the run child exited with ${String(code)}: ${err.slice(-2000)}`);
  if (repaired) throw new Error(`capture fell behind by more than the emulator's oplog holds and repaired the gap from a query: this run measured a gap repair, not the seal (raise OPLOG_PER_HOUR_DOCUMENT)`);
  for (const line of err.split('\n')) {
    if (line.includes('"stopped"')) {
      try {
        stoppedLine = JSON.parse(line) as { meta?: { captured?: number } };
      } catch {
        // not a JSON log line
      }
    }
  }
  // No "stopped" line: `run` did not finish its clean stop within SHUTDOWN_GRACE_MS and exited
  // without it (capture still behind when the drain gave up), so its count is unknown.
  if (stoppedLine?.meta?.captured === undefined) throw new Error(`the run child exited (${String(code)}) without its "stopped" line (capture count unknown; a stop past SHUTDOWN_GRACE_MS?): ${err.slice(-2000)}`);
  const liveCaptured = Number(stoppedLine.meta.captured);
  if (liveCaptured !== liveInserted) throw new Error(`the run child captured ${liveCaptured} of the ${liveInserted} documents inserted while it ran`);
  const ops = await db.collection(logs).find({ hourStart: new Date(hour.hour), op: { $in: ['seal', 'deliver', 'reconcile'] } }).toArray();
  const seal = ops.find((o) => o.op === 'seal');
  const rec = ops.find((o) => o.op === 'reconcile');
  if (!seal || !rec) throw new Error('no seal or reconcile record of the big hour');
  const sealStart = (seal.at as Date).getTime() - Number(seal.durationMs);
  const sealEnd = (rec.at as Date).getTime();
  const report = JSON.parse(await readFile(reportPath, 'utf8')) as MemoryReport;
  // BENCH_MEMORY_KEEP=<dir>: keeps each run's samples and its ledger records there (investigations).
  const keep = process.env.BENCH_MEMORY_KEEP;
  if (keep) {
    await mkdir(keep, { recursive: true });
    await copyFile(reportPath, join(keep, `${tag}-samples.json`));
    await writeFile(join(keep, `${tag}-ops.json`), JSON.stringify(await db.collection(logs).find({}).toArray()));
  }
  await rm(dir, { recursive: true, force: true });
  return {
    cpuSeconds: report.cpuSeconds,
    maxRssMiB: report.maxRssMiB,
    vmHWMMiB: report.vmHWMMiB,
    peak: peaks(report),
    peakBeforeSeal: pick(peaks(report, -Infinity, sealStart)),
    peakDuringSeal: pick(peaks(report, sealStart, sealEnd)),
    sealSeconds: (sealEnd - sealStart) / 1000,
    runSeconds,
    liveInserted,
    liveCaptured,
  };
}

function details(prefix: string, r: RunResult): Record<string, number> {
  const out: Record<string, number> = {
    [`${prefix}VmHWMMiB`]: r.vmHWMMiB,
    [`${prefix}CpuSeconds`]: r.cpuSeconds,
    [`${prefix}SealSeconds`]: r.sealSeconds,
    [`${prefix}RunSeconds`]: r.runSeconds,
    [`${prefix}LiveDocuments`]: r.liveCaptured,
  };
  for (const [k, v] of Object.entries(r.peak)) out[`${prefix}Peak${k[0]?.toUpperCase()}${k.slice(1)}MiB`] = v;
  for (const [k, v] of Object.entries(r.peakBeforeSeal)) out[`${prefix}BeforeSeal${k[0]?.toUpperCase()}${k.slice(1)}MiB`] = v;
  for (const [k, v] of Object.entries(r.peakDuringSeal)) out[`${prefix}DuringSeal${k[0]?.toUpperCase()}${k.slice(1)}MiB`] = v;
  return out;
}

export const memoryBenchmark: Benchmark = {
  name: 'memory',
  title: 'peak RSS of `run` capturing 3,000 events/s and sealing a big previous hour vs a 100k-document hour',
  unit: 'MiB',
  better: 'lower',
  figure: 'peak RSS (MiB) of `cron-log-service run` (compiled) capturing 3,000 inserts/s while it seals, uploads (s3rver) and reconciles a previous hour of the big size',
  baseline: 'peak RSS (MiB) of the same with a previous hour of 100,000 documents',
  target: {
    text: '<= 160 MiB and ratio <= 1.15',
    checks: [
      { on: 'figure', op: '<=', value: 160 },
      { on: 'ratio', op: '<=', value: 1.15 },
    ],
  },
  // Peak RSS varies little from run to run (ratio 1.10–1.14 over three runs at 12:58) and a run
  // pair takes ~26 s on a quiet machine: two pairs by default (`--runs` sets more).
  defaultRuns: 2,
  async run(ctx: BenchContext): Promise<BenchOutput> {
    // BENCH_MEMORY_DOCS=small,large overrides the sizes (for investigations).
    const override = process.env.BENCH_MEMORY_DOCS?.split(',').map(Number);
    const small = override?.[0] ?? (ctx.profile === 'quick' ? 2_000 : 100_000);
    const large = override?.[1] ?? (ctx.profile === 'quick' ? 20_000 : (ctx.hourSize ?? 1_000_000));
    // The previous wall-clock hour: the reconcile after the seal covers the last 24 hours.
    const hour = Math.floor(Date.now() / HOUR) * HOUR - HOUR;
    // The oplog holds the live inserts near its tip (the stream starts at "now") and whatever
    // capture falls behind while the emulator counts the big hour for the reconcile (its event
    // loop serves the change stream between slices of the count: a 10M-document hour's count
    // left capture ~1.6M events behind; with 200,000 entries the resume point fell off, and the
    // run measured a gap repair from a query instead of the seal: runChild fails such a run).
    // Decoded documents are not kept (--lean-documents): ~1 KB of the emulator's RSS per stored
    // document instead of ~3.7 (a 10M hour: ~10 GB instead of ~37); its heap limit is set above
    // what the hours need.
    const emu = await startEmulatorProcess({
      oplogSize: Math.max(200_000, Math.ceil(large * OPLOG_PER_HOUR_DOCUMENT)),
      leanDocuments: true,
      maxOldSpaceMiB: Math.max(8192, Math.ceil(((small + large) * 1024) / 2 ** 30) * 1024 + 2048),
      ...(ctx.cpuProfDir ? { cpuProfDir: ctx.cpuProfDir } : {}),
    });
    const s3 = await startS3rver();
    // The bench's own client waits out the emulator's one-time sort of an indexed field's keys
    // (warmIndexKeys, after each hour is built; tens of seconds at 10M documents).
    const client = new MongoClient(emu.uri, { serverSelectionTimeoutMS: 3_600_000, connectTimeoutMS: 0, socketTimeoutMS: 0 });
    await client.connect();
    const samples: RunSample[] = [];
    const t0 = performance.now();
    try {
      const db = client.db(DB);
      const built: Record<'small' | 'large', BuiltHour> = {
        small: await buildHour(db, ctx.dir, 'small', small, hour, ctx.log),
        large: await buildHour(db, ctx.dir, 'large', large, hour, ctx.log),
      };
      const setupSeconds = (performance.now() - t0) / 1000;
      ctx.log(`memory: hours built in ${setupSeconds.toFixed(1)} s (${(built.large.bytes / 1e6).toFixed(1)} MB gzip for ${large} documents)`);
      const { compileForNode } = await import('./lib/compile.js'); // loads TypeScript: only when needed
      const child = await compileForNode('bench/children/run-cli.ts');
      const loaded = await loadedRss(child);
      for (let i = 0; i < ctx.runs; i++) {
        const results: Partial<Record<'small' | 'large', RunResult>> = {};
        for (const name of i % 2 === 0 ? (['small', 'large'] as const) : (['large', 'small'] as const)) {
          const h = built[name];
          const r = await runOnce({ quick: ctx.profile === 'quick', child, uri: emu.uri, s3: s3.info, hour: h, dir: await freshDir(ctx.dir, `run-${i}-${name}`), tag: `${name}${i}`, seed: 100 + i, client, log: ctx.log });
          results[name] = r;
          ctx.log(
            `memory: run ${i + 1}/${ctx.runs}, ${h.count}-document hour: peak RSS ${r.vmHWMMiB.toFixed(1)} MiB (VmHWM; before the seal ${r.peakBeforeSeal.rss.toFixed(1)}, ` +
              `during ${r.peakDuringSeal.rss.toFixed(1)}; heap used ${r.peak.heapUsed.toFixed(1)}, external ${r.peak.external.toFixed(1)}, arrayBuffers ${r.peak.arrayBuffers.toFixed(1)}), seal ${r.sealSeconds.toFixed(1)} s`,
          );
        }
        const s = results.small as RunResult;
        const l = results.large as RunResult;
        // VmHWM, not getrusage's maxRSS: Linux keeps ru_maxrss across fork and exec, so a child
        // spawned by this (bigger) bench process reported this process's RSS at the spawn as its
        // own peak (2026-12-07: 128.0 MiB by maxRSS against 109.8 by VmHWM for the same 100k run).
        samples.push({ figure: l.vmHWMMiB, baseline: s.vmHWMMiB, details: { ...details('large', l), ...details('small', s), loadedRssMiB: loaded } });
      }
      return {
        samples,
        sizes: {
          smallHourDocuments: small,
          largeHourDocuments: large,
          largeHourGzipBytes: built.large.bytes,
          smallHourGzipBytes: built.small.bytes,
          liveInsertsPerSecond: RATE,
          sealSchedule: SEAL_SCHEDULE,
          captureBeforeSealMs: CAPTURE_FIRST_MS,
          partSizeMiB: PART_MIB,
          queueSize: QUEUE,
          setupSeconds: Math.round(setupSeconds * 10) / 10,
        },
        notes: [
          `MiB = 2^20 bytes. Figure and baseline: the kernel peak RSS of the \`run\` process (VmHWM of /proc/self/status, reset by exec; getrusage's maxRSS, kept across fork and exec, would report this bench process's own RSS at the spawn when it is bigger: in details). The child runs compiled JavaScript with plain node and the flags and environment the Docker image and the systemd unit use (${(process.env.BENCH_MEMORY_CHILD_FLAGS ?? RUN_NODE_FLAGS.join(' ')) || 'no flags'}; ${process.env.BENCH_MEMORY_CHILD_ENV === 'none' ? 'no added environment' : Object.entries(RUN_ENV).map(([k, v]) => `${k}=${v}`).join(' ')}), as an installed package does.`,
          'Peak* details: the highest of the process.memoryUsage() samples (every 50 ms) over the run; BeforeSeal*: before the seal run of the big hour began (capture only); DuringSeal*: from then to the end of its reconcile. loadedRssMiB: RSS once every module of the command line is loaded.',
          'The big hour is the previous wall-clock hour, in sealed/ (closed with its facts\' closing record, as `run` leaves a finished hour) and in MongoDB (the reconcile must pass). The live load is 3,000 inserts/s of the current hour (a batch every 50 ms) from the bench process.',
        ],
      };
    } finally {
      await client.close();
      await emu.close();
      await s3.close();
    }
  },
};

/** RSS of the command line's child once every module is loaded (compiled, plain node). */
function loadedRss(child: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [child, '--loaded'], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.on('error', reject);
    p.on('close', (code) => {
      try {
        if (code !== 0) throw new Error(`exited with ${String(code)}`);
        resolve((JSON.parse(out.trim().split('\n').pop() ?? '') as { loadedRssMiB: number }).loadedRssMiB);
      } catch (err) {
        reject(new Error(`the loaded-RSS child failed: ${(err as Error).message}`));
      }
    });
  });
}
