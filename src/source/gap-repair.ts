/**
 * Gap repair: capture rebuilds what its change stream cannot deliver from a query. When the
 * resume token has fallen off the oplog (history lost), from the earliest open hour (gapStart);
 * on `--reset-from`, from the instant given; on a first start, from its current hour's start;
 * on a takeover from another host, from the oldest hour the lost spool held (host-takeover.ts:
 * closed hours included, and the `_id`s their delivered parts hold are skipped). Every document of the watched collection whose
 * timestamp falls at or after that hour's start (or, lacking a date in the timestamp field,
 * whose ObjectId time does) and is not in the spool yet is appended; then the stream resumes at
 * the cluster time read before the query, and events up to the cluster time read after it are
 * checked against the archived ids (the dedupe window), so nothing is archived twice. Streams
 * through a cursor: bounded memory but for the set of archived ids of the repaired hours.
 */
import { join } from 'node:path';
import type { Collection, Db, Document, Timestamp } from 'mongodb';
import type { HourClock } from '../hours/hour-clock.js';
import { timeRangeFilters } from '../hours/time-filter.js';
import type { DedupeWindow, StreamPosition } from '../ledger/checkpoints.js';
import { positionSeconds } from '../ledger/checkpoints.js';
import type { Logger } from '../log.js';
import type { IdKey } from '../spool/document-ids.js';
import { idKeyOfLine } from '../spool/document-ids.js';
import { readGzipLines } from '../spool/gzip-members.js';
import type { JsonMode } from '../spool/json-lines.js';
import { decodeOptionsFor } from '../spool/json-lines.js';
import { spoolFileName } from '../spool/spool-files.js';
import type { Spool } from '../spool/spool.js';
import { clusterTimeNow } from './cluster-time.js';

/**
 * The `_id` keys of every line archived in the spool's open files of hours >= fromHour, and, with
 * `sealedToo`, in its sealed/ files (closed, not delivered yet) of those hours.
 */
export async function collectArchivedIds(spool: Spool, fromHour: number, sealedToo = false): Promise<Set<IdKey>> {
  const ids = new Set<IdKey>();
  for (const f of spool.openFiles()) {
    if (f.hour < fromHour || f.offset === 0) continue;
    for await (const line of readGzipLines(join(spool.layout.open, spoolFileName(f)), f.offset)) ids.add(idKeyOfLine(line));
  }
  if (sealedToo) {
    for (const f of await spool.sealedFiles()) {
      if (f.hour < fromHour) continue;
      for await (const line of readGzipLines(f.path)) ids.add(idKeyOfLine(line));
    }
  }
  return ids;
}

export interface RepairQuery {
  collection: Collection<Document>;
  fromMs: number;
  timestampField: string;
  ids: Set<IdKey>;
  idKey: (id: unknown) => IdKey;
  jsonMode: JsonMode;
  onDocument: (doc: Record<string, unknown>) => void;
  shouldPause: () => boolean;
  flush: () => Promise<void>;
}

/** Returns how many documents were written. Adds their ids to `ids`. */
export async function repairFromQuery(q: RepairQuery): Promise<number> {
  const filters = timeRangeFilters(q.timestampField, q.fromMs);
  const types = decodeOptionsFor(q.jsonMode);
  // One query: each clause of the $or is served by an index on a real server.
  const cursor = q.collection.find({ $or: [filters.byField, filters.byObjectId] }, { batchSize: 1000, ...types });
  let written = 0;
  try {
    for await (const doc of cursor) {
      const key = q.idKey(doc._id);
      if (q.ids.has(key)) continue;
      q.ids.add(key);
      q.onDocument(doc);
      written++;
      if (q.shouldPause()) await q.flush();
    }
  } finally {
    await cursor.close();
  }
  return written;
}

/**
 * Where a repair after history loss starts: the hour of the stream position (or of the last
 * checkpoint, when the position has no time), or of the earliest open spool file if earlier.
 */
export function gapStart(spool: Pick<Spool, 'openFiles'>, position: StreamPosition | undefined, checkpointedAt: Date | undefined, clock: HourClock): number {
  let t = Date.now();
  const seconds = position === undefined ? undefined : positionSeconds(position);
  if (seconds !== undefined) t = seconds * 1000;
  else if (checkpointedAt) t = checkpointedAt.getTime();
  for (const f of spool.openFiles()) t = Math.min(t, f.hour);
  return clock.slotOf(t).start;
}

/** The ids archived up to the end of a dedupe window: events up to `window.until` are checked against them. */
export interface Dedupe {
  window: DedupeWindow;
  ids: Set<IdKey>;
}

/** The capture a gap repair writes into (the tailer). */
export interface GapRepairCapture {
  readonly db: Db;
  readonly collection: Collection<Document>;
  readonly spool: Spool;
  readonly clock: HourClock;
  readonly log: Logger;
  readonly timestampField: string;
  readonly jsonMode: JsonMode;
  readonly idKey: (id: unknown) => IdKey;
  /** The query pauses for a checkpoint whenever this many bytes wait in memory. */
  readonly maxPendingBytes: number;
  /** Starts of the hours closed for sealing: complete up to their close, never repaired. */
  closedHours(): Iterable<number>;
  /** Appends a document the query read to the spool file of its hour; returns that hour's start. */
  append(doc: Record<string, unknown>): number;
  /**
   * Flushes the spool and checkpoints the old position (keeps memory bounded mid-repair: a crash
   * repeats the repair, which skips what is already in the spool).
   */
  checkpoint(): Promise<void>;
  /**
   * Positions the stream at `startAt` (a cluster time), with `dedupe`, counting `written`
   * repaired documents; flushes the spool and checkpoints there.
   */
  resumeAt(startAt: Timestamp, dedupe: Dedupe, written: number): Promise<void>;
}

/** Why capture rebuilds from a query: history lost, --reset-from, or a change of capture mode (stream ⇄ query). */
export type RepairReason = 'history-lost' | 'reset' | 'capture-mode' | 'first-hour' | 'host-takeover';

/**
 * The first hour a rebuild from `fromMs` writes into: the hour of `fromMs`, or the one after the
 * last hour closed for sealing. Hours already closed are complete up to their close; documents
 * of theirs written during the gap are found by reconcile (and rebuilt by reconcile --repair).
 */
export function firstRebuiltHour(capture: Pick<GapRepairCapture, 'clock' | 'log' | 'closedHours'>, fromMs: number): number {
  const { clock } = capture;
  const fromHour = clock.slotOf(fromMs).start;
  const lastClosed = Math.max(-Infinity, ...capture.closedHours());
  if (lastClosed < fromHour) return fromHour;
  capture.log.warn('repair starts after the last sealed hour; run reconcile --repair for earlier hours', {
    requested: new Date(fromHour).toISOString(),
    lastSealedHour: new Date(lastClosed).toISOString(),
  });
  return clock.next(clock.slotOf(lastClosed)).start;
}

export interface RepairOptions {
  /**
   * Rebuild closed hours too (their documents go to a new late part): a takeover, whose lost
   * spool held closed hours' files. Otherwise the repair starts after the last closed hour.
   */
  closedHoursToo?: boolean;
  /**
   * Adds to `into` (the set of the spool's `_id`s the query skips) the `_id`s archived elsewhere
   * (the delivered parts of the hours): never written again. Added straight into the one set, not
   * held in a second one first.
   */
  addArchived?: (into: Set<IdKey>) => Promise<void>;
  /** Runs once the query is done, before the stream is positioned (and the repair's checkpoint saved). */
  beforeResume?: (outcome: RepairOutcome) => Promise<void>;
}

/** What a repair did. */
export interface RepairOutcome {
  /** Start of the first hour rebuilt. */
  fromHour: number;
  /** Documents written. */
  written: number;
  /** Documents written per hour (start, UTC ms). */
  perHour: Map<number, number>;
}

/** Repairs everything from the hour of `fromMs` on from a query, then resumes the stream (see the header). */
export async function repairGap(capture: GapRepairCapture, fromMs: number, reason: RepairReason, options: RepairOptions = {}): Promise<RepairOutcome> {
  const { clock, log } = capture;
  // Hours already closed for sealing are complete up to their close, unless a takeover lost them.
  const fromHour = options.closedHoursToo === true ? clock.slotOf(fromMs).start : firstRebuiltHour(capture, fromMs);
  const before = await clusterTimeNow(capture.db);
  const ids = await collectArchivedIds(capture.spool, fromHour, options.closedHoursToo === true);
  await options.addArchived?.(ids);
  const known = ids.size;
  const perHour = new Map<number, number>();
  const started = Date.now();
  const written = await repairFromQuery({
    collection: capture.collection,
    fromMs: fromHour,
    timestampField: capture.timestampField,
    ids,
    idKey: capture.idKey,
    jsonMode: capture.jsonMode,
    onDocument: (doc) => {
      const hour = capture.append(doc);
      perHour.set(hour, (perHour.get(hour) ?? 0) + 1);
    },
    shouldPause: () => capture.spool.pendingBytes >= capture.maxPendingBytes,
    flush: () => capture.checkpoint(),
  });
  const after = await clusterTimeNow(capture.db);
  await options.beforeResume?.({ fromHour, written, perHour });
  await capture.resumeAt(before, { window: { until: after, fromHour }, ids }, written);
  log.info('repair from query complete', {
    reason,
    from: new Date(fromHour).toISOString(),
    documentsWritten: written,
    alreadyArchived: known,
    durationMs: Date.now() - started,
  });
  return { fromHour, written, perHour };
}
