/**
 * reconcile: time to reconcile a day (24 hours) against one raw aggregation counting per hour.
 *
 * The day's documents are inserted once (insertMany, batches of 10,000) into the emulator (its
 * own process), spread uniformly over 2024-01-15 UTC. The archive of the day is written
 * directly, untimed, to a local-directory destination: for each hour a manifest with the true
 * count of the hour and a small placeholder object at the hour's data key. Reconcile without
 * --deep reads only manifests and HEADs the objects, so what it does (and its time) is the same
 * as with the real objects; every hour must come out `ok`, which checks the counts.
 *
 * Measured: `reconcileRange(ctx, clock, { from, to })` over the day (one countPerHour
 * aggregation and the TTL lookup, while one ledger read for the day and a manifest read, object
 * HEAD and listing per hour run; then the 24 verdicts in one ledger write per day document and
 * one insert of 24 operation records). `bench/extmem/reconcile-steps.ts` times each kind of
 * round trip alone. Baseline: one raw aggregation over the same range:
 * { $match: { createdAt: { $gte, $lt } } }, { $group: { _id: { $dateTrunc: hour }, n: { $sum: 1 } } }.
 */
import { createHash } from 'node:crypto';
import { MongoClient } from 'mongodb';
import type { Collection, Document } from 'mongodb';
import { openSharedContext } from '../src/archive-context.js';
import type { SharedContext } from '../src/archive-context.js';
import { countPerHour } from '../src/reconcile/mongo-counts.js';
import { reconcileRange } from '../src/reconcile/reconcile.js';
import { writeManifest } from '../src/seal/manifest.js';
import { apiLogsBetween, rng } from '@cron-log-service/mongo-emulator/traffic';
import type { Benchmark, BenchContext, BenchOutput, RunSample } from './lib/types.js';
import { BENCH_DAY, HOUR, benchConfig, freshDir, quietLog } from './lib/common.js';
import { startEmulatorProcess } from './lib/emulator-process.js';

const DB = 'bench_reconcile';

/** Inserts `count` documents spread over the day; returns the count of each hour (by start ms). */
async function insertDay(coll: Collection<Document>, count: number, log: (m: string) => void): Promise<{ perHour: Map<number, number>; seconds: number }> {
  const r = rng(5);
  const perHour = new Map<number, number>();
  const t0 = performance.now();
  // One batch in flight while the next is generated (this process and the emulator's work overlap).
  let inFlight: Promise<unknown> = Promise.resolve();
  for (let i = 0; i < count; i += 10_000) {
    const docs = apiLogsBetween(r, Math.min(10_000, count - i), BENCH_DAY, BENCH_DAY + 24 * HOUR);
    for (const d of docs) {
      const h = d.createdAt.getTime() - (d.createdAt.getTime() % HOUR);
      perHour.set(h, (perHour.get(h) ?? 0) + 1);
    }
    await inFlight;
    inFlight = coll.insertMany(docs, { ordered: false });
    if ((i / 10_000) % 25 === 24) log(`reconcile: inserted ${i + 10_000}`);
  }
  await inFlight;
  return { perHour, seconds: (performance.now() - t0) / 1000 };
}

async function writeArchive(ctx: SharedContext, perHour: Map<number, number>): Promise<void> {
  for (const slot of ctx.clock.slotsBetween(BENCH_DAY, BENCH_DAY + 24 * HOUR)) {
    const key = ctx.keys.dataKey(slot, { index: 1, revision: 0 });
    const body = Buffer.from(`placeholder for ${slot.id}\n`);
    const sha256 = createHash('sha256').update(body).digest('hex');
    await ctx.destination.put({ key, source: { body }, size: body.length, sha256, contentType: 'application/x-ndjson' });
    await writeManifest(ctx, slot, [
      {
        key,
        part: 1,
        revision: 0,
        count: perHour.get(slot.start) ?? 0,
        bytes: body.length,
        sha256,
        firstTimestamp: null,
        lastTimestamp: null,
        duplicatesRemoved: 0,
        sealedAt: new Date().toISOString(),
      },
    ]);
  }
}

async function rawCount(coll: Collection<Document>): Promise<Map<number, number>> {
  const out = new Map<number, number>();
  const rows = coll.aggregate<{ _id: Date; n: number }>([
    { $match: { createdAt: { $gte: new Date(BENCH_DAY), $lt: new Date(BENCH_DAY + 24 * HOUR) } } },
    { $group: { _id: { $dateTrunc: { date: '$createdAt', unit: 'hour' } }, n: { $sum: 1 } } },
  ]);
  for await (const row of rows) out.set(row._id.getTime(), row.n);
  return out;
}

export const reconcileBenchmark: Benchmark = {
  name: 'reconcile',
  title: 'reconcile a day (24 hours) vs one raw per-hour count aggregation',
  unit: 's',
  better: 'lower',
  figure: 'seconds of reconcileRange over the 24 hours of the day (counts per hour + manifests + ledger + operation log)',
  baseline: 'seconds of one raw aggregation counting documents per hour over the same range ($match on createdAt, $group by $dateTrunc hour)',
  target: { text: 'ratio <= 1.2', checks: [{ on: 'ratio', op: '<=', value: 1.2 }] },
  async run(ctx: BenchContext): Promise<BenchOutput> {
    // The default day holds 500,000 documents (about 35 s less of the default run: the inserts
    // and every aggregation scale with it); --full: the 1,000,000 of the issue. The fixed part of
    // reconcile (24 manifests, HEADs, ledger and operation records) weighs twice as much in the
    // smaller day, which only makes the ratio's target harder.
    const count = ctx.profile === 'quick' ? 5_000 : ctx.profile === 'full' ? 1_000_000 : 500_000;
    const emu = await startEmulatorProcess({ oplogSize: count + 10_000, ...(ctx.cpuProfDir ? { cpuProfDir: ctx.cpuProfDir } : {}) });
    const client = new MongoClient(emu.uri);
    await client.connect();
    const samples: RunSample[] = [];
    const dir = await freshDir(ctx.dir, 'reconcile');
    const config = benchConfig(emu.uri, DB, dir);
    const shared = openSharedContext(config, client, quietLog);
    let insertSeconds = 0;
    try {
      const coll = client.db(DB).collection(config.collections.apiLogsCollectionName);
      ctx.log(`reconcile: inserting ${count} documents over one day`);
      const day = await insertDay(coll, count, ctx.log);
      insertSeconds = day.seconds;
      await writeArchive(shared, day.perHour);
      // Untimed warm-up of the emulator: it decodes a stored document on first access and builds
      // an index on the first query that needs it, two costs a real server does not have (its
      // documents are stored decoded, its indexes maintained on write). countPerHour does both
      // (its date branch scans the collection, its ObjectId branch uses the `_id` index); the raw
      // aggregation scans the same documents and needs no index, so it needs no warm-up of its own.
      const w0 = performance.now();
      await countPerHour(coll, 'createdAt', BENCH_DAY, BENCH_DAY + 24 * HOUR, 'UTC');
      const warmupSeconds = (performance.now() - w0) / 1000;
      for (let i = 0; i < ctx.runs; i++) {
        let archiverSeconds = 0;
        let baselineSeconds = 0;
        for (const which of i % 2 === 0 ? ['archiver', 'baseline'] : ['baseline', 'archiver']) {
          const t0 = performance.now();
          if (which === 'archiver') {
            const rows = await reconcileRange(shared, shared.clock, { from: BENCH_DAY, to: BENCH_DAY + 24 * HOUR });
            archiverSeconds = (performance.now() - t0) / 1000;
            const bad = rows.filter((r) => r.status !== 'ok');
            if (rows.length !== 24 || bad.length > 0) throw new Error(`reconcile: expected 24 ok hours, got ${rows.length} (${bad.map((r) => `${r.hour}:${r.status}`).join(', ')})`);
          } else {
            const counts = await rawCount(coll);
            baselineSeconds = (performance.now() - t0) / 1000;
            const total = [...counts.values()].reduce((a, b) => a + b, 0);
            if (total !== count) throw new Error(`the raw aggregation counted ${total} documents, expected ${count}`);
          }
        }
        // Where reconcile's time goes (first run only, untimed for the figures): its one
        // aggregation (countPerHour) alone; the rest is what the archive side adds.
        const details: Record<string, number> = {};
        if (i === 0) {
          details.warmupSeconds = warmupSeconds;
          const t0 = performance.now();
          await countPerHour(coll, 'createdAt', BENCH_DAY, BENCH_DAY + 24 * HOUR, 'UTC');
          details.countPerHourOnlySeconds = (performance.now() - t0) / 1000;
        }
        samples.push({ figure: archiverSeconds, baseline: baselineSeconds, details });
        ctx.log(`reconcile: run ${i + 1}/${ctx.runs}: ${archiverSeconds.toFixed(2)} s vs ${baselineSeconds.toFixed(2)} s`);
      }
    } finally {
      await shared.close();
      await client.close();
      await emu.close();
    }
    return {
      samples,
      sizes: {
        documents: count,
        hours: 24,
        insertSeconds: Math.round(insertSeconds * 10) / 10,
      },
      notes: [
        `Day of ${count} documents.`,
        'The emulator serves the ObjectId-fallback aggregation from its `_id` index (the day\'s `_id` range holds none of these documents, inserted now), as mongod does; the date branch and the baseline scan the collection with mingo (no index on createdAt here), so both scale with the collection size.',
        'warmupSeconds (details): one untimed countPerHour before the timed runs, so the emulator has decoded every stored document and built its _id index (a real server has neither cost).',
        'countPerHourOnlySeconds (details, first run): reconcile\'s own aggregation timed alone; reconcile minus it is what the archive side adds (ledger read, 24 manifest reads + HEADs + listings while the count runs, then the ledger write and operation records).',
      ],
    };
  },
};
