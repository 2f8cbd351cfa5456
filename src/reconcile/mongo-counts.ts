/**
 * MongoDB's side of reconcile: how many documents of the collection belong to each hour of a
 * range: one aggregation for the whole range (plus one, usually empty, for documents whose hour
 * comes from their ObjectId), never one query per hour. A document belongs to the hour of its
 * timestamp field when that is a date in the range event times may come from, else of its
 * ObjectId time (the tailer's rule, src/hours/event-time.ts; documents with neither are archived
 * by cluster time, which no query can reproduce, and are not counted here).
 *
 * Hours are the HourClock's slots, whatever the zone: the server groups times into cells of a
 * grid fine enough that every slot boundary of the range is a cell boundary (whole UTC hours in
 * UTC and whole-hour zones; hours starting at :30 in Asia/Kolkata; half hours across a
 * 30-minute DST change such as Lord Howe Island's), and the cells are added up per slot here.
 * So a range may cross offset changes and mix phases. Only arithmetic on `$toLong` is used
 * (MongoDB 4.0+).
 */
import type { Collection, Document } from 'mongodb';
import { HOUR_MS, HourClock } from '../hours/hour-clock.js';
import { timeRangeFilters } from '../hours/time-filter.js';

/** Greatest common divisor of two non-negative integers. */
function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

function mod(x: number, m: number): number {
  return ((x % m) + m) % m;
}

/** The counting grid of [from, to): cells of `size` ms starting at `phase` past each multiple of it. */
export interface CountGrid {
  size: number;
  phase: number;
}

/**
 * The coarsest grid (at most an hour) on which `from` and every slot boundary in [from, to)
 * lie: `size` divides an hour and the distance between any two of them.
 */
export function countGrid(clock: HourClock, from: number, to: number): CountGrid {
  let size = HOUR_MS;
  for (const slot of clock.slotsBetween(from, to)) {
    if (slot.start > from) size = gcd(size, mod(slot.start - from, HOUR_MS));
  }
  return { size, phase: mod(from, size) };
}

export async function countPerHour(
  coll: Collection<Document>,
  timestampField: string,
  from: number,
  to: number,
  zone: string,
): Promise<Map<number, number>> {
  const clock = new HourClock(zone);
  const { size, phase } = countGrid(clock, from, to);
  // The start of the grid cell of a date expression `t`. Both pipelines match only times in
  // [from, to), so `t - phase` is never negative and one $mod finds the cell (fewer operators per
  // document: the grouping's cost is in evaluating this expression).
  const cellOf = (t: unknown): Document => {
    const ms = { $toLong: t };
    return { $subtract: [ms, { $mod: [phase === 0 ? ms : { $subtract: [ms, phase] }, size] }] };
  };
  const { byField, byObjectId } = timeRangeFilters(timestampField, from, to);
  const pipelines: Document[][] = [
    // Documents with a date in the timestamp field: a plain range match (index-friendly).
    [{ $match: byField }, { $group: { _id: cellOf(`$${timestampField}`), n: { $sum: 1 } } }],
    // Documents without one: the hour of their ObjectId time (usually none).
    [
      { $match: byObjectId },
      { $project: { _id: 0, t: { $convert: { input: '$_id', to: 'date', onError: null, onNull: null } } } },
      { $match: { t: { $gte: new Date(from), $lt: new Date(to) } } },
      { $group: { _id: cellOf('$t'), n: { $sum: 1 } } },
    ],
  ];
  const out = new Map<number, number>();
  for (const pipeline of pipelines) {
    for await (const row of coll.aggregate<{ _id: number | bigint | { toNumber(): number }; n: number }>(pipeline, { allowDiskUse: true })) {
      const k = row._id;
      const cell = typeof k === 'number' ? k : typeof k === 'bigint' ? Number(k) : k.toNumber();
      // Each cell lies in one slot (every slot boundary is a cell boundary).
      const start = clock.slotOf(cell).start;
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
