/**
 * The late pass of capture by query (src/source/query-stream.ts). The query reads documents by
 * their timestamp once it is `querySettleSeconds` old; a document written later than that for
 * its own timestamp (a late write, an application server whose clock lags, a document without a
 * date in the timestamp field) lands behind the query's position and is never read by it. Every
 * seal run therefore looks again, before the reconcile of recent hours:
 *
 *  1. The hours of the look-back window (the last `windowHours`, the same 24 hours the seal
 *     run's reconcile re-checks) that were delivered (delivered, verified or mismatch) are
 *     counted in MongoDB (one aggregation, reconcile/mongo-counts.ts).
 *  2. An hour where MongoDB has more documents than the archive gets what it lacks, compared by
 *     `_id` against what its delivered parts hold, as a new part: the append-only repair of
 *     `reconcile --repair` (seal/rebuild.ts), recorded as a `late-part` operation. An hour that
 *     `purge` emptied (its ledger record has `purge`) holds fewer in MongoDB than in the archive
 *     even with late documents: it is looked at whenever MongoDB holds any document of it and
 *     not exactly as many as the archive (an hour restored whole is left alone).
 *
 * Only hours capture has left behind for good are repaired, so that no document is delivered
 * twice: the hour ended at or before the position of the saved checkpoint (the query never reads
 * a document of it again, even after a crash) and no spool file of the hour is open or sealed
 * (everything capture read of it is delivered). Other hours wait for a later seal run.
 *
 * What it cannot see: a document whose hour (its timestamp, else its ObjectId time) is older
 * than the look-back window when it is written, or was never delivered (before the first hour
 * captured); `reconcile` reports such hours and `reconcile --repair` adds them. A document with
 * neither a date in the timestamp field nor an ObjectId `_id` is counted by no query: neither
 * this pass nor reconcile sees it.
 */
import { HOUR_MS } from '../hours/hour-clock.js';
import type { HourRecord } from '../ledger/hour-states.js';
import type { ArchiveContext } from '../seal/context.js';
import { repairHour } from '../seal/rebuild.js';
import type { Logger } from '../log.js';
import type { Spool } from '../spool/spool.js';
import { countPerHour } from './mongo-counts.js';
import { RECENT_WINDOW_HOURS } from './recent-hours.js';

export interface LatePassOptions {
  /** The seal run's instant (epoch ms). */
  now: number;
  /** Capture by query has read, for good, every document before this instant (the saved checkpoint's position). */
  capturedThrough: number;
  /** The capture's spool: hours with an open or sealed file are left for a later run. */
  spool: Pick<Spool, 'openFiles' | 'sealedFiles'>;
  log: Logger;
  /** Hours looked back at (default: RECENT_WINDOW_HOURS). */
  windowHours?: number;
}

export interface LatePart {
  hour: string;
  /** Documents the new part holds. */
  added: number;
  key: string;
}

/**
 * The hours the late pass may add to (see the header): delivered (delivered, verified or
 * mismatch), ended (`endOf` their start) at or before `capturedThrough`, and without a file in
 * the spool (`inSpool`: the hour starts of open and sealed files).
 */
export function lateCandidates<R extends Pick<HourRecord, 'start' | 'state'>>(
  records: readonly R[],
  capturedThrough: number,
  inSpool: ReadonlySet<number>,
  endOf: (start: number) => number,
): R[] {
  return records.filter((r) => ['delivered', 'verified', 'mismatch'].includes(r.state) && endOf(r.start.getTime()) <= capturedThrough && !inSpool.has(r.start.getTime()));
}

/**
 * Whether an hour may hold documents the archive lacks, from counts: MongoDB holds more than the
 * archive, or, once `purge` emptied the hour, any document at all but not exactly as many.
 */
export function mayHoldLateDocuments(mongo: number, archived: number, purged: boolean): boolean {
  return mongo > archived || (purged && mongo > 0 && mongo !== archived);
}

/** Adds the late documents of the recent hours as late parts (see the header); returns the parts added. */
export async function addLateParts(ctx: ArchiveContext, options: LatePassOptions): Promise<LatePart[]> {
  const { now, capturedThrough, log } = options;
  const windowHours = options.windowHours ?? RECENT_WINDOW_HOURS;
  const recorded = await ctx.ledger.range(now - windowHours * HOUR_MS, now);
  const inSpool = new Set([...options.spool.openFiles(), ...(await options.spool.sealedFiles())].map((f) => f.hour));
  const endOf = (start: number): number => ctx.clock.slotAt(start).end;
  const hours = lateCandidates(recorded.map((h) => h.record), capturedThrough, inSpool, endOf).map((r) => ({
    slot: ctx.clock.slotAt(r.start.getTime()),
    archived: r.count,
    purged: r.purge !== undefined,
  }));
  if (hours.length === 0) return [];
  const from = Math.min(...hours.map((h) => h.slot.start));
  const to = Math.max(...hours.map((h) => h.slot.end));
  const counts = await countPerHour(ctx.collection, ctx.timestampField, from, to, ctx.clock.zone);
  const added: LatePart[] = [];
  for (const { slot, archived, purged } of hours) {
    const mongo = counts.get(slot.start) ?? 0;
    if (!mayHoldLateDocuments(mongo, archived, purged)) continue;
    const result = await repairHour(ctx, slot, 'late-part');
    if (result.key === undefined) continue;
    added.push({ hour: slot.id, added: result.added, key: result.key });
    log.info('late documents delivered as a late part of their hour', { hour: slot.id, added: result.added, key: result.key, mongo, archivedBefore: archived });
  }
  return added;
}
