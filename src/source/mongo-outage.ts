/**
 * The MongoDB outage capture is waiting out (mongo-errors.ts says which failures are one): since
 * when, the last failure, the retries so far. The tailer records each failed attempt to reach
 * MongoDB (`unavailable`) and the first success after them (`available`); readiness, metrics,
 * the webhook alert and `status` read it, and listeners hear when an outage begins and ends.
 *
 * Logs: a warning when an outage begins, another at most once a minute while it lasts, and one
 * line when MongoDB is reachable again (with how long it was not).
 */
import { CronLogError } from '../errors.js';
import type { Logger } from '../log.js';
import { describeMongoError } from './mongo-errors.js';

export interface MongoOutage {
  /** The servers (`host:port,…`) that cannot be reached. */
  readonly server: string;
  readonly since: Date;
  /** The last failure, one line (redacted). */
  readonly error: string;
  /** Failed attempts to reach MongoDB since the outage began (the first failure counts). */
  readonly failures: number;
}

export interface MongoOutageListener {
  /** An outage began (once per outage). */
  began?(outage: MongoOutage): void;
  /** MongoDB is reachable again after `outage`, which lasted `downMs`. */
  ended?(outage: MongoOutage, downMs: number): void;
}

/** While an outage lasts, at most one warning per this period. */
const REPEAT_LOG_MS = 60_000;

export class MongoOutageTracker {
  private current: MongoOutage | undefined;
  private total = 0;
  private lastLogAt = 0;
  private readonly listeners = new Set<MongoOutageListener>();

  constructor(
    readonly server: string,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  /** The outage in progress, if any. */
  get outage(): MongoOutage | undefined {
    return this.current;
  }

  /** Outages so far (the one in progress included). */
  get outages(): number {
    return this.total;
  }

  /** How long the current outage has lasted, milliseconds (0 while MongoDB is reachable). */
  downMs(now = this.now()): number {
    return this.current === undefined ? 0 : Math.max(0, now - this.current.since.getTime());
  }

  /** Calls `listener` when an outage begins or ends; returns its removal. */
  subscribe(listener: MongoOutageListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Records a failed attempt to reach MongoDB (an error `isMongoUnavailable` accepts); the first
   * one begins an outage. `retryInMs`: when the next attempt is due (for the log).
   */
  unavailable(err: unknown, retryInMs?: number): MongoOutage {
    const t = this.now();
    const error = describeMongoError(err);
    const previous = this.current;
    const outage: MongoOutage = {
      server: this.server,
      since: previous?.since ?? new Date(t),
      error,
      failures: (previous?.failures ?? 0) + 1,
    };
    this.current = outage;
    const meta = { server: this.server, error, ...(retryInMs === undefined ? {} : { retryInMs }) };
    if (previous === undefined) {
      this.total++;
      this.lastLogAt = t;
      this.log.warn('MongoDB is unreachable: capture waits for it (retrying with backoff) and resumes from its checkpoint when it is back', meta);
      this.tell((l) => l.began?.(outage));
    } else if (t - this.lastLogAt >= REPEAT_LOG_MS) {
      this.lastLogAt = t;
      this.log.warn('MongoDB is still unreachable; capture keeps waiting', { ...meta, downSeconds: Math.round((t - outage.since.getTime()) / 1000), failures: outage.failures });
    } else {
      this.log.debug('MongoDB is still unreachable', { ...meta, failures: outage.failures });
    }
    return outage;
  }

  /** MongoDB answered: ends the outage in progress, if any. */
  available(): void {
    const outage = this.current;
    if (outage === undefined) return;
    this.current = undefined;
    const downMs = Math.max(0, this.now() - outage.since.getTime());
    this.log.info('MongoDB is reachable again: capture resumes from its checkpoint', {
      server: this.server,
      downSeconds: Math.round(downMs / 100) / 10,
      failures: outage.failures,
    });
    this.tell((l) => l.ended?.(outage, downMs));
  }

  /**
   * The error `run` stops with when it gives up waiting (`mongoRetry.giveUpAfterSeconds`), after
   * `err`, the last failure: MONGO_UNAVAILABLE, naming the server, how long and the cause.
   */
  gaveUp(err: unknown): CronLogError {
    const outage = this.unavailable(err);
    const seconds = Math.round(this.downMs() / 1000);
    return new CronLogError(
      'MONGO_UNAVAILABLE',
      `MongoDB at ${outage.server} has been unreachable for ${seconds}s (since ${outage.since.toISOString()}), longer than ` +
        `mongoRetry.giveUpAfterSeconds: ${outage.error}. Stopped; the next start resumes from the last checkpoint`,
      { cause: err },
    );
  }

  private tell(call: (listener: MongoOutageListener) => void): void {
    for (const l of this.listeners) {
      try {
        call(l);
      } catch (err) {
        this.log.warn('a MongoDB outage listener failed', { error: (err as Error)?.message ?? String(err) });
      }
    }
  }
}
