/**
 * The cluster clock. A BSON Timestamp is (seconds, increment); the emulator keeps it as one
 * unsigned 64-bit bigint `(seconds << 32) | increment`, so timestamps compare as numbers.
 * Every write gets a fresh, strictly increasing timestamp (one oplog entry each), like the
 * primary of a replica set.
 */
import { Timestamp } from 'bson';

export type Ts = bigint;

export function tsFromParts(seconds: number, increment: number): Ts {
  return (BigInt(seconds) << 32n) | BigInt(increment);
}

export function tsSeconds(ts: Ts): number {
  return Number(ts >> 32n);
}

export function tsIncrement(ts: Ts): number {
  return Number(ts & 0xffffffffn);
}

export function toTimestamp(ts: Ts): Timestamp {
  return new Timestamp({ t: tsSeconds(ts), i: tsIncrement(ts) });
}

/** Accepts a BSON Timestamp (or a Long holding one) as sent by a client. */
export function fromTimestamp(value: unknown): Ts | undefined {
  if (value instanceof Timestamp) return tsFromParts(value.t, value.i);
  const v = value as { _bsontype?: string; high?: number; low?: number } | null;
  if (v && typeof v === 'object' && (v._bsontype === 'Timestamp' || v._bsontype === 'Long')) {
    return tsFromParts((v.high ?? 0) >>> 0, (v.low ?? 0) >>> 0);
  }
  return undefined;
}

export function formatTs(ts: Ts): string {
  return `Timestamp(${tsSeconds(ts)}, ${tsIncrement(ts)})`;
}

export class ClusterClock {
  #last: Ts = 0n;
  /** The largest `peekNext()` handed out: no write may get a smaller timestamp. */
  #floor: Ts = 0n;

  /** The newest timestamp handed out (the cluster time). */
  get latest(): Ts {
    return this.#last;
  }

  /** Timestamps below this are never used again (persisted with snapshots). */
  get floor(): Ts {
    return this.#floor > this.#last ? this.#floor : this.#last;
  }

  /** A new timestamp, greater than every earlier one. */
  tick(): Ts {
    let next = this.#next();
    if (next < this.#floor) next = this.#floor;
    this.#last = next;
    return next;
  }

  /**
   * The smallest timestamp a write could still receive: every later `tick()` returns a value
   * greater than or equal to it (even if the wall clock goes back). A high-water-mark resume
   * token at this time therefore covers exactly the writes not seen yet.
   */
  peekNext(): Ts {
    let next = this.#next();
    if (next < this.#floor) next = this.#floor;
    this.#floor = next;
    return next;
  }

  #next(): Ts {
    const now = Math.floor(Date.now() / 1000);
    const seconds = tsSeconds(this.#last);
    if (now > seconds) return tsFromParts(now, 1);
    const inc = tsIncrement(this.#last);
    return inc >= 0xffffffff ? tsFromParts(seconds + 1, 1) : tsFromParts(seconds, inc + 1);
  }

  /** Never go back behind a persisted or replayed timestamp. */
  advanceTo(ts: Ts): void {
    if (ts > this.#last) this.#last = ts;
  }

  /** Restores the floor saved with a snapshot. */
  raiseFloor(ts: Ts): void {
    if (ts > this.#floor) this.#floor = ts;
  }
}
