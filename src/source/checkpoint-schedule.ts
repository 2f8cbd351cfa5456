/**
 * When capture checkpoints (besides backpressure, which the tailer handles itself): every
 * `intervalMs`, and as soon as the stream goes quiet after delivering events.
 *
 * A stream that delivered no event for QUIET_MS (checked on a timer of this period) has its
 * events made durable at once, instead of at the next interval: when the stream goes quiet, the
 * last events are durable within about 2 × QUIET_MS, plus the flush. Such a checkpoint starts at
 * least QUIET_GAP_SHARE × intervalMs after the previous one of its kind, so a trickle of events
 * does not turn into a checkpoint (an fsync and a write to MongoDB, which the oplog keeps) per
 * event: at most 4 per second by default, besides the interval's. While events keep arriving,
 * the interval alone decides.
 */

const QUIET_MS = 20;
const QUIET_GAP_SHARE = 0.25;

export interface CheckpointScheduleOptions {
  intervalMs: number;
  /** Starts a checkpoint in the background (it handles its own failure). */
  checkpoint: () => void;
  /** Events read so far (archived or skipped). */
  eventsRead: () => number;
  /** Events read when the last checkpoint took its lines. */
  eventsCheckpointed: () => number;
  /** Whether a quiet checkpoint may start now (none is running, capture is not stopping). */
  mayCheckpoint: () => boolean;
}

export class CheckpointSchedule {
  private timer: NodeJS.Timeout | undefined;
  private quietTimer: NodeJS.Timeout | undefined;
  /** Events read at the last quiet check. */
  private eventsAtQuietCheck = 0;
  /** When the last quiet checkpoint started (performance.now()). */
  private quietCheckpointAt = -Infinity;

  constructor(private readonly options: CheckpointScheduleOptions) {}

  /** Starts the timers (they do not keep the process alive). */
  start(): void {
    this.timer = setInterval(() => this.options.checkpoint(), this.options.intervalMs);
    this.timer.unref();
    this.quietTimer = setInterval(() => this.checkIfQuiet(), QUIET_MS);
    this.quietTimer.unref();
  }

  /** Stops the timers. Idempotent. */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (this.quietTimer) clearInterval(this.quietTimer);
    this.quietTimer = undefined;
  }

  /**
   * Checkpoints now when the stream delivered events since the last checkpoint and then none for
   * a whole QUIET_MS period (and the last such checkpoint started long enough ago).
   */
  private checkIfQuiet(): void {
    const { options } = this;
    const seen = options.eventsRead();
    const arriving = seen !== this.eventsAtQuietCheck;
    this.eventsAtQuietCheck = seen;
    if (arriving || !options.mayCheckpoint() || seen === options.eventsCheckpointed()) return;
    const now = performance.now();
    if (now - this.quietCheckpointAt < QUIET_GAP_SHARE * options.intervalMs) return;
    this.quietCheckpointAt = now;
    options.checkpoint();
  }
}
