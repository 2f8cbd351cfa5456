/**
 * One owner per watched namespace: `jobs` document `lease:<namespace>`. `run` holds it while it
 * captures (renewed every few seconds), `seal` while it seals; a second process is refused
 * with a message naming the holder. A holder on this host whose process is gone (killed) is
 * taken over at once; elsewhere the lease expires after `ttlMs`.
 */
import { hostname } from 'node:os';
import type { Collection, Document } from 'mongodb';
import { CronLogError } from '../errors.js';

interface LeaseDoc {
  _id: string;
  kind: 'lease';
  owner: string;
  host: string;
  pid: number;
  command: string;
  expiresAt: Date;
  acquiredAt: Date;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export class Lease {
  private readonly jobs: Collection<LeaseDoc>;
  private readonly id: string;
  readonly owner = `${hostname()}:${process.pid}:${Math.random().toString(36).slice(2, 8)}`;
  private timer: NodeJS.Timeout | undefined;
  /** Called once if a renewal finds the lease taken by another process (e.g. after a long outage). */
  onLost: ((err: CronLogError) => void) | undefined;

  constructor(
    jobs: Collection<Document>,
    namespace: string,
    private readonly command: string,
    private readonly ttlMs = 30_000,
  ) {
    this.jobs = jobs as unknown as Collection<LeaseDoc>;
    this.id = `lease:${namespace}`;
  }

  async acquire(): Promise<void> {
    const now = new Date();
    const current = await this.jobs.findOne({ _id: this.id });
    if (current && current.owner !== this.owner && current.expiresAt > now) {
      const sameHostDead = current.host === hostname() && !alive(current.pid);
      if (!sameHostDead) {
        throw new CronLogError(
          'LEASE_HELD',
          `another cron-log-service process owns ${this.id.slice(6)}: "${current.command}" on ${current.host} (pid ${current.pid}) ` +
            `since ${current.acquiredAt.toISOString()}; stop it first (its lease expires ${current.expiresAt.toISOString()} if it died)`,
        );
      }
    }
    const doc: LeaseDoc = {
      _id: this.id,
      kind: 'lease',
      owner: this.owner,
      host: hostname(),
      pid: process.pid,
      command: this.command,
      expiresAt: new Date(now.getTime() + this.ttlMs),
      acquiredAt: now,
    };
    // Replace only what we saw, or insert where we saw nothing, so two processes racing cannot
    // both win (the `_id` is unique: the second insert fails).
    try {
      if (current) {
        const r = await this.jobs.replaceOne({ _id: this.id, owner: current.owner, expiresAt: current.expiresAt }, doc);
        if (r.matchedCount === 0) throw new CronLogError('LEASE_HELD', `another process took the lease ${this.id} at the same moment; retry`);
      } else {
        await this.jobs.insertOne(doc);
      }
    } catch (err) {
      if ((err as { code?: number }).code === 11000) throw new CronLogError('LEASE_HELD', `another process took the lease ${this.id} at the same moment; retry`);
      throw err;
    }
    this.timer = setInterval(() => void this.renew().catch(() => undefined), Math.max(100, Math.floor(this.ttlMs / 3)));
    this.timer.unref();
  }

  private async renew(): Promise<void> {
    const r = await this.jobs.updateOne({ _id: this.id, owner: this.owner }, { $set: { expiresAt: new Date(Date.now() + this.ttlMs) } });
    if (r.matchedCount === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
      const holder = await this.jobs.findOne({ _id: this.id }).catch(() => null);
      this.onLost?.(
        new CronLogError(
          'LEASE_HELD',
          `lost the lease on ${this.id.slice(6)}${holder ? ` to "${holder.command}" on ${holder.host} (pid ${holder.pid})` : ''}: ` +
            'it expired while this process could not renew it; stopping so two processes never write the same spool',
        ),
      );
    }
  }

  async release(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.jobs.deleteOne({ _id: this.id, owner: this.owner }).catch(() => undefined);
  }
}
