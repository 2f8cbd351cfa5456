/**
 * The oplog window: the cluster times of the oldest and newest entries of `local.oplog.rs`
 * (how long a resume token stays usable). Needs read access to the `local` database.
 */
import type { MongoClient, Timestamp } from 'mongodb';

export interface OplogWindow {
  first: Timestamp;
  last: Timestamp;
  /** Seconds between the oldest and the newest entry. */
  seconds: number;
}

export async function oplogWindow(client: MongoClient): Promise<OplogWindow | undefined> {
  const oplog = client.db('local').collection<{ ts: Timestamp }>('oplog.rs');
  const [first] = await oplog.find({}, { projection: { ts: 1 } }).sort({ $natural: 1 }).limit(1).toArray();
  const [last] = await oplog.find({}, { projection: { ts: 1 } }).sort({ $natural: -1 }).limit(1).toArray();
  if (!first || !last) return undefined;
  return { first: first.ts, last: last.ts, seconds: last.ts.getHighBitsUnsigned() - first.ts.getHighBitsUnsigned() };
}
