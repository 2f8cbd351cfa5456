/**
 * The duplicate-`_id` check of a whole hour with bounded memory: which 64-bit `_id` hashes occur
 * more than once among all of an hour's lines, holding at most about `passHashes` of them (8 bytes
 * each) at a time, whatever the hour's size.
 *
 * The hashes are counted per bucket (the top BUCKET_BITS of the high word) while they are first
 * read; consecutive buckets are grouped into passes of at most `passHashes` hashes; each pass
 * reads all hashes again and copies those of its buckets, then finds the repeated ones among
 * them (line-facts.ts `repeatedHashesYielding`). Equal hashes fall in the same bucket, hence in the
 * same pass: the answer is exact. An hour whose hashes fit in one pass is checked from the first
 * read alone (no second read).
 *
 * Sources: the facts sidecar of a spool file (facts-file.ts re-reads it per pass) and the hashes
 * the decoding scan computes (`SpilledHashes`: kept in memory up to `passHashes`, then appended
 * to a temp file read back per pass).
 *
 * Why: the check used to hold every hash of the hour (8 bytes a line: 80 MB for a 10,000,000-line
 * hour, issue 21), which alone exceeded the memory a `run` process may use. No library does this
 * (an external-memory set of 64-bit values over a file we re-read); it is a few dozen lines.
 */
import { promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hashKeyInto, repeatedHashesYielding } from './line-facts.js';

/** Hashes are bucketed by this many top bits of their high word (65,536 buckets, 256 KiB of counts). */
export const BUCKET_BITS = 16;
const BUCKET_SHIFT = 32 - BUCKET_BITS;

/**
 * Hashes held per pass by default: 524,288 (4 MiB). An hour of up to that many lines is checked
 * in the one read that validates its sidecar (as before issue 21); a 1,000,000-line hour in 1 + 2
 * reads of its 8 MB of hashes, a 10,000,000-line hour in 1 + 20 reads of its 80 MB (from the page
 * cache). Measured on synthetic sidecars (2 shared cores, load average 10-13): 10,000,000 hashes
 * in 3.1 s CPU and +9.3 MiB of ArrayBuffers, where reading the whole sidecar took 5.6 s and
 * +77.5 MiB; 1,000,000 in 150 ms and +7.3 MiB (before: 193 ms, +8.6 MiB).
 */
export const PASS_HASHES = 1 << 19;

/** Counts of hashes per bucket, gathered during the first read. */
export class HashBuckets {
  readonly counts = new Int32Array(1 << BUCKET_BITS);
  total = 0;

  /** Counts the hashes at `ranges` (flat pairs: first hash's word index, number of hashes) of `words`. */
  add(words: Uint32Array, ranges: readonly number[]): void {
    const counts = this.counts;
    for (let r = 0; r < ranges.length; r += 2) {
      const from = ranges[r] as number;
      const n = ranges[r + 1] as number;
      const to = from + 2 * n;
      for (let w = from + 1; w < to; w += 2) {
        const b = (words[w] as number) >>> BUCKET_SHIFT;
        counts[b] = (counts[b] as number) + 1;
      }
      this.total += n;
    }
  }
}

/** One read of every hash: calls `visit` with chunks of them (words and flat ranges, as `HashBuckets.add`). */
export type HashRead = (visit: (words: Uint32Array, ranges: readonly number[]) => void) => Promise<void>;

/** The hashes of a source changed between two of its reads. */
export class HashesChanged extends Error {
  constructor(what: string) {
    super(`the hashes changed while they were checked (${what})`);
  }
}

/** Passes over the buckets: [first bucket, end bucket, hashes], each at most `passHashes` (a single larger bucket alone). */
export function planPasses(counts: Int32Array, passHashes: number): Array<[number, number, number]> {
  const passes: Array<[number, number, number]> = [];
  let from = 0;
  let count = 0;
  for (let b = 0; b < counts.length; b++) {
    const c = counts[b] as number;
    if (count > 0 && count + c > passHashes) {
      passes.push([from, b, count]);
      from = b;
      count = 0;
    }
    count += c;
  }
  if (count > 0) passes.push([from, counts.length, count]);
  return passes;
}

/**
 * The hashes that occur more than once, read in passes of at most `passHashes` hashes (see the
 * header). `buckets` are the counts of a first read; `read` reads them all again (once per pass).
 * Rejects with HashesChanged when a pass does not find the hashes the counts announced.
 */
export async function repeatedInPasses(buckets: HashBuckets, read: HashRead, passHashes = PASS_HASHES, scratch?: Uint32Array): Promise<Set<bigint>> {
  const out = new Set<bigint>();
  if (buckets.total < 2) return out;
  const passes = planPasses(buckets.counts, passHashes).filter(([, , n]) => n > 1);
  let largest = 0;
  for (const [, , n] of passes) largest = Math.max(largest, n);
  // `scratch` (the caller's buffer, free during the passes) when it is large enough.
  const buffer = scratch !== undefined && scratch.length >= 2 * largest ? scratch : new Uint32Array(2 * largest);
  for (const [lo, hi, expected] of passes) {
    let n = 0;
    await read((words, ranges) => {
      for (let r = 0; r < ranges.length; r += 2) {
        const from = ranges[r] as number;
        const to = from + 2 * (ranges[r + 1] as number);
        for (let w = from; w < to; w += 2) {
          const high = words[w + 1] as number;
          const b = high >>> BUCKET_SHIFT;
          if (b < lo || b >= hi) continue;
          if (n < expected) {
            buffer[2 * n] = words[w] as number;
            buffer[2 * n + 1] = high;
          }
          n++;
        }
      }
    });
    if (n !== expected) throw new HashesChanged(`a pass found ${n} hashes where the first read counted ${expected}`);
    for (const h of await repeatedHashesYielding(buffer, [0, n])) out.add(h);
  }
  return out;
}

/** Bytes read from the temp file per chunk by `SpilledHashes`. */
const SPILL_READ_BYTES = 1 << 20;

/**
 * A list of 64-bit hashes pushed one by one (the decoding scan's), of any length, with the
 * repeated ones found in passes (`repeatedInPasses`). Up to `passHashes` stay in memory; beyond,
 * every full buffer is appended to a temp file (removed by `repeated()` and `discard()`).
 */
export class SpilledHashes {
  private readonly buffer: Uint32Array;
  private n = 0;
  private readonly buckets = new HashBuckets();
  private file: { dir: string; path: string; handle: fs.FileHandle; bytes: number } | undefined;

  constructor(private readonly passHashes = PASS_HASHES) {
    this.buffer = new Uint32Array(2 * Math.max(1, passHashes));
  }

  /** Hashes pushed so far. */
  get length(): number {
    return this.buckets.total + this.n;
  }

  /** Appends the hash of an `_id` key (line-facts.ts); then, when `full`, the caller awaits `spill()`. */
  pushKey(key: string): void {
    if (this.full) throw new Error('SpilledHashes: spill() before pushing more');
    hashKeyInto(key, this.buffer, 2 * this.n);
    this.n++;
  }

  /** Whether the in-memory buffer is full: `spill()` it before the next push. */
  get full(): boolean {
    return 2 * this.n === this.buffer.length;
  }

  /** Appends the in-memory hashes to the temp file (created on the first spill). */
  async spill(): Promise<void> {
    if (this.n === 0) return;
    if (!this.file) {
      const dir = await fs.mkdtemp(join(tmpdir(), 'cron-log-hashes-'));
      const path = join(dir, 'hashes');
      this.file = { dir, path, handle: await fs.open(path, 'w+'), bytes: 0 };
    }
    const bytes = new Uint8Array(this.buffer.buffer, 0, this.n * 8);
    let written = 0;
    while (written < bytes.length) {
      const { bytesWritten } = await this.file.handle.write(bytes, written, bytes.length - written, this.file.bytes + written);
      written += bytesWritten;
    }
    this.file.bytes += bytes.length;
    this.buckets.add(this.buffer, [0, this.n]);
    this.n = 0;
  }

  /** The hashes pushed more than once; removes the temp file. */
  async repeated(): Promise<Set<bigint>> {
    try {
      if (!this.file) return await repeatedHashesYielding(this.buffer, [0, this.n]);
      // Everything to the file: the buffer then serves the passes.
      await this.spill();
      const file = this.file;
      const chunk = new Uint32Array(SPILL_READ_BYTES / 4);
      const chunkBytes = new Uint8Array(chunk.buffer);
      const read: HashRead = async (visit) => {
        for (let at = 0; at < file.bytes; ) {
          const want = Math.min(SPILL_READ_BYTES, file.bytes - at);
          let got = 0;
          while (got < want) {
            const { bytesRead } = await file.handle.read(chunkBytes, got, want - got, at + got);
            if (bytesRead === 0) throw new HashesChanged('the temp file of hashes is shorter than written');
            got += bytesRead;
          }
          visit(chunk, [0, got / 8]);
          at += got;
        }
      };
      return await repeatedInPasses(this.buckets, read, this.passHashes, this.buffer);
    } finally {
      await this.discard();
    }
  }

  /** Removes the temp file, if any (idempotent). */
  async discard(): Promise<void> {
    const file = this.file;
    this.file = undefined;
    if (!file) return;
    await file.handle.close().catch(() => undefined);
    await fs.rm(file.dir, { recursive: true, force: true });
  }
}
