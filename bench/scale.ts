/**
 * scale: how every per-hour cost grows with the hour (issue 21, item 1). For hours of 10,000 and
 * 100,000 documents (default; `--hour-size 1m|10m` adds 1,000,000 and 10,000,000; `--quick`:
 * 1,000 and 4,000; one paired run per size unless `--hour-size` is given, then `--runs`), six
 * rows, each a pair (the archiver's step, a bare baseline of the same work)
 * measured back to back on the same hour:
 *
 * - spool: events/s of the line encoder + `Spool.append` + flushes + checkpoints (bench/spool.ts)
 *   vs JSON.stringify + one gzip stream. Its file (closed as the tailer closes an hour, facts
 *   sidecar included) is the hour the next rows seal.
 * - seal: seconds of `archiver.sealNow()` of that file to a local-directory destination (facts
 *   check, ledger, copy + fsync, verification, manifest) vs a bare copy of the file with its
 *   SHA-256 and an fsync.
 * - deliver: MB/s of `sealNow()` to s3rver (bench/deliver.ts) vs a raw lib-storage Upload.
 * - reconcile: seconds of `reconcileRange(..., { deep: true })` of the hour (count, the object
 *   read back, gunzipped and every `_id` checked, MongoDB's `_id`s of the hour compared) vs a bare
 *   gunzip + JSON.parse of every line of the same object.
 * - backfill: events/s of `repairHour(..., 'backfill')` vs a raw find() + gzip (bench/backfill.ts).
 * - restore: documents/s of `restoreRange` into a new collection vs bare unordered insertMany
 *   batches of 5,000 of the same documents (generated, not decoded: bounded memory at 10M); the
 *   hour's own collection is dropped first, so that the emulator holds one copy at a time.
 *
 * Every row's cost per document (µs) at every size is in `details` (`<row>.<size>.us`, and
 * `.baseUs` for its baseline); the figure is the worst growth of the archiver's own per-document
 * CPU cost (this process: the step, zlib's threads, the driver; the emulator's and s3rver's CPU
 * in `allGrowth` beside it) over the
 * rows: cost per document at the largest size / at 100k (at the smallest size when the largest is
 * 100k or less); the baseline is the same growth of the baselines (how much of it the machine and
 * the emulator make on their own). Target: figure ≤ 1.2.
 *
 * The hour's documents come from bench/lib/hour-stream.ts (bounded memory) and are inserted once
 * per size into the emulator (untimed), in a collection with an index on `createdAt`; one
 * emulator and one s3rver serve all sizes.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { copyFile, mkdir, open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import type { S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { MongoClient } from 'mongodb';
import type { Config } from '../src/config/index.js';
import { createArchiver } from '../src/archiver.js';
import { openSharedContext } from '../src/archive-context.js';
import { reconcileRange } from '../src/reconcile/reconcile.js';
import { restoreRange } from '../src/ops/restore/restore.js';
import { fetchVerifiedParts, removeParts } from '../src/ops/restore/verified-objects.js';
import { readManifest } from '../src/seal/manifest.js';
import { repairHour } from '../src/seal/rebuild.js';
import { factsPath } from '../src/spool/facts-file.js';
import { spoolLayout } from '../src/spool/spool-files.js';
import type { Benchmark, BenchContext, BenchOutput, RunSample } from './lib/types.js';
import { BENCH_HOUR, HOUR, benchConfig, freshDir, quietLog, settle } from './lib/common.js';
import { HourStream, warmIndexKeys } from './lib/hour-stream.js';
import { cpuSecondsOf, ownCpuSeconds, startEmulatorProcess } from './lib/emulator-process.js';
import { archiverRun, baselineRun } from './spool.js';
import { rawS3Client, startS3rver } from './lib/s3rver-process.js';
import type { S3Info } from './lib/s3rver-process.js';
import { baselineExport } from './backfill.js';

export const SCALE_SIZES = [10_000, 100_000, 1_000_000, 10_000_000];
const QUICK_SIZES = [1_000, 4_000];
const REFERENCE = 100_000;
const ROWS = ['spool', 'seal', 'deliver', 'reconcile', 'backfill', 'restore'] as const;
type Row = (typeof ROWS)[number];
const INSERT_BATCH = 10_000;
const RESTORE_BASELINE_BATCH = 5_000;

/** `10k`, `1m`, `10M`, `100000` → a document count. */
export function label(n: number): string {
  return n >= 1_000_000 && n % 1_000_000 === 0 ? `${n / 1_000_000}m` : n >= 1_000 && n % 1_000 === 0 ? `${n / 1_000}k` : String(n);
}

/** The sizes a run measures: every scale size up to the hour size (default 100k). */
export function scaleSizes(ctx: Pick<BenchContext, 'profile' | 'hourSize'>): number[] {
  if (ctx.profile === 'quick') return QUICK_SIZES;
  const largest = ctx.hourSize ?? REFERENCE;
  const sizes = SCALE_SIZES.filter((s) => s <= largest);
  if (!sizes.includes(largest)) sizes.push(largest);
  return sizes;
}

/** One pair: the archiver's seconds and the baseline's, their CPU seconds, and the row's own unit figures. */
interface Pair {
  archiver: number;
  baseline: number;
  /** CPU seconds of the bench process (all threads), the emulator and s3rver during each side's timed section. */
  archiverCpu: number;
  baselineCpu: number;
  /** The same, of the bench process alone (the archiver's own share, without the emulator and s3rver). */
  archiverOwnCpu: number;
  baselineOwnCpu: number;
  /** The row's figure and baseline in its own unit (events/s, s, MB/s, documents/s). */
  figure: number;
  base: number;
}

/** CPU seconds used so far by the processes doing the work (this one, the emulator, s3rver). */
let cpuNow: () => Promise<number> = () => Promise.resolve(ownCpuSeconds());
/** CPU seconds of the last `timed` section. */
let lastCpu = 0;
/** CPU seconds of this process alone in the last `timed` section. */
let lastOwnCpu = 0;

/**
 * Runs `a` and `b` in alternating order (run index `i`), each after a garbage collection;
 * returns their seconds and the CPU seconds of their timed sections.
 */
async function paired(i: number, a: () => Promise<number>, b: () => Promise<number>): Promise<{ a: number; b: number; cpuA: number; cpuB: number; ownA: number; ownB: number }> {
  const out = { a: 0, b: 0, cpuA: 0, cpuB: 0, ownA: 0, ownB: 0 };
  for (const which of i % 2 === 0 ? ['a', 'b'] : ['b', 'a']) {
    await settle();
    if (which === 'a') {
      out.a = await a();
      out.cpuA = lastCpu;
      out.ownA = lastOwnCpu;
    } else {
      out.b = await b();
      out.cpuB = lastCpu;
      out.ownB = lastOwnCpu;
    }
  }
  return out;
}

/** Seconds of `fn`; its CPU seconds (all processes of cpuNow) in `lastCpu`. */
async function timed(fn: () => Promise<void>): Promise<number> {
  const c0 = await cpuNow();
  const o0 = ownCpuSeconds();
  const t0 = performance.now();
  await fn();
  const seconds = (performance.now() - t0) / 1000;
  lastOwnCpu = ownCpuSeconds() - o0;
  lastCpu = (await cpuNow()) - c0;
  return seconds;
}

/** Copies `from` to `to` computing its SHA-256, then fsyncs: the least a seal does with a file. */
async function bareCopy(from: string, to: string): Promise<void> {
  const hash = createHash('sha256');
  const fh = await open(to, 'w');
  try {
    const out = createWriteStream('', { fd: fh.fd, autoClose: false });
    await pipeline(
      createReadStream(from, { highWaterMark: 1024 * 1024 }),
      async function* (source: AsyncIterable<Buffer>) {
        for await (const chunk of source) {
          hash.update(chunk);
          yield chunk;
        }
      },
      out,
    );
    await fh.sync();
  } finally {
    await fh.close();
  }
  hash.digest('hex');
}

/** Gunzips the object and JSON.parses every line; returns the lines. */
async function bareParse(path: string): Promise<number> {
  let n = 0;
  const lines = createInterface({ input: createReadStream(path, { highWaterMark: 1024 * 1024 }).pipe(createGunzip()), crlfDelay: Infinity });
  for await (const line of lines) {
    if (line.length === 0) continue;
    JSON.parse(line);
    n++;
  }
  return n;
}

/** Places the hour's file and its facts where an archiver of `config` seals from. */
async function placeForSeal(config: Config, db: string, file: string): Promise<void> {
  const sealed = spoolLayout(config.spoolDirectory, `${db}.${config.collections.apiLogsCollectionName}`).sealed;
  await mkdir(sealed, { recursive: true });
  const name = file.slice(file.lastIndexOf('/') + 1);
  await copyFile(file, join(sealed, name));
  await copyFile(factsPath(file), factsPath(join(sealed, name)));
}

/** Untimed seconds around the seals (archiver start-up and close), by size label: where a slow pair's time goes. */
const sealOverhead = new Map<string, number>();

async function sealOnce(config: Config, client: MongoClient, db: string, file: string, count: number, tag: string): Promise<number> {
  await placeForSeal(config, db, file);
  const s0 = performance.now();
  const archiver = await createArchiver(config, { client, log: quietLog, schedule: false });
  try {
    await archiver.start();
    sealOverhead.set(`${tag}.startSeconds`, (performance.now() - s0) / 1000);
    await settle();
    let report: Awaited<ReturnType<typeof archiver.sealNow>> | undefined;
    const seconds = await timed(async () => {
      report = await archiver.sealNow();
    });
    if (!report) throw new Error('no seal report');
    const hour = report.hours[0];
    if (report.failed > 0 || hour?.status !== 'delivered' || hour.count !== count) throw new Error(`seal did not deliver the hour: ${JSON.stringify(report.hours)}`);
    return seconds;
  } finally {
    const c0 = performance.now();
    await archiver.close();
    sealOverhead.set(`${tag}.closeSeconds`, (performance.now() - c0) / 1000);
  }
}

interface SizeResult {
  size: number;
  insertSeconds: number;
  objectBytes: number;
  /** Per run, per row. */
  runs: Array<Record<Row, Pair>>;
}

/**
 * Paired runs per size: one in the default bench (its budget is ~90 s; one run of the six rows at
 * 10k and 100k took 100 s here at a load average of ~20 on 2 cores, before the createdAt index
 * spared the archivers' first-hour scans), `--runs` when an `--hour-size` is given.
 */
export function scaleRuns(ctx: Pick<BenchContext, 'profile' | 'hourSize' | 'runs'>): number {
  return ctx.hourSize === undefined ? 1 : ctx.runs;
}

async function measureSize(
  ctx: BenchContext,
  size: number,
  env: { uri: string; client: MongoClient; s3: S3Info; raw: S3Client },
): Promise<SizeResult> {
  const tag = label(size);
  const db = `bench_scale_${tag}`;
  const stream = new HourStream(size, BENCH_HOUR, BENCH_HOUR + HOUR);
  const source = { count: size, doc: (i: number) => stream.doc(i) };
  const { client } = env;
  const coll = client.db(db).collection('apilogs');
  // An index on the timestamp, as a deployment's API-log collection has (for its TTL, or its
  // queries by time). Without one, the emulator answers the first start of an archiver (its
  // first-hour query of the current hour) by decoding the whole collection: 75 s of untimed
  // set-up per size at 1M documents. A plain index: a TTL index would expire these 2024 hours.
  const insertHour = async (): Promise<number> => {
    await coll.createIndex({ createdAt: 1 });
    ctx.log(`scale ${tag}: inserting the hour into the emulator`);
    const seconds = await timed(async () => {
      for (let i = 0; i < size; i += INSERT_BATCH) {
        await coll.insertMany(stream.batch(i, INSERT_BATCH), { ordered: false });
        if (size >= 1_000_000 && (i / INSERT_BATCH) % 100 === 99) ctx.log(`scale ${tag}: inserted ${i + INSERT_BATCH}`);
      }
    });
    ctx.log(`scale ${tag}: inserted in ${seconds.toFixed(1)} s`);
    await warmIndexKeys(coll, BENCH_HOUR);
    return seconds;
  };
  const insertSeconds = await insertHour();
  const out: SizeResult = { size, insertSeconds, objectBytes: 0, runs: [] };
  const runs = scaleRuns(ctx);
  const slot = { from: BENCH_HOUR, to: BENCH_HOUR + HOUR };
  try {
    for (let i = 0; i < runs; i++) {
      const dir = await freshDir(ctx.dir, `${tag}-${i}`);
      const run = {} as Record<Row, Pair>;
      const note = (row: Row, p: Pair): void => {
        run[row] = p;
        ctx.log(
          `scale ${tag} run ${i + 1}/${runs}: ${row} ${(p.archiver / size * 1e6).toFixed(2)} vs ${(p.baseline / size * 1e6).toFixed(2)} µs/document ` +
            `(CPU ${(p.archiverCpu / size * 1e6).toFixed(2)} vs ${(p.baselineCpu / size * 1e6).toFixed(2)})`,
        );
      };

      // spool: its file is the hour the next rows seal.
      let file = '';
      let fileBytes = 0;
      const spool = await paired(
        i,
        async () => {
          const d = await freshDir(dir, 'spool-archiver');
          const c0 = await cpuNow();
          const o0 = ownCpuSeconds();
          const a = await archiverRun(source, d, { keep: true });
          lastOwnCpu = ownCpuSeconds() - o0;
          lastCpu = (await cpuNow()) - c0;
          file = a.path!;
          fileBytes = a.bytes;
          return a.seconds;
        },
        async () => {
          const d = await freshDir(dir, 'spool-baseline');
          const c0 = await cpuNow();
          const o0 = ownCpuSeconds();
          const b = await baselineRun(source, d);
          lastOwnCpu = ownCpuSeconds() - o0;
          lastCpu = (await cpuNow()) - c0;
          await rm(d, { recursive: true, force: true });
          return b.seconds;
        },
      );
      note('spool', { archiver: spool.a, baseline: spool.b, archiverCpu: spool.cpuA, baselineCpu: spool.cpuB, archiverOwnCpu: spool.ownA, baselineOwnCpu: spool.ownB, figure: size / spool.a, base: size / spool.b });
      out.objectBytes = fileBytes;

      // seal to a local directory.
      const config = benchConfig(env.uri, db, join(dir, 'sealed-archive'), { collections: { jobsCollectionName: `jobs_${i}`, logsCollectionName: `logs_${i}` } });
      const seal = await paired(
        i,
        () => sealOnce(config, client, db, file, size, `seal.${tag}`),
        () => timed(() => bareCopy(file, join(dir, 'bare-copy.gz'))),
      );
      await rm(join(dir, 'bare-copy.gz'), { force: true });
      note('seal', { archiver: seal.a, baseline: seal.b, archiverCpu: seal.cpuA, baselineCpu: seal.cpuB, archiverOwnCpu: seal.ownA, baselineOwnCpu: seal.ownB, figure: seal.a, base: seal.b });

      // deliver to s3rver.
      const s3config = benchConfig(env.uri, db, join(dir, 's3-archiver'), {
        uploadProvider: 's3',
        outputDirectory: `scale-${tag}-run${i}`,
        collections: { jobsCollectionName: `s3jobs_${i}`, logsCollectionName: `s3logs_${i}` },
        s3: {
          bucket: env.s3.bucket,
          region: env.s3.region,
          endpoint: env.s3.endpoint,
          forcePathStyle: true,
          accessKeyId: env.s3.accessKeyId,
          secretAccessKey: env.s3.secretAccessKey,
          partSizeMB: 8,
          queueSize: 4,
        },
      });
      const del = await paired(
        i,
        () => sealOnce(s3config, client, db, file, size, `deliver.${tag}`),
        () =>
          timed(async () => {
            const upload = new Upload({
              client: env.raw,
              params: { Bucket: env.s3.bucket, Key: `raw-scale/${tag}/run${i}`, Body: createReadStream(file, { highWaterMark: 1024 * 1024 }), ContentLength: fileBytes },
              partSize: 8 * 1024 * 1024,
              queueSize: 4,
              leavePartsOnError: false,
            });
            await upload.done();
          }),
      );
      note('deliver', { archiver: del.a, baseline: del.b, archiverCpu: del.cpuA, baselineCpu: del.cpuB, archiverOwnCpu: del.ownA, baselineOwnCpu: del.ownB, figure: fileBytes / 1e6 / del.a, base: fileBytes / 1e6 / del.b });
      await rm(join(dir, 's3-archiver'), { recursive: true, force: true });

      // reconcile --deep of the sealed hour vs a bare gunzip + parse of its object.
      const shared = openSharedContext(config, client, quietLog);
      try {
        const manifestKey = shared.keys.manifestKey(shared.clock.slotAt(BENCH_HOUR));
        const manifest = await readManifest(shared.destination, manifestKey);
        if (!manifest) throw new Error('no manifest after the seal');
        const parts = await fetchVerifiedParts(shared.destination, manifestKey, manifest.parts, dir);
        const rec = await paired(
          i,
          () =>
            timed(async () => {
              const rows = await reconcileRange(shared, shared.clock, { ...slot, deep: true });
              if (rows.length !== 1 || rows[0]!.status !== 'ok') throw new Error(`reconcile --deep: ${JSON.stringify(rows)}`);
            }),
          () =>
            timed(async () => {
              let n = 0;
              for (const { path } of parts) n += await bareParse(path);
              if (n !== size) throw new Error(`the bare parse read ${n} lines, expected ${size}`);
            }),
        );
        await removeParts(parts);
        note('reconcile', { archiver: rec.a, baseline: rec.b, archiverCpu: rec.cpuA, baselineCpu: rec.cpuB, archiverOwnCpu: rec.ownA, baselineOwnCpu: rec.ownB, figure: rec.a, base: rec.b });
      } finally {
        await shared.close();
      }

      // backfill: the hour exported by query, never archived under these ledger names.
      const bconfig = benchConfig(env.uri, db, join(dir, 'backfill'), { collections: { jobsCollectionName: `bjobs_${i}`, logsCollectionName: `blogs_${i}` } });
      const bshared = openSharedContext(bconfig, client, quietLog);
      try {
        const bf = await paired(
          i,
          () =>
            timed(async () => {
              const r = await repairHour(bshared, bshared.clock.slotAt(BENCH_HOUR), 'backfill');
              if (r.count !== size) throw new Error(`repairHour exported ${r.count} documents, expected ${size}`);
            }),
          () =>
            timed(async () => {
              const n = await baselineExport(coll, join(dir, 'baseline-export.ndjson.gz'));
              if (n !== size) throw new Error(`the raw find() exported ${n} documents, expected ${size}`);
            }),
        );
        note('backfill', { archiver: bf.a, baseline: bf.b, archiverCpu: bf.cpuA, baselineCpu: bf.cpuB, archiverOwnCpu: bf.ownA, baselineOwnCpu: bf.ownB, figure: size / bf.a, base: size / bf.b });
      } finally {
        await bshared.close();
      }

      // restore from the sealed archive vs bare insertMany batches. The hour's collection is
      // dropped first and each side's collection after it (untimed): the emulator holds one copy
      // of the hour at a time (at 10M documents a copy is ~10 GB of its memory); the hour is
      // inserted again for a next run.
      await coll.drop();
      const rshared = openSharedContext(config, client, quietLog);
      try {
        const res = await paired(
          i,
          async () => {
            const target = client.db(db).collection(`restored_${i}`);
            const seconds = await timed(async () => {
              const r = await restoreRange(rshared, { ...slot, target, targetNamespace: `${db}.restored_${i}` });
              if (r.totals.restored !== size) throw new Error(`restored ${r.totals.restored} documents, expected ${size}`);
            });
            await target.drop();
            return seconds;
          },
          async () => {
            const target = client.db(db).collection(`baseline_${i}`);
            const seconds = await timed(async () => {
              let n = 0;
              for (let k = 0; k < size; k += RESTORE_BASELINE_BATCH) n += (await target.insertMany(stream.batch(k, RESTORE_BASELINE_BATCH), { ordered: false })).insertedCount;
              if (n !== size) throw new Error(`insertMany inserted ${n}, expected ${size}`);
            });
            await target.drop();
            return seconds;
          },
        );
        note('restore', { archiver: res.a, baseline: res.b, archiverCpu: res.cpuA, baselineCpu: res.cpuB, archiverOwnCpu: res.ownA, baselineOwnCpu: res.ownB, figure: size / res.a, base: size / res.b });
      } finally {
        await rshared.close();
      }
      if (i + 1 < runs) await insertHour();
      await rm(dir, { recursive: true, force: true });
      out.runs.push(run);
    }
  } finally {
    await client.db(db).dropDatabase();
  }
  return out;
}

export const scaleBenchmark: Benchmark = {
  name: 'scale',
  title: 'per-document cost of every per-hour step as the hour grows',
  unit: 'growth',
  better: 'lower',
  figure: 'worst growth over the rows (spool, seal, deliver, reconcile --deep, backfill, restore) of the archiver\'s CPU cost per document (this process, the emulator, s3rver): at the largest size / at 100k (at the smallest size when the largest is 100k)',
  baseline: 'the same growth of the baselines of the rows (bare gzip, copy, upload, gunzip+parse, find+gzip, insertMany)',
  target: { text: 'growth <= 1.2 (per-document cost at the largest hour within 1.2x of 100k)', checks: [{ on: 'figure', op: '<=', value: 1.2 }] },
  async run(ctx: BenchContext): Promise<BenchOutput> {
    const sizes = scaleSizes(ctx);
    const largest = sizes[sizes.length - 1]!;
    const reference = largest > REFERENCE && sizes.includes(REFERENCE) ? REFERENCE : sizes[0]!;
    const s3 = await startS3rver();
    // The emulator holds one copy of the hour at a time (the restore row drops the hour first):
    // 0.8-1.1 KB of RSS per stored document (870 MB holding a 1M hour, 3.35 GB holding a 3M hour
    // with its createdAt and _id index keys), of which ~0.4 KB the BSON (outside the V8 heap): a
    // 10M hour needs ~11 GB. The heap limit is a cap, set above that.
    const emu = await startEmulatorProcess({
      oplogSize: 10_000,
      // Decoded documents are not kept: the emulator's memory stays about 1.1 KB a document.
      leanDocuments: true,
      maxOldSpaceMiB: Math.max(8192, Math.ceil((largest * 1536) / 2 ** 30) * 1024),
      ...(ctx.cpuProfDir ? { cpuProfDir: ctx.cpuProfDir } : {}),
    });
    // The emulator answers reconcile's count per hour in slices with its event loop free between
    // them (it used to stall for tens of seconds at 1M documents). One stall is left: the first
    // query by an indexed field sorts that field's keys over the whole collection in one go
    // (~13 µs a document at load 17; over the driver's 30 s monitor timeout at 10M). Each size's
    // hour warms its keys up (untimed) after the insert, and this client waits that out.
    const client = new MongoClient(emu.uri, { serverSelectionTimeoutMS: 3_600_000, connectTimeoutMS: 0, socketTimeoutMS: 0 });
    await client.connect();
    cpuNow = async () => ownCpuSeconds() + (await cpuSecondsOf(emu.pid)) + (await cpuSecondsOf(s3.pid));
    const raw = rawS3Client(s3.info);
    const results: SizeResult[] = [];
    try {
      for (const size of sizes) results.push(await measureSize(ctx, size, { uri: emu.uri, client, s3: s3.info, raw }));
    } finally {
      raw.destroy();
      await client.close();
      await emu.close();
      await s3.close();
    }
    const emulatorPeak = await emu.peakRssMiB();
    const bySize = new Map(results.map((r) => [r.size, r]));
    const samples: RunSample[] = [];
    const runs = scaleRuns(ctx);
    for (let i = 0; i < runs; i++) {
      const details: Record<string, number> = {};
      let worst = 0;
      let worstBase = 0;
      for (const r of results) {
        for (const row of ROWS) {
          const p = r.runs[i]![row];
          const t = label(r.size);
          details[`${row}.${t}.us`] = (p.archiver / r.size) * 1e6;
          details[`${row}.${t}.baseUs`] = (p.baseline / r.size) * 1e6;
          details[`${row}.${t}.cpuUs`] = (p.archiverCpu / r.size) * 1e6;
          details[`${row}.${t}.baseCpuUs`] = (p.baselineCpu / r.size) * 1e6;
          details[`${row}.${t}.ownCpuUs`] = (p.archiverOwnCpu / r.size) * 1e6;
          details[`${row}.${t}.baseOwnCpuUs`] = (p.baselineOwnCpu / r.size) * 1e6;
          details[`${row}.${t}.figure`] = p.figure;
          details[`${row}.${t}.baseline`] = p.base;
          details[`${row}.${t}.ratio`] = p.figure / p.base;
        }
      }
      const big = bySize.get(largest)!.runs[i]!;
      const ref = bySize.get(reference)!.runs[i]!;
      for (const row of ROWS) {
        // On CPU time (this process, the emulator, s3rver): wall time on a shared machine moves
        // with the load more than the work; the wall-clock growth is reported beside it.
        // (On wall time when a side used less CPU than /proc resolves: tiny --quick hours.)
        const grow = (b: number, r: number, bWall: number, rWall: number): number => (b > 0 && r > 0 ? b / largest / (r / reference) : bWall / largest / (rWall / reference));
        // The figure: the archiver's own CPU (this process: the step's code, zlib's threads, the
        // driver); what the emulator and s3rver spend serving it is beside it (`allGrowth`).
        const growth = grow(big[row].archiverOwnCpu, ref[row].archiverOwnCpu, big[row].archiver, ref[row].archiver);
        const baseGrowth = grow(big[row].baselineOwnCpu, ref[row].baselineOwnCpu, big[row].baseline, ref[row].baseline);
        details[`${row}.growth`] = growth;
        details[`${row}.baseGrowth`] = baseGrowth;
        details[`${row}.allGrowth`] = grow(big[row].archiverCpu, ref[row].archiverCpu, big[row].archiver, ref[row].archiver);
        details[`${row}.baseAllGrowth`] = grow(big[row].baselineCpu, ref[row].baselineCpu, big[row].baseline, ref[row].baseline);
        details[`${row}.wallGrowth`] = big[row].archiver / largest / (ref[row].archiver / reference);
        details[`${row}.baseWallGrowth`] = big[row].baseline / largest / (ref[row].baseline / reference);
        worst = Math.max(worst, growth);
        worstBase = Math.max(worstBase, baseGrowth);
      }
      if (i === runs - 1) for (const [k, v] of sealOverhead) details[`untimed.${k}`] = v;
      samples.push({ figure: worst, baseline: worstBase, details });
    }
    return {
      samples,
      sizes: {
        hours: sizes.map(label).join(','),
        reference: label(reference),
        largest: label(largest),
        ...Object.fromEntries(results.flatMap((r) => [
          [`${label(r.size)}.insertSeconds`, Math.round(r.insertSeconds * 10) / 10],
          [`${label(r.size)}.objectBytes`, r.objectBytes],
        ])),
        ...(emulatorPeak !== undefined ? { emulatorPeakRssMiB: Math.round(emulatorPeak) } : {}),
      },
      notes: [
        'details: `<row>.<size>.us` is the archiver\'s cost per document (µs, wall clock) of the row at that hour size, `.baseUs` its baseline\'s, `.cpuUs`/`.baseCpuUs` the same in CPU time (this process with all its threads, the emulator and s3rver, from /proc; 10 ms resolution), `.ownCpuUs`/`.baseOwnCpuUs` in CPU time of this process alone (the archiver\'s own share); `.figure`/`.baseline` the row in its own unit (spool/backfill events/s, seal/reconcile s, deliver MB/s, restore documents/s), `.ratio` figure/baseline; `<row>.growth` the archiver\'s own CPU cost per document at the largest size over the reference size (the figure is the worst of them), `<row>.baseGrowth` the same for its baseline, `.allGrowth`/`.baseAllGrowth` the same with the emulator\'s and s3rver\'s CPU included, `.wallGrowth`/`.baseWallGrowth` the same on wall time.',
        'The hour\'s documents are a stream (bench/lib/hour-stream.ts): a pool of 50,000 generated documents cycled, each copy with its own ObjectId (time = createdAt second); both sides of a pair read the same stream.',
        'seal and deliver seal the spool row\'s own file (closed as the tailer closes an hour, facts sidecar included); reconcile --deep and restore read the seal row\'s object; backfill exports the hour again under fresh ledger collections.',
        'One emulator (oplog of 10,000 entries) and one s3rver serve every size; each size\'s database is dropped after it.',
      ],
    };
  },
};
