/**
 * restore: archived documents back into MongoDB.
 *
 * The emulator (its own process) holds one hour of generated API-log documents, archived once
 * (untimed) in analytics mode by `repairHour` to a local-directory destination: one part, with
 * its type summary in the manifest.
 *
 * Measured: `restoreRange` (what `restore --into` runs) for that hour into a new collection: the
 * manifest read, the object fetched and its SHA-256 checked, gunzip, JSON.parse and revival of
 * every line by the type summary, unordered insertMany in batches of 5000 (two in flight while the
 * next is decoded), the `logs` record. Documents/s = the hour's documents / seconds.
 * Baseline: one bare `insertMany(docs, { ordered: false })` of the same documents, decoded
 * beforehand (untimed), into another new collection.
 */
import { MongoClient } from 'mongodb';
import type { Document } from 'mongodb';
import { openSharedContext } from '../src/archive-context.js';
import { readManifest } from '../src/seal/manifest.js';
import { repairHour } from '../src/seal/rebuild.js';
import { readGzipLines } from '../src/spool/gzip-members.js';
import { newNotes, partReviver } from '../src/ops/restore/revive.js';
import { restoreRange } from '../src/ops/restore/restore.js';
import { fetchVerifiedParts, removeParts } from '../src/ops/restore/verified-objects.js';
import type { Benchmark, BenchContext, BenchOutput, RunSample } from './lib/types.js';
import { BENCH_HOUR, HOUR, benchConfig, freshDir, quietLog } from './lib/common.js';
import { insertGenerated } from './lib/documents.js';
import { startEmulatorProcess } from './lib/emulator-process.js';

const DB = 'bench_restore';

export const restoreBenchmark: Benchmark = {
  name: 'restore',
  title: 'restore an archived hour into a new collection',
  unit: 'documents/s',
  better: 'higher',
  figure: 'documents/s of restoreRange (manifest, fetch + SHA-256 check, gunzip, parse, revive by type summary, unordered insertMany batches of 5000, logs record)',
  baseline: 'documents/s of one bare insertMany (unordered) of the same documents, decoded beforehand',
  target: { text: 'ratio >= 0.7', checks: [{ on: 'ratio', op: '>=', value: 0.7 }] },
  async run(ctx: BenchContext): Promise<BenchOutput> {
    const count = ctx.profile === 'quick' ? 2_000 : 100_000;
    const emu = await startEmulatorProcess({ oplogSize: 4 * count + 10_000, ...(ctx.cpuProfDir ? { cpuProfDir: ctx.cpuProfDir } : {}) });
    const client = new MongoClient(emu.uri);
    await client.connect();
    const samples: RunSample[] = [];
    try {
      const coll = client.db(DB).collection('apilogs');
      ctx.log(`restore: inserting and archiving ${count} documents`);
      await insertGenerated(coll, count, BENCH_HOUR, BENCH_HOUR + HOUR, { seed: 11 });
      const dir = await freshDir(ctx.dir, 'restore');
      const shared = openSharedContext(benchConfig(emu.uri, DB, dir), client, quietLog);
      try {
        const slot = shared.clock.slotAt(BENCH_HOUR);
        const archived = await repairHour(shared, slot, 'backfill');
        if (archived.count !== count) throw new Error(`archived ${archived.count} documents, expected ${count}`);
        // The baseline's documents: the same lines, revived the same way, before the clock starts.
        const manifestKey = shared.keys.manifestKey(slot);
        const manifest = await readManifest(shared.destination, manifestKey);
        if (!manifest) throw new Error('no manifest');
        const parts = await fetchVerifiedParts(shared.destination, manifestKey, manifest.parts, dir);
        const decoded: Document[] = [];
        for (const { part, path } of parts) {
          const revive = partReviver(manifest.jsonMode, part.types, manifest.timestampField, newNotes());
          for await (const line of readGzipLines(path)) decoded.push(revive(line));
        }
        await removeParts(parts);
        for (let i = 0; i < ctx.runs; i++) {
          let restoreSeconds = 0;
          let baselineSeconds = 0;
          for (const which of i % 2 === 0 ? ['restore', 'baseline'] : ['baseline', 'restore']) {
            const t0 = performance.now();
            if (which === 'restore') {
              const target = client.db(DB).collection(`restored_${i}`);
              const r = await restoreRange(shared, { from: BENCH_HOUR, to: BENCH_HOUR + HOUR, target, targetNamespace: `${DB}.restored_${i}` });
              restoreSeconds = (performance.now() - t0) / 1000;
              if (r.totals.restored !== count) throw new Error(`restored ${r.totals.restored} documents, expected ${count}`);
            } else {
              const r = await client.db(DB).collection(`baseline_${i}`).insertMany(decoded, { ordered: false });
              baselineSeconds = (performance.now() - t0) / 1000;
              if (r.insertedCount !== count) throw new Error(`insertMany inserted ${r.insertedCount}, expected ${count}`);
            }
          }
          await client.db(DB).collection(`restored_${i}`).drop();
          await client.db(DB).collection(`baseline_${i}`).drop();
          samples.push({ figure: count / restoreSeconds, baseline: count / baselineSeconds, details: { restoreSeconds, baselineSeconds } });
          ctx.log(`restore: run ${i + 1}/${ctx.runs}: ${Math.round(count / restoreSeconds)} vs ${Math.round(count / baselineSeconds)} documents/s`);
        }
      } finally {
        await shared.close();
      }
    } finally {
      await client.close();
      await emu.close();
    }
    return { samples, sizes: { documents: count } };
  },
};
