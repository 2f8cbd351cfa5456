/**
 * The instant an archived document belongs to: its timestamp field (`createdAt` by default) when
 * that is a date; else the ObjectId time of its `_id`; else the change event's cluster time.
 */
import type { Timestamp } from 'bson';

export type TimeSource = 'field' | 'objectId' | 'clusterTime' | 'wallTime';

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
    if (v instanceof Date && !Number.isNaN(v.getTime())) return { ms: v.getTime(), source: 'field' };
    const oidMs = objectIdTime(doc._id);
    if (oidMs !== undefined) return { ms: oidMs, source: 'objectId' };
    if (clusterTime !== undefined) return { ms: clusterTime.getHighBitsUnsigned() * 1000, source: 'clusterTime' };
    if (wallTime instanceof Date) return { ms: wallTime.getTime(), source: 'wallTime' };
    return { ms: Date.now(), source: 'wallTime' };
  }
}
