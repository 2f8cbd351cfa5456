/**
 * The live figures of a running archiver over the last hour, for the dashboard's sparklines: an
 * in-process ring buffer (no external store) of samples taken every `intervalMs` (default 10 s,
 * 360 samples = one hour). Each sample holds the capture lag, the events per second since the
 * previous sample (from the cumulative `captured` count; a count that went down, a new tailer,
 * counts from zero) and the spool bytes (durable open bytes plus pending ones).
 */
import type { CaptureSample } from './metrics.js';
import { captureLagSeconds } from './metrics.js';

export interface LiveSample {
  /** Epoch milliseconds of the sample. */
  readonly at: number;
  /** Capture lag in seconds (null before anything happened). */
  readonly lagSeconds: number | null;
  readonly eventsPerSecond: number;
  readonly spoolBytes: number;
}

export interface SampleRingOptions {
  intervalMs?: number;
  /** How many samples are kept (default: one hour's worth). */
  capacity?: number;
}

export class SampleRing {
  readonly intervalMs: number;
  readonly capacity: number;
  private readonly samples: LiveSample[] = [];
  private next = 0;
  private previous: { at: number; captured: number } | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(options: SampleRingOptions = {}) {
    this.intervalMs = options.intervalMs ?? 10_000;
    this.capacity = options.capacity ?? Math.max(2, Math.round(3_600_000 / this.intervalMs));
  }

  /** Adds a sample of `sample` taken at `now`. */
  add(sample: CaptureSample, now = Date.now()): LiveSample {
    const prev = this.previous;
    const captured = sample.captured;
    const delta = prev === undefined ? 0 : captured >= prev.captured ? captured - prev.captured : captured;
    const seconds = prev === undefined ? 0 : (now - prev.at) / 1000;
    this.previous = { at: now, captured };
    const lag = captureLagSeconds(sample, now);
    const live: LiveSample = {
      at: now,
      lagSeconds: lag === undefined ? null : Math.round(lag * 1000) / 1000,
      eventsPerSecond: seconds > 0 ? Math.round((delta / seconds) * 1000) / 1000 : 0,
      spoolBytes: (sample.openSpoolBytes ?? 0) + (sample.pendingBytes ?? 0),
    };
    if (this.samples.length < this.capacity) this.samples.push(live);
    else this.samples[this.next] = live;
    this.next = (this.next + 1) % this.capacity;
    return live;
  }

  /** The samples kept, oldest first. */
  list(): LiveSample[] {
    if (this.samples.length < this.capacity) return [...this.samples];
    return [...this.samples.slice(this.next), ...this.samples.slice(0, this.next)];
  }

  /** Samples `read()` every `intervalMs` until stop(); the timer does not keep the process alive. */
  start(read: () => CaptureSample): void {
    if (this.timer) return;
    this.add(read());
    this.timer = setInterval(() => {
      try {
        this.add(read());
      } catch {
        // A sample that cannot be read is skipped; the next one is taken as usual.
      }
    }, this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}
