/**
 * The lines of one spool file waiting for the next flush, kept as UTF-8 in one growing Buffer
 * rather than as an array of strings: each line's string is garbage as soon as it is copied in
 * (it dies young instead of surviving until the flush and being promoted to V8's old
 * generation), and the flush compresses the bytes as they are, with no join or conversion.
 *
 * When the spool records facts, each appended line's facts (see line-facts.ts) are collected
 * too, for the member the next flush writes.
 */
import type { MemberFacts } from './facts-file.js';
import { HashList, lineFacts } from './line-facts.js';

const INITIAL_BYTES = 64 * 1024;

/** Buffers handed back after a flush, reused by the next batches (a few MiB each). */
export class BufferPool {
  private readonly free: Buffer[] = [];
  constructor(private readonly max = 4) {}
  /** The largest free buffer if it holds `min` bytes, else a new one. */
  take(min: number): Buffer {
    this.free.sort((a, b) => a.length - b.length);
    const largest = this.free.at(-1);
    if (largest && largest.length >= min) return this.free.pop() as Buffer;
    return Buffer.allocUnsafeSlow(Math.max(min, INITIAL_BYTES));
  }
  /** Keeps the `max` largest buffers given back. */
  give(buf: Buffer): void {
    this.free.push(buf);
    if (this.free.length > this.max) {
      this.free.sort((a, b) => a.length - b.length);
      this.free.shift();
    }
  }
}

/** One batch taken for a flush. */
export interface TakenLines {
  /** The lines, each followed by "\n" (a view of `buffer`). */
  bytes: Buffer;
  /** The whole buffer, to give back to the pool once the bytes are written. */
  buffer: Buffer;
  lines: number;
  facts: MemberFacts | undefined;
}

export class PendingLines {
  private buf: Buffer | undefined;
  private used = 0;
  private count = 0;
  private hashes: HashList | undefined;
  private first: string | undefined;
  private last: string | undefined;

  /**
   * @param timestampPath the timestamp field's path when facts are recorded, else undefined.
   */
  constructor(
    private readonly pool: BufferPool,
    private timestampPath: readonly string[] | undefined,
  ) {}

  get lines(): number {
    return this.count;
  }

  get bytes(): number {
    return this.used;
  }

  /** Whether facts are still being recorded for this file. */
  get recordsFacts(): boolean {
    return this.timestampPath !== undefined;
  }

  /** Stops recording facts (the file's sidecar cannot be completed any more). */
  stopFacts(): void {
    this.timestampPath = undefined;
    this.hashes = undefined;
  }

  /** Appends one line (without newline). Returns the bytes it took. */
  append(line: string): number {
    const worst = line.length * 3 + 1;
    let buf = this.buf;
    if (!buf || buf.length - this.used < worst) {
      const next = this.pool.take(Math.max(this.used + worst, (buf?.length ?? 0) * 2));
      if (buf) {
        buf.copy(next, 0, 0, this.used);
        this.pool.give(buf);
      }
      buf = next;
      this.buf = next;
    }
    const n = buf.write(line, this.used, 'utf8');
    buf[this.used + n] = 10;
    this.used += n + 1;
    this.count++;
    if (this.timestampPath) this.addFacts(line, this.timestampPath);
    return n + 1;
  }

  private addFacts(line: string, path: readonly string[]): void {
    let facts;
    try {
      facts = lineFacts(line, path);
    } catch {
      // Not JSON (never written by our encoders): the seal decodes this file instead.
      this.stopFacts();
      return;
    }
    (this.hashes ??= new HashList()).pushKey(facts.key);
    const ts = facts.ts;
    if (ts !== undefined) {
      if (this.first === undefined || ts < this.first) this.first = ts;
      if (this.last === undefined || ts > this.last) this.last = ts;
    }
  }

  /** Takes every pending line (and its facts) for a flush; the file starts an empty batch. */
  take(): TakenLines | undefined {
    if (this.count === 0 || !this.buf) return undefined;
    const out: TakenLines = {
      bytes: this.buf.subarray(0, this.used),
      buffer: this.buf,
      lines: this.count,
      facts: this.timestampPath
        ? { lines: this.count, hashes: this.hashes?.bytes() ?? new Uint8Array(0), first: this.first, last: this.last }
        : undefined,
    };
    this.buf = undefined;
    this.used = 0;
    this.count = 0;
    this.hashes = undefined;
    this.first = undefined;
    this.last = undefined;
    return out;
  }
}
