/**
 * The query form of the tailer's hour rule (src/hours/event-time.ts): documents whose
 * timestamp field is a date in [from, to), or, lacking a date there that may be an event time
 * (none, not a date, or a date before 1970 or from year 10000 on), whose ObjectId time is.
 * Two filters: a plain range on the timestamp field (served by an index on it) and an `_id`
 * range for the rest (served by the `_id` index); combined with `$or` each clause still uses its
 * index on a real server. Used by repair, rebuild/backfill and reconcile, so all count the same
 * documents.
 *
 * "Not an event-time date" is written `$or: [{f: {$not: {$gte: MIN}}}, {f: {$not: {$lt: END}}}]`,
 * not `{f: {$not: {$gte: MIN, $lt: END}}}`: the same documents (De Morgan; each comparison
 * traverses arrays on its own either way), but a real server's planner derives index bounds for
 * a `$not` of one comparison only (MongoDB's Indexability::isBoundsGeneratingNot: a NOT whose
 * child can use an index on its own field; a NOT over an AND cannot). Written as one `$not` of
 * two, the clause can be answered only through the `_id` range, fetching every document
 * inserted in the hour to find the (usually no) documents without a date; written as two, the
 * index on the timestamp field can serve each branch with the bounds outside [MIN, END) (the
 * planner picks between the two plans). Not verified with explain() here: no MongoDB server on
 * this project's machines; the emulator answers both the same.
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
    byObjectId: {
      _id: ids,
      $or: [{ [timestampField]: { $not: { $gte: new Date(FIELD_TIME_MIN_MS) } } }, { [timestampField]: { $not: { $lt: new Date(FIELD_TIME_END_MS) } } }],
    },
  };
}
