/**
 * memory-catchup (opt-in: `--only memory-catchup`; not in the default run, whose `memory` is the
 * run-and-seal benchmark of memory.ts): peak RSS of an archiver process catching up an hour of
 * 100,000 documents and an hour of 1,000,000 documents from the oplog (the worst case for the
 * change stream's buffers; how CHANGE_STREAM_BATCH_SIZE was chosen).
 *
 * Both hours are inserted once (insertMany, batches of 10,000) into the emulator, which runs in a
 * process of its own. Each run spawns bench/children/memory-archiver.ts (its own process, so the
 * RSS is its own), compiled to plain JavaScript first (bench/lib/compile.ts: what `npm run build`
 * emits; an installed package runs dist/ with plain node, without the tsx loader of a checkout):
 * a whole archiver (`createArchiver`, default config) resuming from a checkpoint
 * placed just before the hour's inserts, so it captures the hour from the oplog at full speed,
 * flushes and checkpoints, closes, and reports its peak RSS (VmHWM of /proc/self/status; getrusage's
 * maxRSS, which Linux keeps across fork and exec from the bigger bench process, only in the log).
 *
 * Figure: peak RSS with the 1,000,000-document hour. Baseline: peak RSS with the
 * 100,000-document hour. Ratio: figure / baseline (flat memory = 1.0).
 */
import { spawn } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { MongoClient } from 'mongodb';
import { clusterTimeNow } from '../src/source/cluster-time.js';
import type { Benchmark, BenchContext, BenchOutput, RunSample } from './lib/types.js';
import { BENCH_HOUR, HOUR, freshDir } from './lib/common.js';
import { insertGenerated } from './lib/documents.js';
import { startEmulatorProcess } from './lib/emulator-process.js';

const CHILD_TS = fileURLToPath(new URL('./children/memory-archiver.ts', import.meta.url));
const DB = 'bench_memory';

interface ChildReport {
  captured: number;
  durableLines: number;
  checkpoints: number;
  capturedSeconds: number;
  seconds: number;
  rssBeforeStartMiB: number;
  maxRssMiB: number;
  vmHWMMiB: number;
  peakHeapTotalMiB: number;
  peakHeapUsedMiB: number;
  peakExternalMiB: number;
  peakArrayBuffersMiB: number;
}

/** Runs the child: `script` is the compiled .js (plain node) or the .ts source (through tsx). */
function runChild<T = ChildReport>(script: string, args: Record<string, unknown>, cpuProfDir: string | undefined): Promise<T> {
  const loader = script.endsWith('.ts') ? ['--import', 'tsx'] : [];
  // BENCH_MEMORY_CHILD_FLAGS: extra node/V8 flags for the archiver child (e.g. --trace-gc); its
  // other output is then copied to stderr.
  const extra = process.env.BENCH_MEMORY_CHILD_FLAGS?.split(' ').filter(Boolean) ?? [];
  const node = [...(cpuProfDir !== undefined ? ['--cpu-prof', '--cpu-prof-dir', cpuProfDir] : []), ...extra, ...loader, script, JSON.stringify(args)];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, node, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 15 * 60_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code !== 0) return reject(new Error(`memory child exited with ${code ?? signal}: ${err.trim().slice(-2000)}`));
      const lines = out.trim().split('\n');
      const report = lines.filter((l) => l.startsWith('{')).pop() ?? '';
      if (extra.length > 0) process.stderr.write(`${lines.filter((l) => !l.startsWith('{')).join('\n')}\n`);
      try {
        resolve(JSON.parse(report) as T);
      } catch {
        reject(new Error(`memory child printed no report: ${out.slice(-500)} ${err.slice(-1000)}`));
      }
    });
  });
}

export const memoryCatchupBenchmark: Benchmark = {
  name: 'memory-catchup',
  optIn: true,
  title: 'peak RSS of an archiver catching up a 1M-document hour from the oplog vs a 100k-document hour',
  unit: 'MiB',
  better: 'lower',
  figure: 'peak RSS (MiB) of an archiver process (createArchiver, default config) capturing an hour of the large size',
  baseline: 'peak RSS (MiB) of the same archiver process capturing an hour of the small size',
  target: {
    text: '<= 200 MB and ratio <= 1.3',
    checks: [
      { on: 'figure', op: '<=', value: 200 },
      { on: 'ratio', op: '<=', value: 1.3 },
    ],
  },
  async run(ctx: BenchContext): Promise<BenchOutput> {
    // BENCH_MEMORY_DOCS=small,large overrides the sizes (for investigations).
    const override = process.env.BENCH_MEMORY_DOCS?.split(',').map(Number);
    const small = override?.[0] ?? (ctx.profile === 'quick' ? 2_000 : 100_000);
    const large = override?.[1] ?? (ctx.profile === 'quick' ? 20_000 : 1_000_000);
    const emu = await startEmulatorProcess({ oplogSize: small + large + 10_000, ...(ctx.cpuProfDir ? { cpuProfDir: ctx.cpuProfDir } : {}) });
    const client = new MongoClient(emu.uri);
    await client.connect();
    const samples: RunSample[] = [];
    let insertSeconds = 0;
    const { compileForNode } = await import('./lib/compile.js'); // loads TypeScript: only when needed
    const child = await compileForNode('bench/children/memory-archiver.ts');
    // The fixed part: RSS once every module is loaded, compiled and through tsx (a checkout).
    const loaded = (await runChild<{ loadedRssMiB: number }>(child, { idle: true }, undefined)).loadedRssMiB;
    const loadedTsx = (await runChild<{ loadedRssMiB: number }>(CHILD_TS, { idle: true }, undefined)).loadedRssMiB;
    try {
      const db = client.db(DB);
      const starts: Record<string, { t: number; i: number }> = {};
      for (const [name, count] of [
        ['small', small],
        ['large', large],
      ] as const) {
        const t = await clusterTimeNow(db);
        starts[name] = { t: t.getHighBitsUnsigned(), i: t.getLowBitsUnsigned() };
        ctx.log(`memory-catchup: inserting the ${count}-document hour`);
        insertSeconds += await insertGenerated(db.collection(name), count, BENCH_HOUR, BENCH_HOUR + HOUR, { seed: 3 });
      }
      for (let i = 0; i < ctx.runs; i++) {
        const reports: Partial<Record<'small' | 'large', ChildReport>> = {};
        for (const name of i % 2 === 0 ? (['small', 'large'] as const) : (['large', 'small'] as const)) {
          const count = name === 'small' ? small : large;
          const dir = await freshDir(ctx.dir, `memory-${i}-${name}`);
          const r = await runChild(
            child,
            { uri: emu.uri, db: DB, collection: name, jobs: `jobs_${name}_${i}`, logs: `logs_${name}_${i}`, dir, count, startAt: starts[name], hour: BENCH_HOUR },
            ctx.cpuProfDir,
          );
          await rm(dir, { recursive: true, force: true });
          if (r.captured !== count || r.durableLines !== count) throw new Error(`the archiver child captured ${r.captured} and checkpointed ${r.durableLines} of ${count} documents`);
          reports[name] = r;
          ctx.log(`memory-catchup: run ${i + 1}/${ctx.runs}, ${count} documents: peak RSS (VmHWM) ${r.vmHWMMiB.toFixed(1)} MiB (getrusage maxRSS ${r.maxRssMiB.toFixed(1)}: inherited across fork and exec, so not the figure), ${Math.round(count / r.capturedSeconds)} events/s`);
        }
        const s = reports.small as ChildReport;
        const l = reports.large as ChildReport;
        samples.push({
          figure: l.vmHWMMiB,
          baseline: s.vmHWMMiB,
          details: {
            largeVmHWMMiB: l.vmHWMMiB,
            smallVmHWMMiB: s.vmHWMMiB,
            largeRssBeforeStartMiB: l.rssBeforeStartMiB,
            smallRssBeforeStartMiB: s.rssBeforeStartMiB,
            largePeakHeapTotalMiB: l.peakHeapTotalMiB,
            largePeakHeapUsedMiB: l.peakHeapUsedMiB,
            largePeakExternalMiB: l.peakExternalMiB,
            largePeakArrayBuffersMiB: l.peakArrayBuffersMiB,
            smallPeakHeapTotalMiB: s.peakHeapTotalMiB,
            smallPeakHeapUsedMiB: s.peakHeapUsedMiB,
            smallPeakExternalMiB: s.peakExternalMiB,
            loadedRssMiB: loaded,
            loadedRssTsxMiB: loadedTsx,
            largeCaptureEventsPerSecond: large / l.capturedSeconds,
            smallCaptureEventsPerSecond: small / s.capturedSeconds,
            largeSeconds: l.seconds,
          },
        });
      }
    } finally {
      await client.close();
      await emu.close();
    }
    return {
      samples,
      sizes: { smallHourDocuments: small, largeHourDocuments: large, insertSeconds: Math.round(insertSeconds * 10) / 10 },
      notes: [
        'MiB = 2^20 bytes. The archiver child runs compiled JavaScript with plain node, as an installed package does. loadedRssMiB is its RSS once every module is loaded; loadedRssTsxMiB the same through the tsx loader, as bin/cron-log-service.js runs in a checkout (add the difference to the figures for a checkout).',
        'The hour is captured from the oplog (checkpoint placed before the inserts): the change stream delivers as fast as the emulator sends, the worst case for buffers.',
      ],
    };
  },
};
