/**
 * backfill: exporting a past hour by query to a delivered object.
 *
 * The emulator (its own process) holds the hour's documents plus a tenth as many in the hours
 * around it (inserted once, untimed).
 *
 * Measured: `repairHour(ctx, slot, 'backfill')` (what backfill and reconcile --repair run per
 * hour; for an hour never archived it exports all of it): the hour's query ($or of the timestamp range and the ObjectId fallback, sorted by
 * timestamp and _id), the analytics line encoder, gzip (level 6) into a temp file, the scan of
 * that file (count, duplicate check, SHA-256), delivery to a local-directory destination (temp
 * + fsync + rename), manifest and ledger. Events/s = the hour's documents / seconds.
 * Baseline: a raw driver find() of the same hour ({ createdAt: { $gte, $lt } }, batchSize
 * 1000) that only JSON.stringifies each document and writes them, 1000 lines per chunk, into one
 * zlib gzip stream (level 6) into a file.
 */
import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { MongoClient } from 'mongodb';
import type { Collection, Document } from 'mongodb';
import { openSharedContext } from '../src/archive-context.js';
import { repairHour } from '../src/seal/rebuild.js';
import type { Benchmark, BenchContext, BenchOutput, RunSample } from './lib/types.js';
import { BENCH_HOUR, HOUR, benchConfig, freshDir, quietLog } from './lib/common.js';
import { insertGenerated } from './lib/documents.js';
import { startEmulatorProcess } from './lib/emulator-process.js';

const DB = 'bench_backfill';

export async function baselineExport(coll: Collection<Document>, path: string): Promise<number> {
  let n = 0;
  const cursor = coll.find({ createdAt: { $gte: new Date(BENCH_HOUR), $lt: new Date(BENCH_HOUR + HOUR) } }, { batchSize: 1000 });
  async function* chunks(): AsyncGenerator<string> {
    let lines: string[] = [];
    for await (const doc of cursor) {
      n++;
      lines.push(JSON.stringify(doc));
      if (lines.length === 1000) {
        yield `${lines.join('\n')}\n`;
        lines = [];
      }
    }
    if (lines.length > 0) yield `${lines.join('\n')}\n`;
  }
  await pipeline(Readable.from(chunks()), createGzip({ level: 6 }), createWriteStream(path));
  return n;
}

export const backfillBenchmark: Benchmark = {
  name: 'backfill',
  title: 'export a past hour by query to a delivered object',
  unit: 'events/s',
  better: 'higher',
  figure: 'events/s of repairHour (query sorted by timestamp, encode, gzip, scan, deliver to a local directory, manifest, ledger)',
  baseline: 'events/s of a raw driver find() of the hour that only JSON.stringifies and gzips (level 6, 1000-line chunks) into a file',
  target: { text: 'ratio >= 0.7', checks: [{ on: 'ratio', op: '>=', value: 0.7 }] },
  async run(ctx: BenchContext): Promise<BenchOutput> {
    const count = ctx.profile === 'quick' ? 3_000 : 50_000;
    const around = Math.round(count / 10);
    const emu = await startEmulatorProcess({ oplogSize: count + around + 10_000, ...(ctx.cpuProfDir ? { cpuProfDir: ctx.cpuProfDir } : {}) });
    const client = new MongoClient(emu.uri);
    await client.connect();
    const samples: RunSample[] = [];
    try {
      const coll = client.db(DB).collection('apilogs');
      ctx.log(`backfill: inserting ${count} documents in the hour and ${around} around it`);
      await insertGenerated(coll, count, BENCH_HOUR, BENCH_HOUR + HOUR, { seed: 8 });
      await insertGenerated(coll, around / 2, BENCH_HOUR - HOUR, BENCH_HOUR, { seed: 9 });
      await insertGenerated(coll, around / 2, BENCH_HOUR + HOUR, BENCH_HOUR + 2 * HOUR, { seed: 10 });
      for (let i = 0; i < ctx.runs; i++) {
        const dir = await freshDir(ctx.dir, `backfill-${i}`);
        const config = benchConfig(emu.uri, DB, dir, {
          collections: { jobsCollectionName: `jobs_${i}`, logsCollectionName: `logs_${i}` },
        });
        const shared = openSharedContext(config, client, quietLog);
        let archiverSeconds = 0;
        let baselineSeconds = 0;
        try {
          for (const which of i % 2 === 0 ? ['archiver', 'baseline'] : ['baseline', 'archiver']) {
            const t0 = performance.now();
            if (which === 'archiver') {
              const r = await repairHour(shared, shared.clock.slotAt(BENCH_HOUR), 'backfill');
              archiverSeconds = (performance.now() - t0) / 1000;
              if (r.count !== count) throw new Error(`repairHour exported ${r.count} documents, expected ${count}`);
            } else {
              const n = await baselineExport(coll, join(dir, 'baseline.ndjson.gz'));
              baselineSeconds = (performance.now() - t0) / 1000;
              if (n !== count) throw new Error(`the raw find() exported ${n} documents, expected ${count}`);
            }
          }
        } finally {
          await shared.close();
        }
        await rm(dir, { recursive: true, force: true });
        samples.push({ figure: count / archiverSeconds, baseline: count / baselineSeconds, details: { archiverSeconds, baselineSeconds } });
        ctx.log(`backfill: run ${i + 1}/${ctx.runs}: ${Math.round(count / archiverSeconds)} vs ${Math.round(count / baselineSeconds)} events/s`);
      }
    } finally {
      await client.close();
      await emu.close();
    }
    return {
      samples,
      sizes: { hourDocuments: count, documentsAround: around, collectionDocuments: count + around },
      notes: ['The emulator answers find() by scanning the collection (no index use); both sides scan the same collection.'],
    };
  },
};
