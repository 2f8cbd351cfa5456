/**
 * Taking the namespace lease (lease.ts) as an active `run`, or waiting for it as a standby
 * (`run --standby`), and saying from whom it was taken.
 *
 * Protocol: each attempt reads the holder (lease-holder.ts), then calls `acquire()`, which is
 * atomic (a replace conditioned on the holder it saw, or an insert under the unique `_id`): of
 * several processes trying at once exactly one wins, the others get LEASE_HELD. A plain `run`
 * tries once (LEASE_HELD ends it: exit 3). A standby tries again every renewal interval (a third
 * of the lease TTL) until it wins or its signal aborts. `acquire()` takes a lease that expired
 * (its holder froze or died elsewhere: at most TTL + one interval after the holder's last
 * renewal) or whose holder is a process of this host that is gone (at the next try). While it
 * waits, the standby logs one line per holder it waits for and reports that holder to
 * `onStandby`. Once it holds the lease, it logs `took over the lease from <previous owner>` with
 * its epoch and how long the namespace was without an owner, when known.
 */
import type { Collection, Document } from 'mongodb';
import { isCronLogError } from '../errors.js';
import type { Logger } from '../log.js';
import { sleep, throwIfAborted } from '../retry.js';
import type { LeaseHolder } from './lease-holder.js';
import { describeLeaseHolder, readLeaseHolder } from './lease-holder.js';
import { leaseRenewalMs } from './lease.js';

export { leaseRenewalMs };


export interface TakeLeaseOptions {
  lease: { acquire(): Promise<unknown>; readonly owner: string };
  /** Where the lease document is (`jobs`), to read its holder. */
  jobs: Collection<Document>;
  namespace: string;
  /** Wait for the lease (true) or fail with LEASE_HELD while another process holds it. */
  standby: boolean;
  /** The lease TTL: a standby tries again every third of it. */
  ttlMs: number;
  /** Ends the wait (rejects with its reason). */
  signal: AbortSignal;
  log: Logger;
  /** Runs each attempt, e.g. again while MongoDB cannot be reached. Default: once. */
  attempt?: <T>(step: () => Promise<T>) => Promise<T>;
  /** The holder a standby now waits for (undefined: none seen, the lease was taken and released meanwhile). */
  onStandby?: (holder: LeaseHolder | undefined) => void;
}

export interface LeaseTakeover {
  /** This process's acquisition, as recorded (undefined if it could not be read back). */
  holder: LeaseHolder | undefined;
  /** The owner the lease was taken from: one that left it behind, or the one waited for that released it. */
  previous: LeaseHolder | undefined;
  /** How the previous owner let go. */
  how: 'expired' | 'exited' | 'released' | undefined;
  /** From the previous lease's expiry to the takeover (only when it had expired). */
  ownerlessMs: number | undefined;
}

/** `"run" on host-1 (pid 4242, epoch 7) since 2024-…`: whom a standby waits for. */
export function describeWaitingFor(holder: LeaseHolder | undefined): string {
  return holder === undefined ? 'another process' : `${describeLeaseHolder(holder)} since ${holder.acquiredAt.toISOString()}`;
}

function describeTakeover(t: LeaseTakeover): string {
  const previous = t.previous as LeaseHolder;
  const epoch = t.holder?.epoch === undefined ? '' : ` (epoch ${t.holder.epoch})`;
  const since = t.how === 'expired'
    ? `: the namespace had no owner for ${((t.ownerlessMs ?? 0) / 1000).toFixed(1)} s, since its lease expired at ${previous.expiresAt.toISOString()}`
    : t.how === 'exited'
      ? ': its process on this host had exited (its lease was valid until ' + `${previous.expiresAt.toISOString()})`
      : ': it released the lease';
  return `took over the lease from ${describeLeaseHolder(previous, false)}${epoch}${since}`;
}

/** Takes the lease, waiting for it as a standby when `standby` is set; logs a takeover. */
export async function takeLease(o: TakeLeaseOptions): Promise<LeaseTakeover> {
  const attempt = o.attempt ?? (<T>(step: () => Promise<T>): Promise<T> => step());
  const retryMs = leaseRenewalMs(o.ttlMs);
  let waitingFor: LeaseHolder | undefined;
  let waited = false;
  for (;;) {
    throwIfAborted(o.signal);
    const { before, held, current } = await attempt(async () => {
      const seen = await readLeaseHolder(o.jobs, o.namespace);
      try {
        await o.lease.acquire();
        return { before: seen, held: false, current: undefined };
      } catch (err) {
        if (!(o.standby && isCronLogError(err) && err.code === 'LEASE_HELD')) throw err;
        return { before: seen, held: true, current: await readLeaseHolder(o.jobs, o.namespace) };
      }
    });
    if (!held) return takenOver(o, before, waited ? waitingFor : undefined);
    if (!waited || current?.owner !== waitingFor?.owner) {
      o.log.info(`standby: waiting for the lease held by ${describeWaitingFor(current)}; taking over when it expires or its process exits`, {
        holder: current ? holderMeta(current) : null,
        retryEveryMs: retryMs,
      });
      o.onStandby?.(current);
    }
    waited = true;
    waitingFor = current;
    await sleep(retryMs, o.signal);
  }
}

function holderMeta(h: LeaseHolder): Record<string, unknown> {
  return { command: h.command, host: h.host, pid: h.pid, epoch: h.epoch ?? null, since: h.acquiredAt.toISOString(), expiresAt: h.expiresAt.toISOString() };
}

/** What the acquisition that just succeeded took over from `before` (the holder read before it) or `waitedFor`. */
async function takenOver(o: TakeLeaseOptions, before: LeaseHolder | undefined, waitedFor: LeaseHolder | undefined): Promise<LeaseTakeover> {
  const now = Date.now();
  const holder = await readLeaseHolder(o.jobs, o.namespace).catch(() => undefined);
  const left = before !== undefined && before.owner !== o.lease.owner ? before : undefined;
  const previous = left ?? waitedFor;
  const expired = left !== undefined && left.expiresAt.getTime() <= now;
  const takeover: LeaseTakeover = {
    holder: holder?.owner === o.lease.owner ? holder : undefined,
    previous,
    how: left === undefined ? (previous === undefined ? undefined : 'released') : expired ? 'expired' : 'exited',
    ownerlessMs: expired ? now - left.expiresAt.getTime() : undefined,
  };
  if (previous !== undefined) {
    o.log.info(describeTakeover(takeover), {
      previous: holderMeta(previous),
      epoch: takeover.holder?.epoch ?? null,
      ownerlessMs: takeover.ownerlessMs ?? null,
    });
  }
  return takeover;
}
