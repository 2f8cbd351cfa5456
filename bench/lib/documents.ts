/**
 * Generated API-log documents for the benchmarks (the emulator package's traffic generator): a
 * batch in memory, or inserted in batches. Kept apart from common.ts so that the archiver child
 * processes, which run compiled as an installed package does, never load the emulator package.
 */
import type { Collection, Document } from 'mongodb';
import { apiLogsBetween, rng } from '@cron-log-service/mongo-emulator/traffic';
import type { ApiLogDocument } from '@cron-log-service/mongo-emulator/traffic';

/** `count` realistic API-log documents (~400 bytes) with createdAt in [from, to). */
export function makeDocs(count: number, from: number, to: number, seed = 1): ApiLogDocument[] {
  return apiLogsBetween(rng(seed), count, from, to);
}

/**
 * Inserts `count` generated documents with insertMany in batches, generating each batch just in
 * time (bounded memory for a million documents). Returns the seconds spent.
 */
export async function insertGenerated(
  coll: Collection<Document>,
  count: number,
  from: number,
  to: number,
  opts: { seed?: number; batch?: number; onProgress?: (done: number) => void } = {},
): Promise<number> {
  const r = rng(opts.seed ?? 1);
  const batch = opts.batch ?? 10_000;
  const t0 = performance.now();
  for (let i = 0; i < count; i += batch) {
    await coll.insertMany(apiLogsBetween(r, Math.min(batch, count - i), from, to), { ordered: false });
    opts.onProgress?.(Math.min(count, i + batch));
  }
  return (performance.now() - t0) / 1000;
}
