/**
 * The query form of the tailer's hour rule (src/source/event-time.ts): documents whose
 * timestamp field is a date in [from, to), or, lacking a date there, whose ObjectId time is.
 * Used by repair, rebuild/backfill and reconcile, so all count the same documents.
 */
import type { Document } from 'mongodb';
import { ObjectId } from 'mongodb';

export function timeRangeFilter(timestampField: string, from: number, to?: number): Document {
  const range: Document = { $gte: new Date(from) };
  const ids: Document = { $gte: ObjectId.createFromTime(Math.floor(from / 1000)) };
  if (to !== undefined) {
    range.$lt = new Date(to);
    ids.$lt = ObjectId.createFromTime(Math.ceil(to / 1000));
  }
  return {
    $or: [{ [timestampField]: range }, { [timestampField]: { $not: { $type: 'date' } }, _id: ids }],
  };
}
