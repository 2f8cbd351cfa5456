/**
 * ceiling: the archiver's own capture ceiling, on a change-stream source that is not the
 * bottleneck (issue 21 item 3).
 *
 * Source: bench/children/change-replay.ts in its own process, in front of the emulator (in its own
 * process too): change streams are served from pre-recorded insert events of ~400-byte API-log
 * documents (one getMore reply is a copy of encoded events, a few µs of the source's CPU per
 * batch of 500), everything else (hello, ping, the checkpoints in `jobs`, the first start's query)
 * is forwarded to the emulator. Both sides read the same recording in batches of
 * CHANGE_STREAM_BATCH_SIZE, released by the same "go" once their stream is open.
 *
 * Measured: a real Tailer (built by `tailerFor`, exactly as `createArchiver` builds it, default
 * config: the raw change stream, analytics lines, gzip level 6 (level 1, GZIP_BURST_LEVEL, for
 * members started while 2 or more are still being compressed), checkpoint every 1000 ms and when
 * the stream is quiet for 20 ms, every flush fsynced); time from "go" until the spool's durable
 * line count (advanced only after gzip + write + fsync) reaches N.
 * Baseline: a bare driver `watch()` loop (batchSize CHANGE_STREAM_BATCH_SIZE) that only counts
 * events (`await stream.next()` N times); time from "go" until it has N.
 * CPU-µs per event (details): this process's CPU time (all threads: zlib runs on the libuv pool)
 * over the window, divided by N; `MainThread` the CPU time of the thread running JavaScript
 * (/proc/self/task/<pid>/stat) divided by N: what the one core spends per event.
 * Before the paired runs, each variant runs once untimed on a smaller load (warm-up).
 */
import { rm } from 'node:fs/promises';
import { PerformanceObserver, constants as perfConstants } from 'node:perf_hooks';
import type { PerformanceEntry } from 'node:perf_hooks';
import { MongoClient } from 'mongodb';
import { tailerFor } from '../src/archiver.js';
import { CHANGE_STREAM_BATCH_SIZE } from '../src/source/stream-client.js';
import type { Benchmark, BenchContext, BenchOutput, RunSample } from './lib/types.js';
import { BENCH_HOUR, HOUR, benchConfig, freshDir, quietLog, settle, until } from './lib/common.js';
import { cpuSecondsOf, ownCpuSeconds, startEmulatorProcess } from './lib/emulator-process.js';
import { startChangeReplay } from './lib/change-replay-process.js';
import type { ChangeReplayProcess } from './lib/change-replay-process.js';
import { durableLines } from './capture.js';

interface Mark {
  cpu: number;
  main: number;
  source: number;
}

/** Garbage collections of this process, counted from `start()` to `stop()` (perf_hooks 'gc' entries). */
class GcCount {
  major = 0;
  minor = 0;
  private readonly observer = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) this.add(e);
  });
  private add(e: PerformanceEntry): void {
    const kind = ((e as unknown as { detail?: { kind?: number } | null }).detail)?.kind;
    if (kind === perfConstants.NODE_PERFORMANCE_GC_MAJOR) this.major++;
    else if (kind === perfConstants.NODE_PERFORMANCE_GC_MINOR) this.minor++;
  }
  start(): void {
    this.observer.observe({ entryTypes: ['gc'] });
  }
  stop(): void {
    for (const e of this.observer.takeRecords()) this.add(e);
    this.observer.disconnect();
  }
}

/** CPU seconds of this process's main thread (the one running JavaScript), from /proc. */
async function mainThreadCpuSeconds(): Promise<number> {
  return cpuSecondsOf(process.pid, process.pid);
}

async function mark(sourcePid: number): Promise<Mark> {
  return { cpu: ownCpuSeconds(), main: await mainThreadCpuSeconds(), source: await cpuSecondsOf(sourcePid) };
}

interface VariantResult {
  seconds: number;
  /** CPU seconds of this process (all threads), of its main thread (busy time), of the source. */
  cpu: number;
  mainCpu: number;
  sourceCpu: number;
  /** Mark-compacts and scavenges of this process over the window. */
  majorGcs: number;
  minorGcs: number;
  /** Archiver only: when the last event was read (s from go). */
  capturedSeconds?: number;
  /** Archiver only: spool members compressed at GZIP_BURST_LEVEL, and the spool's durable bytes. */
  burstMembers?: number;
  spoolBytes?: number;
}

async function measured(
  replay: ChangeReplayProcess,
  run: (go: () => Promise<number>) => Promise<{ t0: number; capturedAt?: number; burstMembers?: number; spoolBytes?: number }>,
): Promise<VariantResult> {
  let m0: Mark | undefined;
  const gcs = new GcCount();
  const go = async (): Promise<number> => {
    m0 = await mark(replay.pid);
    gcs.start();
    return replay.go();
  };
  const { t0, capturedAt, burstMembers, spoolBytes } = await run(go);
  const done = performance.now();
  gcs.stop();
  const m1 = await mark(replay.pid);
  const seconds = (done - t0) / 1000;
  const start = m0 as Mark;
  return {
    seconds,
    cpu: m1.cpu - start.cpu,
    mainCpu: m1.main - start.main,
    sourceCpu: m1.source - start.source,
    majorGcs: gcs.major,
    minorGcs: gcs.minor,
    ...(capturedAt !== undefined ? { capturedSeconds: (capturedAt - t0) / 1000 } : {}),
    ...(burstMembers !== undefined ? { burstMembers } : {}),
    ...(spoolBytes !== undefined ? { spoolBytes } : {}),
  };
}

async function archiverRun(replay: ChangeReplayProcess, client: MongoClient, db: string, dir: string, count: number): Promise<VariantResult> {
  await replay.hold();
  await replay.serve(count);
  const config = benchConfig(replay.uri, db, dir);
  const tailer = tailerFor(config, client, quietLog);
  const opened = replay.opened();
  await tailer.start();
  await opened;
  await settle();
  try {
    return await measured(replay, async (go) => {
      const t0 = await go();
      let capturedAt = 0;
      await until(() => {
        if (capturedAt === 0 && tailer.stats().captured >= count) capturedAt = performance.now();
        return durableLines(tailer.spool.state()) >= count;
      }, 'the tailer to make every document durable', 300_000, 2);
      const spoolBytes = tailer.spool.state().files.reduce((n, f) => n + f.offset, 0);
      return { t0, capturedAt, burstMembers: tailer.stats().gzipBurstMembers, spoolBytes };
    });
  } finally {
    await tailer.stop();
  }
}

async function baselineRun(replay: ChangeReplayProcess, client: MongoClient, db: string, count: number): Promise<VariantResult> {
  await replay.hold();
  await replay.serve(count);
  const stream = client.db(db).collection('apilogs').watch([], { batchSize: CHANGE_STREAM_BATCH_SIZE, maxAwaitTimeMS: 1000 });
  const opened = replay.opened();
  const first = stream.next();
  await opened;
  await settle();
  try {
    return await measured(replay, async (go) => {
      const t0 = await go();
      await first;
      for (let n = 1; n < count; n++) await stream.next();
      return { t0 };
    });
  } finally {
    await stream.close();
  }
}

const perEvent = (seconds: number, count: number): number => (seconds * 1e6) / count;
const per100k = (n: number, count: number): number => (n * 100_000) / count;

export const ceilingBenchmark: Benchmark = {
  name: 'ceiling',
  title: 'replayed change stream → durable spool (the archiver\'s own ceiling)',
  unit: 'events/s',
  better: 'higher',
  figure: 'events/s from the release of a replayed change stream until a Tailer (default config) has every document durable in the spool',
  baseline: 'events/s of a bare driver watch() loop counting the same replayed events (same source, same batch size)',
  target: {
    text: 'ratio >= 1.5 and >= 150,000 events/s',
    checks: [
      { on: 'ratio', op: '>=', value: 1.5 },
      { on: 'figure', op: '>=', value: 150_000 },
    ],
  },
  async run(ctx: BenchContext): Promise<BenchOutput> {
    const count = ctx.profile === 'quick' ? 5_000 : 150_000;
    const warmCount = ctx.profile === 'quick' ? 1_000 : 30_000;
    const emu = await startEmulatorProcess({ ...(ctx.cpuProfDir ? { cpuProfDir: ctx.cpuProfDir } : {}) });
    const replay = await startChangeReplay({ upstream: emu.uri, count, from: BENCH_HOUR, to: BENCH_HOUR + HOUR });
    const client = new MongoClient(replay.uri);
    await client.connect();
    const samples: RunSample[] = [];
    try {
      const warmDir = await freshDir(ctx.dir, 'ceiling-warm-up');
      await archiverRun(replay, client, 'bench_ceiling_warm_a', warmDir, warmCount);
      await baselineRun(replay, client, 'bench_ceiling_warm_b', warmCount);
      await rm(warmDir, { recursive: true, force: true });
      for (let i = 0; i < ctx.runs; i++) {
        const dir = await freshDir(ctx.dir, `ceiling-${i}`);
        let a: VariantResult | undefined;
        let b: VariantResult | undefined;
        for (const which of i % 2 === 1 ? ['baseline', 'archiver'] : ['archiver', 'baseline']) {
          if (which === 'archiver') a = await archiverRun(replay, client, `bench_ceiling_a${i}`, dir, count);
          else b = await baselineRun(replay, client, `bench_ceiling_b${i}`, count);
        }
        await client.db(`bench_ceiling_a${i}`).dropDatabase();
        await rm(dir, { recursive: true, force: true });
        if (!a || !b) throw new Error('internal: a variant did not run');
        samples.push({
          figure: count / a.seconds,
          baseline: count / b.seconds,
          details: {
            archiverSeconds: a.seconds,
            archiverCapturedSeconds: a.capturedSeconds ?? Number.NaN,
            archiverCpuMicrosPerEvent: perEvent(a.cpu, count),
            archiverMainThreadCpuMicrosPerEvent: perEvent(a.mainCpu, count),
            archiverSourceCpuMicrosPerEvent: perEvent(a.sourceCpu, count),
            archiverGzipBurstMembers: a.burstMembers ?? Number.NaN,
            archiverSpoolBytesPerEvent: (a.spoolBytes ?? Number.NaN) / count,
            archiverMarkCompactsPer100k: per100k(a.majorGcs, count),
            archiverScavengesPer100k: per100k(a.minorGcs, count),
            baselineSeconds: b.seconds,
            baselineCpuMicrosPerEvent: perEvent(b.cpu, count),
            baselineMainThreadCpuMicrosPerEvent: perEvent(b.mainCpu, count),
            baselineSourceCpuMicrosPerEvent: perEvent(b.sourceCpu, count),
            baselineMarkCompactsPer100k: per100k(b.majorGcs, count),
            baselineScavengesPer100k: per100k(b.minorGcs, count),
          },
        });
        ctx.log(
          `ceiling: run ${i + 1}/${ctx.runs}: ${Math.round(count / a.seconds)} vs ${Math.round(count / b.seconds)} events/s; ` +
            `CPU ${perEvent(a.cpu, count).toFixed(2)} vs ${perEvent(b.cpu, count).toFixed(2)} µs/event (main thread ${perEvent(a.mainCpu, count).toFixed(2)} vs ${perEvent(b.mainCpu, count).toFixed(2)}); ` +
            `${a.burstMembers ?? 0} spool members at the burst level, ${((a.spoolBytes ?? 0) / count).toFixed(1)} spool bytes/event; ` +
            `mark-compacts per 100k events ${per100k(a.majorGcs, count).toFixed(1)} vs ${per100k(b.majorGcs, count).toFixed(1)}, scavenges ${per100k(a.minorGcs, count).toFixed(1)} vs ${per100k(b.minorGcs, count).toFixed(1)}`,
        );
      }
    } finally {
      await client.close();
      await replay.close();
      await emu.close();
    }
    return {
      samples,
      sizes: { documents: count, warmUpDocuments: warmCount, batchSize: CHANGE_STREAM_BATCH_SIZE, checkpointIntervalMs: 1000 },
      notes: [
        'Source: bench/children/change-replay.ts (own process) replays pre-encoded insert events of ~400-byte API-log documents for the change stream and forwards every other command to the emulator (own process). SourceCpuMicrosPerEvent (details): its CPU per event over the window.',
        'CpuMicrosPerEvent: this process (all threads, zlib included) over the window / N; MainThreadCpuMicrosPerEvent: the CPU time of the thread running JavaScript (/proc/<pid>/task/<pid>/stat) / N, what the one core spends per event (zlib and fsync run on the libuv pool).',
        'archiverGzipBurstMembers: spool members (about 1 MiB of lines each) compressed at GZIP_BURST_LEVEL (default 1) because 2 or more were still being compressed; archiverSpoolBytesPerEvent: the spool files\' durable bytes / N (what the burst level costs in size).',
        'The figure includes the wait for the checkpoint after the last event (the stream is quiet for 20 ms, then flush + fsync); archiverCapturedSeconds is when the tailer had read the last event.',
        'MarkCompactsPer100k / ScavengesPer100k: V8 garbage collections of this process over the window (perf_hooks \'gc\' entries, major / minor), per 100,000 events; the archiver\'s include the minor collections the raw change stream asks for (src/source/young-garbage.ts).',
        `Before the paired runs, each variant ran once untimed with ${warmCount} events (warm-up).`,
      ],
    };
  },
};
