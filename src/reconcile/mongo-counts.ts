/**
 * MongoDB's side of reconcile: how many documents of the collection belong to each hour of a
 * range: one aggregation for the whole range (plus one, usually empty, for documents whose hour
 * comes from their ObjectId), never one query per hour. A document belongs to the hour of its timestamp field when that
 * is a date, else of its ObjectId time (the tailer's rule; documents with neither are archived
 * by cluster time, which no query can reproduce, and are not counted here).
 */
import type { Collection, Document } from 'mongodb';
import { timeRangeFilters } from '../hours/time-filter.js';
import { DateTime } from 'luxon';

/** Minutes past the UTC hour at which local hours start in `zone` (30 for Asia/Kolkata). */
export function hourPhaseMs(zone: string, at: number): number {
  const offsetMinutes = DateTime.fromMillis(at, { zone }).offset;
  return ((((offsetMinutes % 60) + 60) % 60) * 60_000) | 0;
}

export async function countPerHour(
  coll: Collection<Document>,
  timestampField: string,
  from: number,
  to: number,
  zone: string,
): Promise<Map<number, number>> {
  const phase = hourPhaseMs(zone, from);
  const field = `$${timestampField}`;
  // The hour start of an instant `t` (a date expression). Local hours of every zone start at
  // the same minute past each UTC hour (`phase`), so the UTC truncation is exact for zones with
  // whole-hour offsets (DST included), and an arithmetic shift covers :30 and :45 zones.
  const hourOf = (t: unknown): Document =>
    phase === 0
      ? { $dateTrunc: { date: t, unit: 'hour' } }
      : { $subtract: [{ $toLong: t }, { $mod: [{ $subtract: [{ $toLong: t }, phase] }, 3_600_000] }] };
  const { byField, byObjectId } = timeRangeFilters(timestampField, from, to);
  const pipelines: Document[][] = [
    // Documents with a date in the timestamp field: a plain range match (index-friendly).
    [{ $match: byField }, { $group: { _id: hourOf(field), n: { $sum: 1 } } }],
    // Documents without one: the hour of their ObjectId time (usually none).
    [
      { $match: byObjectId },
      { $project: { _id: 0, t: { $convert: { input: '$_id', to: 'date', onError: null, onNull: null } } } },
      { $match: { t: { $gte: new Date(from), $lt: new Date(to) } } },
      { $group: { _id: hourOf('$t'), n: { $sum: 1 } } },
    ],
  ];
  const out = new Map<number, number>();
  for (const pipeline of pipelines) {
    for await (const row of coll.aggregate<{ _id: Date | number | bigint | { toNumber(): number }; n: number }>(pipeline, { allowDiskUse: true })) {
      const k = row._id;
      const start = k instanceof Date ? k.getTime() : typeof k === 'number' ? k : typeof k === 'bigint' ? Number(k) : k.toNumber();
      out.set(start, (out.get(start) ?? 0) + Number(row.n));
    }
  }
  return out;
}

/** expireAfterSeconds of a TTL index on the timestamp field, if there is one. */
export async function ttlSeconds(coll: Collection<Document>, timestampField: string): Promise<number | undefined> {
  try {
    for (const ix of await coll.listIndexes().toArray()) {
      const keys = Object.keys(ix.key ?? {});
      if (keys.length === 1 && keys[0] === timestampField && typeof ix.expireAfterSeconds === 'number') return ix.expireAfterSeconds;
    }
  } catch {
    // A missing collection has no indexes.
  }
  return undefined;
}
