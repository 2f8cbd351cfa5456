/**
 * Gap repair: capture rebuilds what its change stream cannot deliver from a query. When the
 * resume token has fallen off the oplog (history lost), from the earliest open hour (gapStart);
 * on `--reset-from`, from the instant given; on a first start, from its current hour's start;
 * on a takeover from another host, from the oldest hour the lost spool held (host-takeover.ts:
 * closed hours included, and the `_id`s their delivered parts hold are skipped). Every document of the watched collection whose
 * timestamp falls at or after that hour's start (or, lacking a date in the timestamp field,
 * whose ObjectId time does) and is not in the spool yet is appended; then the stream resumes at
 * the cluster time read before the query, and events up to the cluster time read after it are
 * checked against the archived ids (the dedupe window), so nothing is archived twice.
 *
 * Memory does not grow with the hours repaired. The archived `_id`s (the spool's lines of the
 * repaired hours; on a takeover also their delivered parts) are collected in a SpillingKeySet
 * (src/spool/spilling-key-set.ts): a `Set` up to `keyBudget.keysInMemory` keys (default
 * ID_KEYS_IN_MEMORY, 200,000), then sorted runs in temp files. Within the budget, one query
 * streams every document, each checked against the Set, and the Set (with the ids written) is the
 * dedupe window's. Past it (from the start, or once the written ids push the Set over it
 * mid-query: what was written stays, the Set spills), the external way: the query's `_id`s are
 * listed alone into an external sort, merged with the sorted archived keys, and the documents
 * the archive lacks fetched by `_id` in batches of 1,000 (the same documents, each once); the
 * dedupe window then asks a SortedKeyFile (src/spool/sorted-key-file.ts) of the archived and
 * written keys, one block read per event, holding 1 key in 256 in memory. Temp files go under
 * `keyBudget.directory` (the spool directory) and are removed when the window ends.
 */
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { EJSON } from 'bson';
import type { Collection, Db, Document, Timestamp } from 'mongodb';
import type { HourClock } from '../hours/hour-clock.js';
import { timeRangeFilters } from '../hours/time-filter.js';
import type { DedupeWindow, StreamPosition } from '../ledger/checkpoints.js';
import { positionSeconds } from '../ledger/checkpoints.js';
import type { Logger } from '../log.js';
import type { IdKey } from '../spool/document-ids.js';
import { idKeyOfLine } from '../spool/document-ids.js';
import { readGzipLines } from '../spool/gzip-members.js';
import type { KeyBudget } from '../spool/key-files.js';
import { ExternalSort, fileLines, keyTempDirectory } from '../spool/key-files.js';
import type { KeySink } from '../spool/spilling-key-set.js';
import { SpillingKeySet, mergeSortedKeys } from '../spool/spilling-key-set.js';
import type { KeyProbe } from '../spool/sorted-key-file.js';
import { SortedKeyFile } from '../spool/sorted-key-file.js';
import type { JsonMode } from '../spool/json-lines.js';
import { decodeOptionsFor } from '../spool/json-lines.js';
import { spoolFileName } from '../spool/spool-files.js';
import type { Spool } from '../spool/spool.js';
import { clusterTimeNow } from './cluster-time.js';

/**
 * Adds to `into` the `_id` key of every line archived in the spool's open files of hours >=
 * fromHour, and, with `sealedToo`, in its sealed/ files (closed, not delivered yet) of those hours.
 */
export async function collectArchivedIds(spool: Spool, fromHour: number, into: KeySink, sealedToo = false): Promise<void> {
  for (const f of spool.openFiles()) {
    if (f.hour < fromHour || f.offset === 0) continue;
    for await (const line of readGzipLines(join(spool.layout.open, spoolFileName(f)), f.offset)) if (into.add(idKeyOfLine(line))) await into.flush();
  }
  if (sealedToo) {
    for (const f of await spool.sealedFiles()) {
      if (f.hour < fromHour) continue;
      for await (const line of readGzipLines(f.path)) if (into.add(idKeyOfLine(line))) await into.flush();
    }
  }
}

/**
 * The `_id` keys archived in the spool's open files of hours >= fromHour, as a dedupe window
 * checks events against them: a Set up to `budget.keysInMemory` keys, else a SortedKeyFile.
 */
export async function archivedIdsProbe(spool: Spool, fromHour: number, budget: KeyBudget): Promise<KeyProbe> {
  const ids = new SpillingKeySet(budget);
  try {
    await collectArchivedIds(spool, fromHour, ids);
    return await ids.probe();
  } finally {
    await ids.close();
  }
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
  /** Stop (complete: false) once `ids` holds more keys than this (default: never). */
  maxIds?: number;
}

/** The query's filter: every document at or after `fromMs` (by its timestamp, or lacking one its ObjectId time). */
function repairFilter(q: Pick<RepairQuery, 'timestampField' | 'fromMs'>): Document {
  const filters = timeRangeFilters(q.timestampField, q.fromMs);
  // One query: each clause of the $or is served by an index on a real server.
  return { $or: [filters.byField, filters.byObjectId] };
}

/**
 * The documents of the query `ids` lacks, written through `onDocument`; their ids are added to
 * `ids`. Stops early (complete: false) once `ids` outgrew `maxIds`: what was written stays written.
 */
export async function repairFromQuery(q: RepairQuery): Promise<{ written: number; complete: boolean }> {
  const types = decodeOptionsFor(q.jsonMode);
  const cursor = q.collection.find(repairFilter(q), { batchSize: 1000, ...types });
  const max = q.maxIds ?? Infinity;
  let written = 0;
  try {
    for await (const doc of cursor) {
      const key = q.idKey(doc._id);
      if (q.ids.has(key)) continue;
      q.ids.add(key);
      q.onDocument(doc);
      written++;
      if (q.shouldPause()) await q.flush();
      if (q.ids.size > max) return { written, complete: false };
    }
  } finally {
    await cursor.close();
  }
  return { written, complete: true };
}

/** Ids fetched by `_id` at a time (the external way). */
const FETCH_BATCH = 1000;

/** A listed `_id`: its key, a tab, its value as canonical Extended JSON (JSON text never holds a raw tab: sorts by key first). */
function listedLine(key: IdKey, id: unknown): string {
  return `${key}\t${EJSON.stringify(id as never, { relaxed: false })}`;
}

/** The listed lines (ascending) whose key `held` (ascending) lacks, each key once: [key, value]. */
async function* lackingOf(listed: AsyncIterable<string>, held: AsyncGenerator<IdKey>): AsyncGenerator<[IdKey, unknown]> {
  let next = await held.next();
  let prev: IdKey | undefined;
  try {
    for await (const line of listed) {
      const tab = line.indexOf('\t');
      const key = line.slice(0, tab);
      if (key === prev) continue; // one document per key, as the Set-based check writes
      prev = key;
      while (next.done !== true && next.value < key) next = await held.next();
      if (next.done !== true && next.value === key) continue;
      yield [key, EJSON.parse(line.slice(tab + 1), { relaxed: false })];
    }
  } finally {
    await held.return(undefined);
  }
}

/**
 * The external way (see the header): the query's `_id`s listed alone into an external sort,
 * merged with the archived keys (sorted), and the documents the archive lacks fetched by `_id`,
 * FETCH_BATCH at a time, in key order. A fetched document whose key is not the one listed (a
 * server that projected the `_id` with another type, as the emulator did with Int64 `_id`s
 * before its projections kept number types) is not written then: its own key is checked against the archive in a second pass.
 * Returns how many were written and the files of the keys written (each ascending).
 */
async function repairExternally(q: Omit<RepairQuery, 'ids' | 'maxIds'>, archived: SpillingKeySet, dir: string): Promise<{ written: number; writtenKeys: string[] }> {
  const types = decodeOptionsFor(q.jsonMode);
  const sorter = async (name: string): Promise<ExternalSort> => new ExternalSort(await fs.mkdtemp(join(dir, `${name}-`)), archived.keysInMemory);
  const listed = await sorter('listed');
  const cursor = q.collection.find(repairFilter(q), { batchSize: 10_000, projection: { _id: 1 }, ...types });
  try {
    for await (const doc of cursor) if (listed.add(listedLine(q.idKey(doc._id), doc._id))) await listed.spill();
  } finally {
    await cursor.close();
  }
  const recheck = await sorter('recheck');
  let written = 0;
  const writtenKeys: string[] = [];
  /** Fetches the batch's documents; writes those whose key is one asked for, the others go to `recheck`. */
  const fetch = async (batch: Array<[IdKey, unknown]>, file: string, recheckTo: ExternalSort | undefined): Promise<void> => {
    const wanted = new Set(batch.map((b) => b[0]));
    const keys: IdKey[] = [];
    const docs = q.collection.find({ $and: [{ _id: { $in: batch.map((b) => b[1]) } }, repairFilter(q)] } as Document, { batchSize: FETCH_BATCH, ...types });
    try {
      for await (const doc of docs) {
        const key = q.idKey(doc._id);
        if (!wanted.delete(key)) {
          if (recheckTo?.add(listedLine(key, doc._id)) === true) await recheckTo.spill();
          continue;
        }
        keys.push(key);
        q.onDocument(doc);
        written++;
        if (q.shouldPause()) await q.flush();
      }
    } finally {
      await docs.close();
    }
    // Batches are taken in key order: each batch's keys, sorted, follow the previous batch's.
    if (keys.length > 0) await fs.appendFile(file, `${keys.sort().join('\n')}\n`);
  };
  const passes: Array<[ExternalSort, ExternalSort | undefined]> = [
    [listed, recheck],
    [recheck, undefined],
  ];
  for (const [source, recheckTo] of passes) {
    const file = join(dir, `written-${writtenKeys.length}`);
    await fs.writeFile(file, '');
    writtenKeys.push(file);
    let batch: Array<[IdKey, unknown]> = [];
    for await (const lacking of lackingOf(source.sorted(), archived.sorted())) {
      batch.push(lacking);
      if (batch.length >= FETCH_BATCH) {
        await fetch(batch, file, recheckTo);
        batch = [];
      }
    }
    if (batch.length > 0) await fetch(batch, file, recheckTo);
  }
  return { written, writtenKeys };
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
  ids: KeyProbe;
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
  /** How many `_id` keys the repair holds in memory, and where its temp files go (see the header). */
  readonly keyBudget: KeyBudget;
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
   * Adds to `into` (the spool's `_id`s the query skips) the `_id`s archived elsewhere (the
   * delivered parts of the hours): never written again. Added straight into the one set, not
   * held in a second one first.
   */
  addArchived?: (into: SpillingKeySet) => Promise<void>;
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
  const budget = capture.keyBudget;
  const ids = new SpillingKeySet(budget);
  let dir: string | undefined;
  try {
    await collectArchivedIds(capture.spool, fromHour, ids, options.closedHoursToo === true);
    await options.addArchived?.(ids);
    const perHour = new Map<number, number>();
    const started = Date.now();
    const query = {
      collection: capture.collection,
      fromMs: fromHour,
      timestampField: capture.timestampField,
      idKey: capture.idKey,
      jsonMode: capture.jsonMode,
      onDocument: (doc: Record<string, unknown>) => {
        const hour = capture.append(doc);
        perHour.set(hour, (perHour.get(hour) ?? 0) + 1);
      },
      shouldPause: () => capture.spool.pendingBytes >= capture.maxPendingBytes,
      flush: () => capture.checkpoint(),
    };
    let written = 0;
    let dedupeIds: KeyProbe;
    if (ids.inMemory) {
      // The one query, each document checked against the Set; past the budget (the archived
      // keys and those written so far), on the external way from there.
      const r = await repairFromQuery({ ...query, ids: ids.memory, maxIds: ids.keysInMemory });
      written = r.written;
      if (!r.complete) await ids.spill();
    }
    if (ids.inMemory) dedupeIds = await ids.probe();
    else {
      dir = await keyTempDirectory(budget.directory, 'gap-repair');
      const r = await repairExternally(query, ids, dir);
      written += r.written;
      dedupeIds = await ids.probe(mergeSortedKeys(...r.writtenKeys.map((f) => fileLines(f))));
    }
    const known = dedupeIds.size - written;
    const after = await clusterTimeNow(capture.db);
    try {
      await options.beforeResume?.({ fromHour, written, perHour });
      await capture.resumeAt(before, { window: { until: after, fromHour }, ids: dedupeIds }, written);
    } catch (err) {
      await dedupeIds.close();
      throw err;
    }
    log.info('repair from query complete', {
      reason,
      from: new Date(fromHour).toISOString(),
      documentsWritten: written,
      alreadyArchived: known,
      ...(dedupeIds instanceof SortedKeyFile ? { idsOnDisk: true } : {}),
      durationMs: Date.now() - started,
    });
    return { fromHour, written, perHour };
  } finally {
    await ids.close();
    if (dir !== undefined) await fs.rm(dir, { recursive: true, force: true });
  }
}
