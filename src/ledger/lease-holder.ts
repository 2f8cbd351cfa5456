/**
 * Who holds a namespace lease (`jobs` document `lease:<namespace>`, written by lease.ts), read
 * only: what `status` lists as the owner, what a standby logs and answers on `/readyz` while it
 * waits, and whom a new owner names when it takes over.
 */
import type { Collection, Document } from 'mongodb';

export interface LeaseHolder {
  /** `host:pid:random`, unique per acquisition. */
  owner: string;
  /** The command holding it: `run`, `seal`. */
  command: string;
  host: string;
  pid: number;
  /** The fencing epoch of this acquisition, when the lease records one. */
  epoch: number | undefined;
  acquiredAt: Date;
  expiresAt: Date;
}

/** The lease document of `namespace`, or undefined when nobody holds it (never taken, or released). */
export async function readLeaseHolder(jobs: Collection<Document>, namespace: string): Promise<LeaseHolder | undefined> {
  const doc = await jobs.findOne({ _id: `lease:${namespace}` as never });
  // A released lease keeps its document (and epoch) with `expiresAt` at the epoch (lease.ts).
  if (doc === null || (doc.expiresAt as Date).getTime() === 0) return undefined;
  return {
    owner: String(doc.owner),
    command: String(doc.command),
    host: String(doc.host),
    pid: Number(doc.pid),
    epoch: typeof doc.epoch === 'number' ? doc.epoch : undefined,
    acquiredAt: doc.acquiredAt as Date,
    expiresAt: doc.expiresAt as Date,
  };
}

/** `"run" on host-1 (pid 4242, epoch 7)`: the holder as people name it (logs, errors, status). */
export function describeLeaseHolder(h: Pick<LeaseHolder, 'command' | 'host' | 'pid'> & { epoch?: number | undefined }, withEpoch = true): string {
  return `"${h.command}" on ${h.host} (pid ${h.pid}${withEpoch && h.epoch !== undefined ? `, epoch ${h.epoch}` : ''})`;
}
