import type { Db, Document } from 'mongodb';
import { Timestamp } from 'mongodb';

/** The deployment's current cluster time (the operationTime of a no-op command). */
export async function clusterTimeNow(db: Db): Promise<Timestamp> {
  const reply: Document = await db.command({ ping: 1 });
  const t = reply.operationTime ?? reply.$clusterTime?.clusterTime;
  if (t instanceof Timestamp) return t;
  // A server that reports no cluster time (standalone): use wall-clock seconds.
  return new Timestamp({ t: Math.floor(Date.now() / 1000), i: 0 });
}

export function timestampSeconds(t: Timestamp): number {
  return t.getHighBitsUnsigned();
}

export function compareTimestamps(a: Timestamp, b: Timestamp): number {
  return a.comp(b);
}
