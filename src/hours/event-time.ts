/**
 * The instant an archived document belongs to: its timestamp field (`createdAt` by default) when
 * that is a date from 1970-01-01T00:00:00.000Z up to (not including) 10000-01-01T00:00:00.000Z;
 * else the ObjectId time of its `_id`; else the change event's cluster time.
 *
 * A date outside that range counts as no timestamp (README, "An event belongs to the hour of
 * its own timestamp"): .NET's `DateTime.MinValue` (0001-01-01T00:00Z), a negative year, year
 * 10000 or later files the document under the hour of its ObjectId time, like a document
 * without a date, and so with the documents written around it, not in an hour of year 1 that
 * no seal run or recent reconcile looks at. Within the range, hours have four-digit years (keys,
 * spool file names), like every fallback time (ObjectId and cluster times start in 1970).
 * Reconcile's count query applies the same rule (time-filter.ts), so such a document is
 * archived once and counted in the hour it is filed under.
 */
import type { Timestamp } from 'bson';
import { findMember, int32, keyBytes } from '../bson/elements.js';

export type TimeSource = 'field' | 'objectId' | 'clusterTime' | 'wallTime';

/** The first instant a timestamp field may give: 1970-01-01T00:00:00.000Z. */
export const FIELD_TIME_MIN_MS = 0;
/** The end (exclusive) of the instants a timestamp field may give: 10000-01-01T00:00:00.000Z. */
export const FIELD_TIME_END_MS = 253_402_300_800_000;

/** Whether a date's instant `ms` may be an event time (false for NaN). */
export function isFieldTime(ms: number): boolean {
  return ms >= FIELD_TIME_MIN_MS && ms < FIELD_TIME_END_MS;
}

function getPath(doc: Record<string, unknown>, path: readonly string[]): unknown {
  let cur: unknown = doc;
  for (const key of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[key];
  }
  return cur;
}

function objectIdTime(id: unknown): number | undefined {
  if (id !== null && typeof id === 'object' && (id as { _bsontype?: string })._bsontype === 'ObjectId') {
    return (id as { getTimestamp(): Date }).getTimestamp().getTime();
  }
  return undefined;
}

export interface EventTime {
  ms: number;
  source: TimeSource;
}

/** Builds the extractor for a dotted field path. */
export function eventTimeReader(field: string): (doc: Record<string, unknown>, clusterTime?: Timestamp, wallTime?: Date) => EventTime {
  const path = field.split('.');
  return (doc, clusterTime, wallTime) => {
    const v = path.length === 1 ? doc[field] : getPath(doc, path);
    if (v instanceof Date && isFieldTime(v.getTime())) return { ms: v.getTime(), source: 'field' };
    const oidMs = objectIdTime(doc._id);
    if (oidMs !== undefined) return { ms: oidMs, source: 'objectId' };
    if (clusterTime !== undefined) return { ms: clusterTime.getHighBitsUnsigned() * 1000, source: 'clusterTime' };
    if (wallTime instanceof Date) return { ms: wallTime.getTime(), source: 'wallTime' };
    return { ms: Date.now(), source: 'wallTime' };
  }
}

/**
 * `eventTimeReader` for a document as BSON bytes at `b[at]` (the capture path, which does not
 * decode documents): the same rule, returning the instant in ms. `clusterSeconds` is -1 and
 * `wallMs` NaN when the event has none.
 */
export function rawEventTimeReader(field: string): (b: Uint8Array, at: number, clusterSeconds: number, wallMs: number) => number {
  const path = field.split('.').map(keyBytes);
  const found = { type: 0 };
  return (b, at, clusterSeconds, wallMs) => {
    let doc = at;
    for (let k = 0; k < path.length; k++) {
      const v = findMember(b, doc, path[k] as Uint8Array, found);
      if (v < 0) break;
      if (k < path.length - 1) {
        if (found.type !== 0x03) break;
        doc = v;
        continue;
      }
      if (found.type === 0x09) {
        const ms = int32(b, v + 4) * 4294967296 + (int32(b, v) >>> 0);
        if (isFieldTime(ms)) return ms;
      }
    }
    const id = findMember(b, at, ID_KEY, found);
    // ObjectId: its first 4 bytes are the creation time in seconds, big-endian.
    if (id >= 0 && found.type === 0x07) {
      const seconds = (b[id] as number) * 0x1000000 + (((b[id + 1] as number) << 16) | ((b[id + 2] as number) << 8) | (b[id + 3] as number));
      return seconds * 1000;
    }
    if (clusterSeconds >= 0) return clusterSeconds * 1000;
    if (!Number.isNaN(wallMs)) return wallMs;
    return Date.now();
  };
}

const ID_KEY = keyBytes('_id');
