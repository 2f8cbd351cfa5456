/**
 * A set of `_id` keys answering `has(key)` one key at a time with memory bounded whatever its
 * size: the keys, sorted and distinct, in one temp file, and in memory only the first key and
 * byte offset of every block of BLOCK_KEYS keys. A question binary-searches that index, reads
 * one block (a few KiB, synchronously: a change event's duplicate check is synchronous) and
 * looks for the key's whole line in it. What a
 * gap repair's dedupe window checks events against when the archived `_id`s of the repaired
 * hours are too many to hold (src/source/gap-repair.ts); small sets stay a `Set` (memoryKeys).
 *
 * Written here, not taken from a library: an on-disk sorted-string lookup (SSTable, LMDB,
 * LevelDB bindings) would be a native dependency for ~80 lines over node:fs; keys are JSON text
 * (src/spool/document-ids.ts), never a raw newline, so a record is one line. Order: UTF-16
 * code units, what `<` and `Array.prototype.sort` give strings (key-files.ts ExternalSort).
 */
import { closeSync, openSync, readSync, promises as fs } from 'node:fs';
import { join } from 'node:path';
import type { IdKey } from './document-ids.js';

/** Keys per block: one index entry, one read per question. */
const BLOCK_KEYS = 256;

/** Bytes buffered before a write while building. */
const WRITE_BYTES = 1024 * 1024;

/** The questions a dedupe window asks of the archived `_id`s (a Set, or a SortedKeyFile). */
export interface KeyProbe {
  has(key: IdKey): boolean;
  /** Distinct keys held. */
  readonly size: number;
  /** Frees what it holds (temp files); idempotent. */
  close(): Promise<void>;
}

/** A Set as a KeyProbe (nothing to close). */
export function memoryKeys(set: Set<IdKey>): KeyProbe {
  return {
    has: (key) => set.has(key),
    get size() {
      return set.size;
    },
    close: () => Promise.resolve(),
  };
}

/** See the header. */
export class SortedKeyFile implements KeyProbe {
  private fd: number | undefined;
  private buf = Buffer.alloc(64 * 1024);
  /** The block in `buf` (-1: none): events arrive in insert order, ObjectId keys of neighbours share blocks. */
  private cached = -1;

  private constructor(
    private readonly dir: string,
    private readonly path: string,
    /** First key of each block. */
    private readonly firsts: string[],
    /** Byte offset of each block, and the file's length last. */
    private readonly offsets: number[],
    readonly size: number,
  ) {
    this.fd = size > 0 ? openSync(path, 'r') : undefined;
  }

  /**
   * Writes `keys` (ascending; repeats are dropped) to a file of `dir` (a private temp directory
   * the set owns from then on: close() removes it).
   */
  static async write(dir: string, keys: AsyncIterable<IdKey>): Promise<SortedKeyFile> {
    const path = join(dir, 'sorted-keys');
    const handle = await fs.open(path, 'w');
    const firsts: string[] = [];
    const offsets: number[] = [];
    let size = 0;
    let bytes = 0;
    let pending: string[] = [];
    let pendingBytes = 0;
    let prev: string | undefined;
    try {
      for await (const key of keys) {
        if (prev !== undefined) {
          if (key === prev) continue;
          if (key < prev) throw new Error('SortedKeyFile.write: keys out of order');
        }
        prev = key;
        if (size % BLOCK_KEYS === 0) {
          // A copy: a key read from a file is a slice of its 1 MiB chunk, which it would keep alive.
          firsts.push(Buffer.from(key, 'utf8').toString('utf8'));
          offsets.push(bytes + pendingBytes);
        }
        size++;
        const line = `${key}\n`;
        pending.push(line);
        pendingBytes += Buffer.byteLength(line);
        if (pendingBytes >= WRITE_BYTES) {
          await handle.write(pending.join(''));
          bytes += pendingBytes;
          pending = [];
          pendingBytes = 0;
        }
      }
      if (pending.length > 0) await handle.write(pending.join(''));
      bytes += pendingBytes;
    } finally {
      await handle.close();
    }
    offsets.push(bytes);
    return new SortedKeyFile(dir, path, firsts, offsets, size);
  }

  has(key: IdKey): boolean {
    if (this.fd === undefined) return false;
    const firsts = this.firsts;
    // The last block whose first key is <= key.
    let lo = 0;
    let hi = firsts.length - 1;
    if (key < (firsts[0] as string)) return false;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((firsts[mid] as string) <= key) lo = mid;
      else hi = mid - 1;
    }
    if (firsts[lo] === key) return true;
    const start = this.offsets[lo] as number;
    const length = (this.offsets[lo + 1] as number) - start;
    // The block after a newline, searched for the whole line `\n<key>\n` (native memmem: cheaper
    // than decoding and splitting the block's 256 lines).
    if (this.cached !== lo) {
      this.cached = -1;
      if (length + 1 > this.buf.length) this.buf = Buffer.alloc(length + 1);
      this.buf[0] = 0x0a;
      let read = 0;
      while (read < length) {
        const n = readSync(this.fd, this.buf, 1 + read, length - read, start + read);
        if (n === 0) throw new Error(`SortedKeyFile: ${this.path} is shorter than written`);
        read += n;
      }
      this.cached = lo;
    }
    return this.buf.subarray(0, length + 1).indexOf(`\n${key}\n`) >= 0;
  }

  async close(): Promise<void> {
    if (this.fd !== undefined) {
      closeSync(this.fd);
      this.fd = undefined;
    }
    await fs.rm(this.dir, { recursive: true, force: true });
  }
}
