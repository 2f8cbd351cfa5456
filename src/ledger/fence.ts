/**
 * Fencing tokens (DESIGN invariant 8). A Fence is one acquisition of the namespace lease
 * (lease.ts): its epoch and who holds it. Every write to shared state carries the epoch:
 *
 * - A document written by the owner (checkpoint, day of hour states, seal watermark) is stamped
 *   `epoch: <mine>`, and the write's filter requires `epoch` absent or ≤ mine: once a newer
 *   owner has written the document, the stale owner's write matches nothing, its upsert's
 *   insert of the same `_id` fails with a duplicate key error, and the writer gets FENCED.
 * - Every fenced write first checks the lease (`check()`): it is refused when the lease holds a
 *   newer epoch, also for a document the newer owner has not written yet. For writes that are
 *   not conditional on a document (an operation record in `logs`, a manifest put) that check
 *   is the fence. Within half the lease TTL of the acquisition or of the last renewal the check
 *   is answered without a round trip: that renewal set the lease's expiry a whole TTL after it
 *   was sent, so no other process can hold a newer epoch yet (half the TTL is the margin for
 *   clock skew between hosts). Later, e.g. once renewals fail during a MongoDB outage, or
 *   after the process was frozen, it reads the lease.
 *
 * FENCED is fatal: the writer stops at once (exit code 3) and never retries as if it still
 * owned the namespace. Writers without a fence (reconcile, backfill: they run beside `run`
 * and hold no namespace lease) write unconditionally and leave `epoch` as it is.
 */
import type { Collection, Document, Filter, UpdateFilter } from 'mongodb';
import { CronLogError } from '../errors.js';
import { describeLeaseHolder } from './lease-holder.js';

/** The lease document in `jobs` (see lease.ts). */
export interface LeaseDoc {
  _id: string;
  kind: 'lease';
  owner: string;
  host: string;
  pid: number;
  command: string;
  expiresAt: Date;
  acquiredAt: Date;
  /** Strictly increasing per namespace, one per acquisition (absent on leases written before epochs). */
  epoch?: number;
}

/** `"run" on host-1 (pid 4242, epoch 7) since <time>`: the lease holder a FENCED error names. */
export function describeHolder(doc: Pick<LeaseDoc, 'command' | 'host' | 'pid' | 'epoch' | 'acquiredAt'>): string {
  return `${describeLeaseHolder(doc)} since ${doc.acquiredAt.toISOString()}`;
}

export interface FenceOwner {
  epoch: number;
  owner: string;
  host: string;
  pid: number;
  command: string;
}

export class Fence implements FenceOwner {
  readonly epoch: number;
  readonly owner: string;
  readonly host: string;
  readonly pid: number;
  readonly command: string;

  /** When the lease was last confirmed ours (the acquisition or a renewal was sent), ms. */
  private confirmedAt = -Infinity;

  constructor(
    private readonly jobs: Collection<Document>,
    readonly namespace: string,
    owner: FenceOwner,
    /** How long after a confirmation check() trusts it (half the lease TTL; 0: always read). */
    private readonly trustMs = 0,
  ) {
    this.epoch = owner.epoch;
    this.owner = owner.owner;
    this.host = owner.host;
    this.pid = owner.pid;
    this.command = owner.command;
  }

  private async holder(): Promise<LeaseDoc | null> {
    return (await this.jobs.findOne({ _id: `lease:${this.namespace}` as never })) as LeaseDoc | null;
  }

  /** The lease was ours when a request sent at `at` (ms) acquired or renewed it. */
  confirm(at: number): void {
    if (at > this.confirmedAt) this.confirmedAt = at;
  }

  /** Throws FENCED when a newer epoch holds the lease (see the header for when it reads it). */
  async check(): Promise<void> {
    if (Date.now() - this.confirmedAt < this.trustMs) return;
    const doc = await this.holder();
    if (doc && typeof doc.epoch === 'number' && doc.epoch > this.epoch) throw this.fenced(doc);
  }

  /** The FENCED error of a write that a newer epoch refused, naming the newer owner. */
  async refused(): Promise<CronLogError> {
    return this.fenced(await this.holder().catch(() => null));
  }

  private fenced(doc: LeaseDoc | null): CronLogError {
    const newer = doc && typeof doc.epoch === 'number' && doc.epoch > this.epoch ? describeHolder(doc) : 'a newer owner';
    return new CronLogError(
      'FENCED',
      `this process ("${this.command}" on ${this.host}, pid ${this.pid}, epoch ${this.epoch}) no longer owns ${this.namespace}: ` +
        `${newer} took it over. Stopping without writing anything more; the new owner carries on from its own checkpoint`,
    );
  }
}

/** Where a command's fence is kept once it holds the namespace lease (none: writes are not fenced). */
export class FenceHolder {
  fence: Fence | undefined;

  hold(fence: Fence): void {
    this.fence = fence;
  }

  /** Throws FENCED when a newer epoch holds the lease (nothing without a fence). */
  async check(): Promise<void> {
    await this.fence?.check();
  }

  /** The epoch a write records (undefined without a fence). */
  get epoch(): number | undefined {
    return this.fence?.epoch;
  }
}

export function isDuplicateKey(err: unknown): boolean {
  return (err as { code?: number } | undefined)?.code === 11000;
}

/** The filter part of a fenced write: the document was last written by this epoch or an older one. */
export function notNewerThan(epoch: number): Document {
  return { $or: [{ epoch: { $exists: false } }, { epoch: { $lte: epoch } }] };
}

/**
 * `updateOne(filter, update, { upsert })`, fenced when `holder` has a fence: the filter also
 * requires `epoch` absent or ≤ its epoch and the update sets `epoch`; a refusal throws FENCED.
 */
export async function fencedUpsert<T extends Document>(
  coll: Collection<T>,
  filter: Filter<T>,
  update: UpdateFilter<T> & { $set: Document },
  holder: FenceHolder | undefined,
  options: { writeConcern?: { w: 'majority'; j: boolean } } = {},
): Promise<void> {
  const fence = holder?.fence;
  if (!fence) {
    await coll.updateOne(filter, update, { upsert: true, ...options });
    return;
  }
  // The lease first: a document the newer owner has not written yet carries no newer epoch.
  await fence.check();
  try {
    await coll.updateOne({ ...filter, ...notNewerThan(fence.epoch) } as Filter<T>, { ...update, $set: { ...update.$set, epoch: fence.epoch } }, { upsert: true, ...options });
  } catch (err) {
    if (isDuplicateKey(err)) throw await fence.refused();
    throw err;
  }
}

/** Whether `err` is a FENCED refusal (fatal: never retried). */
export function isFenced(err: unknown): err is CronLogError {
  return err instanceof CronLogError && err.code === 'FENCED';
}
