/**
 * MongoDB's side of reconcile: how many documents of the collection belong to each hour of a
 * range, in ONE aggregation. A document belongs to the hour of its timestamp field when that
 * is a date, else of its ObjectId time (the tailer's rule; documents with neither are archived
 * by cluster time, which no query can reproduce, and are not counted here).
 */
import type { Collection, Document } from 'mongodb';
import { timeRangeFilter } from '../source/time-filter.js';
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
  const pipeline: Document[] = [
    { $match: timeRangeFilter(timestampField, from, to) },
    {
      $project: {
        _id: 0,
        t: { $toLong: { $cond: [{ $eq: [{ $type: field }, 'date'] }, field, { $convert: { input: '$_id', to: 'date', onError: null, onNull: null } }] } },
      },
    },
    { $match: { t: { $gte: from, $lt: to } } },
    { $group: { _id: { $subtract: ['$t', { $mod: [{ $subtract: ['$t', phase] }, 3_600_000] }] }, n: { $sum: 1 } } },
  ];
  const out = new Map<number, number>();
  for await (const row of coll.aggregate<{ _id: number | bigint | { toNumber(): number }; n: number }>(pipeline, { allowDiskUse: true })) {
    const k = row._id;
    const start = typeof k === 'number' ? k : typeof k === 'bigint' ? Number(k) : k.toNumber();
    out.set(start, (out.get(start) ?? 0) + Number(row.n));
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
