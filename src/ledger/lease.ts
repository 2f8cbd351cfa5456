/**
 * One owner per watched namespace, fenced: `jobs` document `lease:<namespace>`
 *
 *   { _id, kind: "lease", owner, host, pid, command, acquiredAt, expiresAt, epoch }
 *
 * `run` holds it while it captures (renewed every third of `ttlMs`), `seal` while it seals; a
 * second process is refused (LEASE_HELD) with a message naming the holder. A holder on this
 * host whose process is gone (killed) is taken over at once; elsewhere the lease expires after
 * `ttlMs`.
 *
 * The protocol (DESIGN invariant 8, fencing tokens):
 * - The document is never deleted: release() sets `expiresAt` to the past, so `epoch` survives.
 * - An acquisition is ONE conditional update: filter "free (expired), or exactly the holder we
 *   read and judged dead", `$inc: { epoch: 1 }`, upsert. When another process changed the
 *   document meanwhile the filter matches nothing and the upsert's insert of the same `_id`
 *   fails with a duplicate key error: that process won. Epochs therefore increase strictly per
 *   namespace and two acquirers never get the same one.
 * - acquire() returns a Fence (the epoch and who holds it). Every write to shared state carries
 *   the epoch (see fence.ts): a write is refused once a newer epoch exists, and the writer stops
 *   with FENCED (exit code 3), naming the newer owner.
 */
import { hostname } from 'node:os';
import type { Collection, Document } from 'mongodb';
import { CronLogError } from '../errors.js';
import { processAlive } from '../spool/local-process.js';
import type { FenceHolder, LeaseDoc } from './fence.js';
import { Fence, describeHolder } from './fence.js';

/** How often a lease of `ttlMs` is renewed, and a standby tries to take it: a third of its TTL. */
export function leaseRenewalMs(ttlMs: number): number {
  return Math.max(100, Math.floor(ttlMs / 3));
}


export class Lease {
  private readonly jobs: Collection<LeaseDoc>;
  private readonly id: string;
  readonly owner = `${hostname()}:${process.pid}:${Math.random().toString(36).slice(2, 8)}`;
  private timer: NodeJS.Timeout | undefined;
  /** The fence of the current acquisition (undefined before acquire()). */
  fence: Fence | undefined;
  /** Called once if a renewal finds the lease taken by another process (e.g. after a long outage). */
  onLost: ((err: CronLogError) => void) | undefined;

  constructor(
    jobs: Collection<Document>,
    private readonly namespace: string,
    private readonly command: string,
    private readonly ttlMs = 30_000,
    /** Where the fence goes once acquired (the ledger writers read it from there). */
    private readonly holder?: FenceHolder,
  ) {
    this.jobs = jobs as unknown as Collection<LeaseDoc>;
    this.id = `lease:${namespace}`;
  }

  private heldError(current: LeaseDoc): CronLogError {
    return new CronLogError(
      'LEASE_HELD',
      `another cron-log-service process owns ${this.namespace}: "${current.command}" on ${current.host} (pid ${current.pid}) ` +
        `since ${current.acquiredAt.toISOString()}; stop it first (its lease expires ${current.expiresAt.toISOString()} if it died)`,
    );
  }

  private raceError(): CronLogError {
    return new CronLogError('LEASE_HELD', `another process took the lease ${this.id} at the same moment; retry`);
  }

  /** Takes the lease with a new epoch; throws LEASE_HELD while a live process holds it. */
  async acquire(): Promise<Fence> {
    const now = new Date();
    const current = await this.jobs.findOne({ _id: this.id });
    // Free: released or expired. Else only the very holder we read, when it is ours or a
    // process of this host that is gone.
    const free: Document = { expiresAt: { $lte: now } };
    let filter: Document = { _id: this.id, ...free };
    if (current && current.expiresAt > now) {
      const sameHostDead = current.host === hostname() && !processAlive(current.pid);
      if (current.owner !== this.owner && !sameHostDead) throw this.heldError(current);
      filter = { _id: this.id, $or: [free, { owner: current.owner, expiresAt: current.expiresAt }] };
    }
    let doc: LeaseDoc | null;
    try {
      doc = await this.jobs.findOneAndUpdate(
        filter,
        {
          $set: { kind: 'lease', owner: this.owner, host: hostname(), pid: process.pid, command: this.command, expiresAt: new Date(now.getTime() + this.ttlMs), acquiredAt: now },
          $inc: { epoch: 1 },
        },
        { upsert: true, returnDocument: 'after', writeConcern: { w: 'majority', j: true } },
      );
    } catch (err) {
      if ((err as { code?: number }).code === 11000) throw this.raceError();
      throw err;
    }
    if (!doc || doc.owner !== this.owner || typeof doc.epoch !== 'number') throw this.raceError();
    this.fence = new Fence(this.jobs as unknown as Collection<Document>, this.namespace, {
      epoch: doc.epoch,
      owner: doc.owner,
      host: doc.host,
      pid: doc.pid,
      command: doc.command,
    }, this.ttlMs / 2);
    this.fence.confirm(now.getTime());
    this.holder?.hold(this.fence);
    if (this.timer) clearInterval(this.timer);
    this.timer = setInterval(() => void this.renew().catch(() => undefined), leaseRenewalMs(this.ttlMs));
    this.timer.unref();
    return this.fence;
  }

  private async renew(): Promise<void> {
    const sentAt = Date.now();
    const r = await this.jobs.updateOne({ _id: this.id, owner: this.owner }, { $set: { expiresAt: new Date(sentAt + this.ttlMs) } });
    if (r.matchedCount === 1) this.fence?.confirm(sentAt);
    if (r.matchedCount === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
      const holder = await this.jobs.findOne({ _id: this.id }).catch(() => null);
      this.onLost?.(
        new CronLogError(
          'LEASE_HELD',
          `lost the lease on ${this.namespace}${holder ? ` to ${describeHolder(holder)}` : ''}` +
            `${this.fence ? ` (this process held epoch ${this.fence.epoch})` : ''}: ` +
            'it expired while this process could not renew it; stopping so two processes never write the same spool',
        ),
      );
    }
  }

  /** Frees the lease (expires it now; the document and its epoch stay). */
  async release(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.jobs.updateOne({ _id: this.id, owner: this.owner }, { $set: { expiresAt: new Date(0) } }).catch(() => undefined);
  }
}
