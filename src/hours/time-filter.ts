/**
 * The query form of the tailer's hour rule (src/source/event-time.ts): documents whose
 * timestamp field is a date in [from, to), or, lacking a date there, whose ObjectId time is.
 * Two filters: a plain range on the timestamp field (served by an index on it) and an `_id`
 * range for the rest (served by the `_id` index); combined with `$or` each clause still uses its
 * index on a real server. Used by repair, rebuild/backfill and reconcile, so all count the same
 * documents.
 */
import type { Document } from 'mongodb';
import { ObjectId } from 'mongodb';

export interface TimeRangeFilters {
  /** Documents whose timestamp field is a date in the range. */
  byField: Document;
  /** Documents without a date there whose ObjectId time is in the range. */
  byObjectId: Document;
}

export function timeRangeFilters(timestampField: string, from: number, to?: number): TimeRangeFilters {
  const range: Document = { $gte: new Date(from) };
  const ids: Document = { $gte: ObjectId.createFromTime(Math.floor(from / 1000)) };
  if (to !== undefined) {
    range.$lt = new Date(to);
    ids.$lt = ObjectId.createFromTime(Math.ceil(to / 1000));
  }
  return {
    byField: { [timestampField]: range },
    byObjectId: { _id: ids, [timestampField]: { $not: { $type: 'date' } } },
  };
}
