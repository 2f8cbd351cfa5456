/**
 * The running operations of a destination and its end: `close()` refuses new operations and
 * waits for the running ones to finish; `destroy()` refuses new ones too, aborts the running ones
 * (their signal fires: a put stops, aborts its upload or removes its temp file, and rejects with
 * ABORTED) and waits for them to stop. Both are idempotent, either may follow the other, and both
 * resolve once nothing runs any more and the destination's resources are released.
 */
import { CronLogError } from '../errors.js';

export class Operations {
  private readonly destroying = new AbortController();
  private readonly running = new Set<Promise<unknown>>();
  private ended: Promise<void> | undefined;

  /**
   * @param describe names the destination in errors.
   * @param release frees the destination's resources once nothing runs (e.g. the S3 client's sockets).
   */
  constructor(
    private readonly describe: () => string,
    private readonly release: () => void = () => {},
  ) {}

  /** True once close() or destroy() was called. */
  get closed(): boolean {
    return this.ended !== undefined;
  }

  /** Throws DESTINATION_UNAVAILABLE once the destination is closed. */
  assertOpen(): void {
    if (this.closed) throw new CronLogError('DESTINATION_UNAVAILABLE', `${this.describe()} is closed`);
  }

  /**
   * Runs `fn` as a tracked operation with a signal that fires when `signal` does or destroy() is
   * called. Rejects at once (without calling `fn`) when the destination is closed.
   */
  run<T>(fn: (signal: AbortSignal) => Promise<T>, signal?: AbortSignal): Promise<T> {
    try {
      this.assertOpen();
    } catch (err) {
      return Promise.reject(err);
    }
    const combined = signal !== undefined ? AbortSignal.any([signal, this.destroying.signal]) : this.destroying.signal;
    const p = fn(combined);
    this.running.add(p);
    const forget = (): void => {
      this.running.delete(p);
    };
    p.then(forget, forget);
    return p;
  }

  /** Refuses new operations, waits for the running ones to finish, then releases. */
  close(): Promise<void> {
    this.ended ??= (async () => {
      await Promise.allSettled([...this.running]);
      this.release();
    })();
    return this.ended;
  }

  /** Refuses new operations, aborts the running ones and waits for them to stop, then releases. */
  destroy(): Promise<void> {
    if (!this.destroying.signal.aborted) this.destroying.abort(new CronLogError('ABORTED', `${this.describe()} was destroyed`));
    return this.close();
  }
}
