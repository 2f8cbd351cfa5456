/**
 * The oplog window: the cluster times of the oldest and newest entries of `local.oplog.rs`
 * (how long a resume token stays usable), and whether the oplog is full yet: until it is, no
 * entry has fallen off and the window keeps growing. Needs read access to `local`.
 */
import type { Document, MongoClient, Timestamp } from 'mongodb';

export interface OplogWindow {
  first: Timestamp;
  last: Timestamp;
  /** Seconds between the oldest and the newest entry. */
  seconds: number;
  /** Share of the oplog's capacity in use (bytes, or entries), when the server reports it. */
  usedFraction: number | undefined;
  /** False while the capped oplog has room left: nothing has fallen off yet. */
  full: boolean;
}

export async function oplogWindow(client: MongoClient): Promise<OplogWindow | undefined> {
  const local = client.db('local');
  const oplog = local.collection<{ ts: Timestamp }>('oplog.rs');
  const [first] = await oplog.find({}, { projection: { ts: 1 } }).sort({ $natural: 1 }).limit(1).toArray();
  const [last] = await oplog.find({}, { projection: { ts: 1 } }).sort({ $natural: -1 }).limit(1).toArray();
  if (!first || !last) return undefined;
  let usedFraction: number | undefined;
  try {
    const stats: Document = await local.command({ collStats: 'oplog.rs' });
    if (typeof stats.maxSize === 'number' && stats.maxSize > 0 && typeof stats.size === 'number') usedFraction = stats.size / stats.maxSize;
    else if (typeof stats.max === 'number' && stats.max > 0 && typeof stats.count === 'number') usedFraction = stats.count / stats.max;
  } catch {
    // No collStats permission: judge by the window alone.
  }
  return {
    first: first.ts,
    last: last.ts,
    seconds: last.ts.getHighBitsUnsigned() - first.ts.getHighBitsUnsigned(),
    usedFraction,
    full: usedFraction === undefined || usedFraction >= 0.9,
  };
}
