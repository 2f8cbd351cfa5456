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

/**
 * The cluster time inside a resume token, when it has the server's format: `_data` is a hex
 * KeyString starting with 0x82 (a BSON Timestamp: 4 bytes seconds, 4 bytes increment, big
 * endian). Undefined for any other format: the token stays opaque then.
 */
export function tokenClusterTime(token: unknown): Timestamp | undefined {
  const data = (token as { _data?: unknown } | null)?._data;
  if (typeof data !== 'string' || !/^82[0-9a-fA-F]{16}/.test(data)) return undefined;
  const t = Number.parseInt(data.slice(2, 10), 16);
  const i = Number.parseInt(data.slice(10, 18), 16);
  return new Timestamp({ t, i });
}

export function timestampSeconds(t: Timestamp): number {
  return t.getHighBitsUnsigned();
}

export function compareTimestamps(a: Timestamp, b: Timestamp): number {
  return a.comp(b);
}
