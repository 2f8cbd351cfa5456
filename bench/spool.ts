/**
 * spool: already-decoded documents → durable spool files with checkpoints, in this process.
 *
 * Measured: the archiver's own path, as the tailer drives it: the analytics line encoder
 * (src/spool/json-lines.ts), `Spool.append` into the hour's file (with the document: its BSON type summary is recorded), a flush (gzip member + write +
 * fsync) whenever 8 MiB are pending (the tailer's maxPendingBytes, awaited like its
 * backpressure flush) and on a 1000 ms timer (the tailer's default checkpoint interval, not
 * awaited), each flush followed by a checkpoint write (here a local file: temp + fsync + rename,
 * standing in for the checkpoint document the tailer writes to MongoDB). Documents are handed
 * over in batches of 1000 with an event-loop turn in between, like change-stream batches.
 *
 * Baseline: the same documents, `JSON.stringify` per document, through one zlib gzip stream with
 * the same zlib options (level, memLevel) into one file, fsynced at the end, in the same process.
 */
import { createWriteStream } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { once } from 'node:events';
import { setImmediate as turn } from 'node:timers/promises';
import { createGzip } from 'node:zlib';
import { gzipOptions } from '../src/spool/gzip-members.js';
import { Spool } from '../src/spool/spool.js';
import { spoolFileName, spoolLayout } from '../src/spool/spool-files.js';
import { lineEncoder } from '../src/spool/json-lines.js';
import { HourClock } from '../src/hours/hour-clock.js';
import type { Benchmark, BenchContext, BenchOutput, RunSample } from './lib/types.js';
import { BENCH_HOUR, HOUR, freshDir, jsonBytes } from './lib/common.js';
import { makeDocs } from './lib/documents.js';

const GZIP_LEVEL = 6; // the config default
const MAX_PENDING = 8 * 1024 * 1024; // the tailer's default maxPendingBytes
const CHECKPOINT_MS = 1000; // the config default checkpointIntervalMs
const BATCH = 1000; // the tailer's change-stream batchSize

async function writeCheckpoint(path: string, state: unknown): Promise<void> {
  const tmp = `${path}.tmp`;
  const fh = await open(tmp, 'w');
  try {
    await fh.writeFile(JSON.stringify(state));
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, path);
}

/** Documents handed to a run: `count` of them, document `i` from `doc(i)` (an array, or a stream: bench/lib/hour-stream.ts). */
export interface DocSource {
  count: number;
  doc(i: number): object;
}

export function arraySource(docs: readonly object[]): DocSource {
  return { count: docs.length, doc: (i) => docs[i] as object };
}

/**
 * The archiver's side. With `keep`, the hour's file is closed as the tailer closes a finished
 * hour (its SHA-256 recorded in the facts) after the clock stops, and its path returned.
 */
export async function archiverRun(
  source: DocSource,
  dir: string,
  opts: { keep?: boolean } = {},
): Promise<{ seconds: number; lines: number; bytes: number; flushes: number; path?: string }> {
  const spool = new Spool({ layout: spoolLayout(dir, 'bench.apilogs'), gzipLevel: GZIP_LEVEL, timestampField: 'createdAt' });
  await spool.open(undefined);
  const encode = lineEncoder('analytics');
  const clock = new HourClock('UTC');
  const cpPath = join(dir, 'checkpoint.json');
  let chain: Promise<void> = Promise.resolve();
  let flushes = 0;
  // The tailer's checkpoint(): serialized flush, then the checkpoint write.
  const checkpoint = (): Promise<void> => {
    const run = chain.then(async () => {
      const state = await spool.flush();
      flushes++;
      await writeCheckpoint(cpPath, state);
    });
    chain = run;
    return run;
  };
  const t0 = performance.now();
  const timer = setInterval(() => void checkpoint(), CHECKPOINT_MS);
  try {
    for (let i = 0; i < source.count; i++) {
      const doc = source.doc(i) as { createdAt: Date };
      const slot = clock.slotOf(doc.createdAt.getTime());
      spool.append({ hour: slot.start, part: 1 }, encode(doc), doc);
      if (spool.pendingBytes >= MAX_PENDING) await checkpoint();
      if ((i + 1) % BATCH === 0) await turn();
    }
    clearInterval(timer);
    await checkpoint();
  } finally {
    clearInterval(timer);
  }
  const seconds = (performance.now() - t0) / 1000;
  const state = spool.state();
  const lines = state.files.reduce((n, f) => n + f.lines, 0);
  const bytes = state.files.reduce((n, f) => n + f.offset, 0);
  let path: string | undefined;
  if (opts.keep) {
    if (state.files.length !== 1) throw new Error(`spool holds ${state.files.length} files, expected the one hour`);
    const file = state.files[0]!;
    const id = { hour: file.hour, part: file.part };
    await spool.detach(id);
    path = join(spool.layout.open, spoolFileName(id));
  }
  await spool.close();
  if (lines !== source.count) throw new Error(`spool holds ${lines} durable lines, expected ${source.count}`);
  return { seconds, lines, bytes, flushes, ...(path !== undefined ? { path } : {}) };
}

export async function baselineRun(source: DocSource, dir: string): Promise<{ seconds: number; bytes: number }> {
  const path = join(dir, 'baseline.ndjson.gz');
  const t0 = performance.now();
  const fh = await open(path, 'w');
  const out = createWriteStream('', { fd: fh.fd, autoClose: false });
  const gz = createGzip(gzipOptions(GZIP_LEVEL));
  gz.pipe(out);
  let chunk: string[] = [];
  for (let i = 0; i < source.count; i++) {
    chunk.push(JSON.stringify(source.doc(i)));
    if (chunk.length === BATCH || i === source.count - 1) {
      const ok = gz.write(chunk.join('\n') + '\n');
      chunk = [];
      if (!ok) await once(gz, 'drain');
      else await turn();
    }
  }
  gz.end();
  await once(out, 'finish');
  await fh.sync();
  const { size } = await fh.stat();
  await fh.close();
  const seconds = (performance.now() - t0) / 1000;
  return { seconds, bytes: size };
}

export const spoolBenchmark: Benchmark = {
  name: 'spool',
  title: 'documents → durable spool (in process)',
  unit: 'events/s',
  better: 'higher',
  figure: 'events/s through the line encoder, Spool.append and flushes (gzip member + fsync, 8 MiB / 1000 ms cadence) with a checkpoint file after each flush',
  baseline: 'events/s of JSON.stringify + one zlib gzip stream (same zlib options: level 6, memLevel 9) into one file, fsynced at the end',
  target: {
    text: 'ratio >= 0.7 and >= 50,000 events/s',
    checks: [
      { on: 'ratio', op: '>=', value: 0.7 },
      { on: 'figure', op: '>=', value: 50_000 },
    ],
  },
  async run(ctx: BenchContext): Promise<BenchOutput> {
    const count = ctx.profile === 'quick' ? 5_000 : 150_000;
    ctx.log(`spool: generating ${count} documents`);
    const docs = makeDocs(count, BENCH_HOUR, BENCH_HOUR + HOUR);
    const bytes = jsonBytes(docs);
    const source = arraySource(docs);
    const samples: RunSample[] = [];
    for (let i = 0; i < ctx.runs; i++) {
      const d1 = await freshDir(ctx.dir, `spool-${i}`);
      const d2 = await freshDir(ctx.dir, `baseline-${i}`);
      // Alternate the order so neither side always runs on a warmer (or more fragmented) heap.
      let a: Awaited<ReturnType<typeof archiverRun>>;
      let b: Awaited<ReturnType<typeof baselineRun>>;
      if (i % 2 === 0) {
        a = await archiverRun(source, d1);
        b = await baselineRun(source, d2);
      } else {
        b = await baselineRun(source, d2);
        a = await archiverRun(source, d1);
      }
      await rm(d1, { recursive: true, force: true });
      await rm(d2, { recursive: true, force: true });
      const sample: RunSample = {
        figure: count / a.seconds,
        baseline: count / b.seconds,
        details: {
          archiverMBps: bytes / 1e6 / a.seconds,
          baselineMBps: bytes / 1e6 / b.seconds,
          archiverSeconds: a.seconds,
          baselineSeconds: b.seconds,
          flushes: a.flushes,
          archiverCompressedBytes: a.bytes,
          baselineCompressedBytes: b.bytes,
        },
      };
      samples.push(sample);
      ctx.log(`spool: run ${i + 1}/${ctx.runs}: ${Math.round(sample.figure)} vs ${Math.round(sample.baseline)} events/s`);
    }
    return {
      samples,
      sizes: { documents: count, uncompressedBytes: bytes, bytesPerDocument: Math.round(bytes / count), gzipLevel: GZIP_LEVEL },
      notes: ['MB/s (details) counts uncompressed JSON-line bytes (1 MB = 10^6 bytes).'],
    };
  },
};
