/**
 * Hour states in the `jobs` collection: one document per day (in the configured timezone) and
 * watched namespace, `_id: "<db>.<collection>:<yyyy-MM-dd>"`, holding each hour's state:
 *
 *   hours.<hour id>: { start, state, count, bytes, parts[], manifestKey, reservations, lastError, reconcile, purge, updatedAt }
 *   restored.<hour id>: { at }
 *
 * States: sealed (closed locally, delivery pending or failed) → delivered → verified, or
 * mismatch. `reservations` pin the part number of a sealed file before its upload, so a retry
 * after a crash uploads to the same key. `purge` is set by `purge` (src/ops/purge/): `purging`
 * before its first delete of the hour, `purged` once MongoDB holds none of the hour's archived
 * `_id`s. `restored` marks the hours `restore` wrote documents of back into the watched
 * collection (src/ops/restore/), before its first insert of the hour: capture sees those
 * documents as new inserts of their hours, and the seal drops from the late part every line
 * whose `_id` a delivered part of the hour holds (src/seal/already-archived.ts). The marks sit
 * beside the hour records, not in them: marking an hour the ledger has no record of creates no
 * partial hour record. A day written by the namespace's owner records its
 * lease `epoch`; an older owner's update is then refused (FENCED, see fence.ts).
 */
import type { PartTypes } from '../spool/type-summary.js';
import type { Collection, Document } from 'mongodb';
import type { HourSlot } from '../hours/hour-clock.js';
import type { FenceHolder } from './fence.js';
import { fencedUpsert } from './fence.js';

/** One delivered object of an hour (its part number and revision, count, bytes, digest). */
export interface ArchivedPart {
  key: string;
  part: number;
  revision: number;
  count: number;
  bytes: number;
  sha256: string;
  firstTimestamp: string | null;
  lastTimestamp: string | null;
  duplicatesRemoved: number;
  /** Lines dropped because a delivered part of the hour held their `_id` (restored into the source); absent: none. */
  alreadyArchivedRemoved?: number;
  sealedAt: string;
  /**
   * Which field paths held which BSON types (src/spool/type-summary.ts), or why that is not
   * known. Absent: written before type summaries (a legacy part).
   */
  types?: PartTypes;
}

export type HourState = 'sealed' | 'delivered' | 'verified' | 'mismatch';

export interface ReconcileRecord {
  mongo: number;
  archived: number;
  status: string;
  at: Date;
}

/** One archived object a purge proved the hour's documents against (read back and hashed). */
export interface PurgedObject {
  key: string;
  sha256: string;
  bytes: number;
  count: number;
}

/**
 * What `purge` did to the hour in MongoDB. `purging`: it proved the hour archived and may have
 * deleted some of its documents (a rerun finishes it, proving MongoDB ⊆ archive); `purged`:
 * every archived `_id` of the hour was deleted from MongoDB.
 */
export interface PurgeRecord {
  state: 'purging' | 'purged';
  /** When the first purge of the hour began. */
  startedAt: Date;
  /** When the hour was last purged completely. */
  purgedAt?: Date;
  /** The manifest's count when the hour was last proved. */
  archived: number;
  /** The objects the hour was last proved against. */
  objects: PurgedObject[];
}

export interface HourRecord {
  start: Date;
  state: HourState;
  count: number;
  bytes: number;
  parts: ArchivedPart[];
  manifestKey?: string;
  reservations?: Record<string, { part: number; revision: number; sha256: string }>;
  lastError?: string | null;
  /** Local parts of the hour lost undelivered with a host (src/source/host-takeover.ts). */
  lostParts?: number;
  reconcile?: ReconcileRecord;
  purge?: PurgeRecord;
  updatedAt: Date;
}

/** `restore` wrote documents of the hour back into the watched collection (last at `at`). */
export interface RestoreMark {
  at: Date;
}

interface DayDoc extends Document {
  _id: string;
  kind: 'day';
  namespace: string;
  date: string;
  timezone: string;
  hours: Record<string, HourRecord>;
  restored?: Record<string, RestoreMark>;
}

/** The `$set` of `update(slot, fields)` at `now`: the fields under `hours.<id>.`, with its start and updatedAt. */
function hourFields(slot: HourSlot, fields: Partial<HourRecord>, now: Date): Record<string, unknown> {
  const set: Record<string, unknown> = {
    [`hours.${slot.id}.start`]: new Date(slot.start),
    [`hours.${slot.id}.updatedAt`]: now,
  };
  for (const [k, v] of Object.entries(fields)) if (k !== 'start' && k !== 'updatedAt') set[`hours.${slot.id}.${k}`] = v;
  return set;
}

export class HourLedger {
  private readonly jobs: Collection<DayDoc>;

  constructor(
    jobs: Collection<Document>,
    readonly namespace: string,
    /** The owner's fence: its updates are refused once a newer epoch wrote the day (fence.ts). */
    private readonly fencing?: FenceHolder,
  ) {
    this.jobs = jobs as unknown as Collection<DayDoc>;
  }

  private dayId(slot: HourSlot): string {
    return `${this.namespace}:${slot.date}`;
  }

  async get(slot: HourSlot): Promise<HourRecord | undefined> {
    return (await this.getWithMark(slot)).record;
  }

  /** The hour's record and its restore mark (one read). */
  async getWithMark(slot: HourSlot): Promise<{ record: HourRecord | undefined; restored: RestoreMark | undefined }> {
    const doc = await this.jobs.findOne({ _id: this.dayId(slot) }, { projection: { [`hours.${slot.id}`]: 1, [`restored.${slot.id}`]: 1 } });
    return { record: doc?.hours?.[slot.id], restored: doc?.restored?.[slot.id] };
  }

  /**
   * The records of several hours (an hour without one is absent from the map, keyed by slot id):
   * one read of their day documents, however many hours they are.
   */
  async getMany(slots: readonly HourSlot[]): Promise<Map<string, HourRecord>> {
    const out = new Map<string, HourRecord>();
    if (slots.length === 0) return out;
    const days = [...new Set(slots.map((s) => this.dayId(s)))];
    const projection = Object.fromEntries(slots.map((s) => [`hours.${s.id}`, 1]));
    for await (const day of this.jobs.find({ _id: { $in: days } }, { projection })) {
      for (const s of slots) {
        const record = day.hours?.[s.id];
        if (record !== undefined && day._id === this.dayId(s)) out.set(s.id, record);
      }
    }
    return out;
  }

  /** Sets fields of the hour's record (creating the day document when needed). */
  async update(slot: HourSlot, fields: Partial<HourRecord>): Promise<void> {
    await this.setOnDay(slot, hourFields(slot, fields, new Date()));
  }

  /**
   * Sets fields of several hours' records, as `update` of each would (the same fields, one
   * `updatedAt` for all): one write per day document instead of one per hour.
   */
  async updateMany(updates: ReadonlyArray<{ slot: HourSlot; fields: Partial<HourRecord> }>): Promise<void> {
    const now = new Date();
    const byDay = new Map<string, { slot: HourSlot; set: Record<string, unknown> }>();
    for (const { slot, fields } of updates) {
      const day = byDay.get(this.dayId(slot));
      if (day) Object.assign(day.set, hourFields(slot, fields, now));
      else byDay.set(this.dayId(slot), { slot, set: hourFields(slot, fields, now) });
    }
    for (const { slot, set } of byDay.values()) await this.setOnDay(slot, set);
  }

  /**
   * Marks the hour restored into the watched collection (see the header), durably (majority,
   * journaled): `restore` calls it before its first insert of the hour.
   */
  async markRestored(slot: HourSlot): Promise<void> {
    await this.setOnDay(slot, { [`restored.${slot.id}.at`]: new Date() });
  }

  private async setOnDay(slot: HourSlot, fields: Record<string, unknown>): Promise<void> {
    const set = { kind: 'day' as const, namespace: this.namespace, date: slot.date, timezone: slot.zone, ...fields };
    await fencedUpsert(this.jobs, { _id: this.dayId(slot) }, { $set: set }, this.fencing, { writeConcern: { w: 'majority', j: true } });
  }

  /** Every hour record of the namespace whose start is in [from, to), ordered by start. */
  async range(from: number, to: number): Promise<Array<{ id: string; record: HourRecord }>> {
    const out: Array<{ id: string; record: HourRecord }> = [];
    const days = this.jobs.find({ kind: 'day', namespace: this.namespace });
    for await (const day of days) {
      for (const [id, record] of Object.entries(day.hours ?? {})) {
        const t = record.start.getTime();
        if (t >= from && t < to) out.push({ id, record });
      }
    }
    out.sort((a, b) => a.record.start.getTime() - b.record.start.getTime());
    return out;
  }

  async ensureIndexes(): Promise<void> {
    await this.jobs.createIndex({ kind: 1, namespace: 1, date: 1 });
  }
}
