/**
 * capture: documents inserted into the emulator → durable in the spool, end to end.
 *
 * The emulator runs in its own process (like mongod next to the archiver), and so does the load
 * generator (bench/children/loader.ts, like the application writing the logs): it pre-generates
 * the documents (~400 bytes, untimed, same seed for both sides) and, on a signal, inserts them
 * with insertMany in batches of 1000, one batch after the other, as fast as the emulator takes
 * them, into a fresh collection. (With the loader in this process, the tailer's work would delay
 * the next insertMany on the shared event loop and the figure would measure that coupling.)
 *
 * Measured: a real Tailer (built by `tailerFor`, exactly as `createArchiver` builds it, default
 * config: checkpoint every 1000 ms while events arrive and once the stream is quiet for 20 ms,
 * gzip level 6) watching the collection; time from the first
 * insert until every document is durable in the spool (the spool's durable line count, which
 * advances only after gzip + write + fsync, reaches N).
 * Baseline: a bare driver `watch()` loop on the same emulator and the same load that only counts
 * events; time from the first insert until it has counted N.
 * Before the paired runs, each variant runs once untimed on a smaller load (warm-up).
 * Also reported (details, not the baseline): the same bare loop with the tailer's own pipeline
 * ($match on operationType), which the emulator serves on a slower path than an unfiltered
 * stream: it separates the emulator's share of the gap from the archiver process's share.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { rm } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { EventLoopUtilization } from 'node:perf_hooks';
import { MongoClient } from 'mongodb';
import type { Document } from 'mongodb';
import { tailerFor } from '../src/archiver.js';
import { CHANGE_STREAM_BATCH_SIZE } from '../src/source/stream-client.js';
import type { Benchmark, BenchContext, BenchOutput, RunSample } from './lib/types.js';
import { BENCH_HOUR, HOUR, benchConfig, freshDir, quietLog, sleep, until } from './lib/common.js';
import { cpuSecondsOf, ownCpuSeconds, startEmulatorProcess } from './lib/emulator-process.js';

const INSERT_BATCH = 1000;
const LOADER = fileURLToPath(new URL('./children/loader.ts', import.meta.url));

interface Loader {
  /** Starts inserting the first `count` documents into db.apilogs; returns performance.now() of the signal. */
  go(db: string, count: number): number;
  /** Resolves with the loader's own insert time once every document is inserted. */
  done(): Promise<{ insertSeconds: number }>;
  close(): Promise<void>;
}

/** Starts the load generator (it generates the documents once) and waits until it is ready. */
async function startLoader(uri: string, count: number): Promise<Loader> {
  const args = { uri, collection: 'apilogs', count, batch: INSERT_BATCH, seed: 2, from: BENCH_HOUR, to: BENCH_HOUR + HOUR };
  const child = spawn(process.execPath, ['--import', 'tsx', LOADER, JSON.stringify(args)], { stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = once(child, 'exit');
  const it = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const first = await it.next();
  if (first.done === true || first.value !== 'ready') throw new Error(`the load generator did not start: ${String(first.value)}`);
  return {
    go(db, n) {
      const t = performance.now();
      child.stdin.write(`go ${db} ${n}\n`);
      return t;
    },
    async done() {
      const r = await it.next();
      if (r.done === true) throw new Error(`the load generator exited with ${String(child.exitCode)} without a report`);
      return JSON.parse(r.value as string) as { insertSeconds: number };
    },
    async close() {
      child.stdin.end();
      await exited;
    },
  };
}

export function durableLines(state: { files: Array<{ lines: number }> }): number {
  let n = 0;
  for (const f of state.files) n += f.lines;
  return n;
}

/** CPU seconds of this process and of the emulator over a variant (where the time goes). */
async function cpuMark(emuPid: number): Promise<{ own: number; emu: number; elu: EventLoopUtilization }> {
  return { own: ownCpuSeconds(), emu: await cpuSecondsOf(emuPid), elu: performance.eventLoopUtilization() };
}

/** Share of the window the main thread was busy (1 = never waiting for I/O). */
function busy(c0: { elu: EventLoopUtilization }): number {
  return performance.eventLoopUtilization(c0.elu).utilization;
}

/**
 * `phase` (0-1): where in the tailer's checkpoint interval the load starts. The paired runs
 * spread their starts over the interval, so that whatever the interval's ticks add (a checkpoint
 * in progress when the stream goes quiet) is not the same in every run.
 */
async function archiverRun(loader: Loader, uri: string, emuPid: number, client: MongoClient, db: string, dir: string, count: number, phase = 0) {
  const config = benchConfig(uri, db, dir);
  const tailer = tailerFor(config, client, quietLog);
  await tailer.start();
  // Let the loop open its change stream before the clock starts, then start at `phase`.
  await sleep(200 + phase * config.checkpointIntervalMs);
  const c0 = await cpuMark(emuPid);
  const t0 = loader.go(db, count);
  let capturedAt = 0;
  await until(() => {
    if (capturedAt === 0 && tailer.stats().captured >= count) capturedAt = performance.now();
    return durableLines(tailer.spool.state()) >= count;
  }, 'the tailer to make every document durable', 300_000, 2);
  const done = performance.now();
  const elu = busy(c0);
  const c1 = await cpuMark(emuPid);
  const { insertSeconds } = await loader.done();
  await tailer.stop();
  return { seconds: (done - t0) / 1000, capturedSeconds: (capturedAt - t0) / 1000, insertSeconds, cpu: c1.own - c0.own, emuCpu: c1.emu - c0.emu, elu };
}

/** The tailer's change-stream pipeline with the default captureOperations (see openCaptureStream in src/source/stream-client.ts); its batch size is CHANGE_STREAM_BATCH_SIZE. */
const TAILER_PIPELINE: Document[] = [{ $match: { operationType: { $in: ['insert', 'drop', 'rename', 'dropDatabase'] } } }];

async function baselineRun(loader: Loader, emuPid: number, client: MongoClient, db: string, count: number, pipeline: Document[] = [], batchSize = 1000) {
  const stream = client.db(db).collection('apilogs').watch(pipeline, { batchSize });
  if ((await stream.tryNext()) !== null) throw new Error('unexpected change event before the load');
  const c0 = await cpuMark(emuPid);
  const t0 = loader.go(db, count);
  for (let n = 0; n < count; n++) await stream.next();
  const done = performance.now();
  const elu = busy(c0);
  const c1 = await cpuMark(emuPid);
  const { insertSeconds } = await loader.done();
  await stream.close();
  return { seconds: (done - t0) / 1000, insertSeconds, cpu: c1.own - c0.own, emuCpu: c1.emu - c0.emu, elu };
}

export const captureBenchmark: Benchmark = {
  name: 'capture',
  title: 'emulator inserts → durable spool (end to end)',
  unit: 'events/s',
  better: 'higher',
  figure: 'events/s from the first insert until a Tailer (default config) has every document durable in the spool',
  baseline: 'events/s from the first insert until a bare driver watch() loop has counted every event (same emulator, same load)',
  target: { text: 'ratio >= 0.8', checks: [{ on: 'ratio', op: '>=', value: 0.8 }] },
  async run(ctx: BenchContext): Promise<BenchOutput> {
    // Long enough (2-3 s per variant on a quiet machine) that the wait for the checkpoint after
    // the last event (0-1 s with the default 1000 ms interval) is a small share of the figure;
    // that share counts against the archiver only. 150,000 took 40 s of the default run.
    const count = ctx.profile === 'quick' ? 3_000 : 100_000;
    const warmCount = ctx.profile === 'quick' ? 1_000 : 20_000;
    // Each variant inserts `count` documents: keep a few variants' worth of oplog, no more.
    const emu = await startEmulatorProcess({ oplogSize: Math.max(4 * count, 10_000), ...(ctx.cpuProfDir ? { cpuProfDir: ctx.cpuProfDir } : {}) });
    const client = new MongoClient(emu.uri);
    await client.connect();
    const samples: RunSample[] = [];
    const loader = await startLoader(emu.uri, count);
    try {
      // Untimed warm-up: each variant once on a smaller load, so that no measured run pays for
      // compiling the tailer's, the driver's and the emulator's code (a running archiver is past
      // that; without it, whichever variant ran first was up to 40% slower).
      const warmDir = await freshDir(ctx.dir, 'capture-warm-up');
      await archiverRun(loader, emu.uri, emu.pid, client, 'bench_capture_warm_a', warmDir, warmCount);
      await baselineRun(loader, emu.pid, client, 'bench_capture_warm_b', warmCount);
      await baselineRun(loader, emu.pid, client, 'bench_capture_warm_m', warmCount, TAILER_PIPELINE, CHANGE_STREAM_BATCH_SIZE);
      for (const db of ['a', 'b', 'm']) await client.db(`bench_capture_warm_${db}`).dropDatabase();
      await rm(warmDir, { recursive: true, force: true });
      for (let i = 0; i < ctx.runs; i++) {
        const dir = await freshDir(ctx.dir, `capture-${i}`);
        const dbs = [`bench_capture_a${i}`, `bench_capture_b${i}`, `bench_capture_m${i}`];
        // The bare loop with the tailer's pipeline runs in the first run only (details).
        const order = i === 0 ? (['archiver', 'baseline', 'match'] as const) : i % 2 === 1 ? (['baseline', 'archiver'] as const) : (['archiver', 'baseline'] as const);
        let a: Awaited<ReturnType<typeof archiverRun>> | undefined;
        let b: Awaited<ReturnType<typeof baselineRun>> | undefined;
        let m: Awaited<ReturnType<typeof baselineRun>> | undefined;
        for (const which of order) {
          if (which === 'archiver') a = await archiverRun(loader, emu.uri, emu.pid, client, dbs[0] as string, dir, count, (i + 0.5) / ctx.runs);
          else if (which === 'baseline') b = await baselineRun(loader, emu.pid, client, dbs[1] as string, count);
          else m = await baselineRun(loader, emu.pid, client, dbs[2] as string, count, TAILER_PIPELINE, CHANGE_STREAM_BATCH_SIZE);
        }
        for (const db of dbs) await client.db(db).dropDatabase();
        await rm(dir, { recursive: true, force: true });
        if (!a || !b) throw new Error('internal: a variant did not run');
        samples.push({
          figure: count / a.seconds,
          baseline: count / b.seconds,
          details: {
            archiverSeconds: a.seconds,
            archiverCapturedSeconds: a.capturedSeconds,
            archiverInsertSeconds: a.insertSeconds,
            archiverProcessCpuSeconds: a.cpu,
            archiverEmulatorCpuSeconds: a.emuCpu,
            archiverEventLoopUtilization: a.elu,
            baselineSeconds: b.seconds,
            baselineInsertSeconds: b.insertSeconds,
            baselineProcessCpuSeconds: b.cpu,
            baselineEmulatorCpuSeconds: b.emuCpu,
            baselineEventLoopUtilization: b.elu,
            ...(m
              ? {
                  tailerPipelineBaselineEventsPerSecond: count / m.seconds,
                  tailerPipelineBaselineSeconds: m.seconds,
                  tailerPipelineBaselineEmulatorCpuSeconds: m.emuCpu,
                  tailerPipelineBaselineProcessCpuSeconds: m.cpu,
                }
              : {}),
          },
        });
        ctx.log(
          `capture: run ${i + 1}/${ctx.runs}: ${Math.round(count / a.seconds)} vs ${Math.round(count / b.seconds)} events/s ` +
            `(archiver: all captured at ${a.capturedSeconds.toFixed(2)}s, durable at ${a.seconds.toFixed(2)}s${m ? `; bare watch with the tailer's $match and batch size: ${Math.round(count / m.seconds)} events/s` : ''})`,
        );
      }
    } finally {
      await loader.close();
      await client.close();
      await emu.close();
    }
    return {
      samples,
      sizes: { documents: count, warmUpDocuments: warmCount, insertBatch: INSERT_BATCH, checkpointIntervalMs: 1000 },
      notes: [
        'Three processes: the emulator, the load generator, and this one (the tailer, or the bare watch loop). insertSeconds (details) is the load generator\'s own insert time; ProcessCpuSeconds the CPU this process used (all threads: zlib runs on the libuv pool), EmulatorCpuSeconds the emulator\'s, over the timed window.',
        `tailerPipeline* (details, first run only): the same bare watch loop with the tailer's stream options ($match on operationType, batchSize ${CHANGE_STREAM_BATCH_SIZE}; the baseline uses batchSize 1000): what the emulator delivers for the tailer's stream without any archiving.`,
        'The figure includes waiting for the checkpoint after the last event (the tailer checkpoints once the stream has been quiet for 20 ms; while events arrive, every 1000 ms or when 8 MiB are pending); archiverCapturedSeconds (details) is when the tailer had read the last event.',
        `Before the paired runs, each variant ran once untimed with ${warmCount} documents (warm-up: the JIT compiles the tailer's, the driver's and the emulator's hot code).`,
        'The load starts at a different point of the checkpoint interval in each run ((run + 0.5) / runs of it after the tailer started), so the wait for the last checkpoint is not the same in every run.',
      ],
    };
  },
};
