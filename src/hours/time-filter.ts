/**
 * The query form of the tailer's hour rule (src/hours/event-time.ts): documents whose
 * timestamp field is a date in [from, to), or, lacking a date there that may be an event time
 * (none, not a date, or a date before 1970 or from year 10000 on), whose ObjectId time is.
 * Two filters: a plain range on the timestamp field (served by an index on it) and an `_id`
 * range for the rest (served by the `_id` index); combined with `$or` each clause still uses its
 * index on a real server. Used by repair, rebuild/backfill and reconcile, so all count the same
 * documents.
 */
import type { Document } from 'mongodb';
import { ObjectId } from 'mongodb';
import { FIELD_TIME_END_MS, FIELD_TIME_MIN_MS } from './event-time.js';

export interface TimeRangeFilters {
  /** Documents whose timestamp field is a date in the range. */
  byField: Document;
  /** Documents without a date there (or with one no event time can be) whose ObjectId time is in the range. */
  byObjectId: Document;
}

/** The largest ObjectId time, seconds (4 bytes, unsigned). */
const MAX_OBJECT_ID_SECONDS = 0xffff_ffff;

/** An ObjectId whose time is `seconds`, clamped to the times an ObjectId can hold. */
function idAt(seconds: number): ObjectId {
  return ObjectId.createFromTime(Math.min(Math.max(seconds, 0), MAX_OBJECT_ID_SECONDS));
}

export function timeRangeFilters(timestampField: string, from: number, to?: number): TimeRangeFilters {
  // Dates outside [FIELD_TIME_MIN_MS, FIELD_TIME_END_MS) never count by the field.
  const range: Document = { $gte: new Date(Math.max(from, FIELD_TIME_MIN_MS)), $lt: new Date(Math.min(to ?? FIELD_TIME_END_MS, FIELD_TIME_END_MS)) };
  const ids: Document = { $gte: idAt(Math.floor(from / 1000)) };
  if (to !== undefined && Math.ceil(to / 1000) <= MAX_OBJECT_ID_SECONDS) ids.$lt = idAt(Math.ceil(to / 1000));
  return {
    byField: { [timestampField]: range },
    byObjectId: { _id: ids, [timestampField]: { $not: { $gte: new Date(FIELD_TIME_MIN_MS), $lt: new Date(FIELD_TIME_END_MS) } } },
  };
}
