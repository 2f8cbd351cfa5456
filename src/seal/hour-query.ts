/**
 * The documents MongoDB holds for one hour, by the tailer's hour rule: those whose timestamp
 * field (or, lacking a date there, ObjectId time) falls in the hour. One unsorted query: each
 * clause of the `$or` is served by an index on a real server (the timestamp index, the `_id`
 * index), and no blocking sort can hit the server's memory limit. Repair reads whole documents
 * through it (or, for an hour whose archive holds more `_id`s than fit in memory, lists their
 * `_id`s first and fetches those it lacks by `_id`: hourDocumentsById); reconcile --deep only
 * their `_id`s.
 */
import type { Document, FindCursor } from 'mongodb';
import type { HourSlot } from '../hours/hour-clock.js';
import { timeRangeFilters } from '../hours/time-filter.js';
import { decodeOptionsFor } from '../spool/json-lines.js';
import type { ArchiveContext } from './context.js';

export type HourQueryContext = Pick<ArchiveContext, 'collection' | 'timestampField' | 'jsonMode'>;

/** A cursor over the hour's documents (`projection` limits the fields), decoded for the JSON mode. */
export function hourDocuments(ctx: HourQueryContext, slot: Pick<HourSlot, 'start' | 'end'>, projection?: Document): FindCursor<Document> {
  const types = decodeOptionsFor(ctx.jsonMode);
  const filters = timeRangeFilters(ctx.timestampField, slot.start, slot.end);
  return ctx.collection.find({ $or: [filters.byField, filters.byObjectId] }, { ...types, batchSize: 1000, ...(projection ? { projection } : {}) });
}

/**
 * The hour's documents whose `_id` is one of `ids` (values as MongoDB returned them), decoded for
 * the JSON mode: the `_id` index serves the `$in`, the hour rule still applies. Order unspecified.
 */
export function hourDocumentsById(ctx: HourQueryContext, slot: Pick<HourSlot, 'start' | 'end'>, ids: readonly unknown[]): FindCursor<Document> {
  const types = decodeOptionsFor(ctx.jsonMode);
  const filters = timeRangeFilters(ctx.timestampField, slot.start, slot.end);
  const filter: Document = { $and: [{ _id: { $in: ids } }, { $or: [filters.byField, filters.byObjectId] }] };
  return ctx.collection.find(filter, { ...types, batchSize: Math.max(1, ids.length) });
}
