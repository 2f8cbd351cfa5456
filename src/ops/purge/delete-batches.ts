/**
 * The deletes of `purge`: `_id`s in bounded batches, one `deleteMany` each, paced to a rate.
 *
 * Each batch deletes `{ _id: { $in: batch }, $or: <the hour rule> }`: only documents whose `_id`
 * was proven archived (src/ops/purge/proof.ts) and that still belong to the hour. A document
 * written later has another `_id` and is never matched. Before each batch `guard` runs (it
 * throws FENCED or ABORTED to stop: a lost purge lease, a `run` fenced out, SIGTERM), so at most
 * one batch is in flight when a purge stops.
 *
 * The pacing is over the whole purge, not per hour: batch n starts no earlier than
 * `startedAt + documentsBefore / rate` seconds (a token bucket without a burst beyond one batch).
 */
import type { Collection, Document } from 'mongodb';
import type { HourSlot } from '../../hours/hour-clock.js';
import { timeRangeFilters } from '../../hours/time-filter.js';
import { sleep } from '../../retry.js';
import type { SourceIdList } from '../../spool/source-id-list.js';

/** Paces deletes to at most `perSecond` documents per second (0: no limit). */
export class DeletePacer {
  private readonly startedAt = Date.now();
  private documents = 0;

  constructor(private readonly perSecond: number) {}

  /** Waits until `n` more documents may be deleted, then counts them. */
  async take(n: number, signal?: AbortSignal): Promise<void> {
    if (this.perSecond > 0) {
      const due = this.startedAt + (this.documents / this.perSecond) * 1000;
      await sleep(due - Date.now(), signal);
    }
    this.documents += n;
  }
}

export interface DeleteBatchesOptions {
  batchSize: number;
  pacer: DeletePacer;
  /** Runs before each batch; throws to stop (see the header). */
  guard: () => Promise<void>;
  signal?: AbortSignal;
  /** After each batch: documents deleted so far by this call. */
  onBatch?: (deleted: number) => void;
}

/** Deletes the documents of `slot` with these `_id`s in paced batches; returns how many were deleted. */
export async function deleteBatches(
  collection: Collection<Document>,
  timestampField: string,
  slot: Pick<HourSlot, 'start' | 'end'>,
  ids: Pick<SourceIdList, 'batches'>,
  o: DeleteBatchesOptions,
): Promise<number> {
  const { byField, byObjectId } = timeRangeFilters(timestampField, slot.start, slot.end);
  let deleted = 0;
  for await (const batch of ids.batches(o.batchSize)) {
    await o.guard();
    await o.pacer.take(batch.length, o.signal);
    await o.guard();
    const r = await collection.deleteMany({ _id: { $in: batch as never[] }, $or: [byField, byObjectId] });
    deleted += r.deletedCount;
    o.onBatch?.(deleted);
  }
  return deleted;
}
