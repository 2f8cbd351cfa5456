/**
 * Temp files of `_id` keys for the external-memory passes over an hour (archived-key-set.ts,
 * source-id-list.ts): a private temp directory, keys hash-partitioned into files (records
 * `<seq> <key>`, in the order they were added), and an external merge sort of keys (sorted runs
 * merged by a heap). Keys are JSON text (src/spool/document-ids.ts): never a raw newline, so a
 * record is one line.
 *
 * Written here, not taken from a library: what the passes need is 100 lines over node:fs
 * (append buffered records per partition, read a partition back in order, merge
 * sorted runs); the npm external-sort packages sort whole files of lines and know nothing of
 * partitions or the record's sequence number. The temp directories' names carry the pid and host
 * of their process: a start removes those a killed process left (removeKeyDirectoriesOfDeadProcesses).
 */
import { promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HOST_TAG, leftByDeadProcess } from './local-process.js';

/** Keys one pass holds in memory at most, by default (a partition's worth: ~20-30 MB of heap). */
export const ID_KEYS_IN_MEMORY = 200_000;

/** Buffered record bytes (all partitions) that trigger a write. */
const FLUSH_BYTES = 4 * 1024 * 1024;

/** How much of an hour's keys a pass may hold in memory, and where its temp files go. */
export interface KeyBudget {
  /** Most keys held in memory at once (default ID_KEYS_IN_MEMORY). */
  keysInMemory?: number;
  /** Directory under which a private temp directory is made (default: the OS temp directory). */
  directory?: string;
  /** The partition hash (default keyHash; tests pass a colliding one). */
  hash?: (key: string) => number;
}

/** A 32-bit hash of a key (FNV-1a, then murmur3's finaliser to mix the low bits). */
export function keyHash(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** The kinds of key temp directories (the first part of their names). */
export type KeyDirectoryKind = 'archived-ids' | 'dedupe-ids' | 'gap-repair' | 'purge-ids' | 'repair-ids';

/**
 * A key temp directory's name: `<kind>-<pid>-<host tag>-<6 random characters>` (local-process.ts),
 * so that a start can tell a killed process's leftovers (removeKeyDirectoriesOfDeadProcesses).
 */
const KEY_DIRECTORY = /^(?:archived-ids|dedupe-ids|gap-repair|purge-ids|repair-ids)-(\d+)-([0-9a-f]{8})-[A-Za-z0-9]{6}$/;

/**
 * Makes a private temp directory under `directory` (created if needed). Its user removes it when
 * done; a process killed meanwhile leaves it for removeKeyDirectoriesOfDeadProcesses.
 */
export async function keyTempDirectory(directory: string | undefined, kind: KeyDirectoryKind): Promise<string> {
  const base = directory ?? tmpdir();
  await fs.mkdir(base, { recursive: true });
  return fs.mkdtemp(join(base, `${kind}-${process.pid}-${HOST_TAG}-`));
}

/**
 * Removes the key temp directories under `directory` that a process of this host left when it
 * was killed (its pid is gone); those of a live process (a repair, backfill or purge running
 * beside) or of another host, and names it does not know, stay. Returns the names removed.
 */
export async function removeKeyDirectoriesOfDeadProcesses(directory: string): Promise<string[]> {
  const removed: string[] = [];
  for (const entry of await fs.readdir(directory, { withFileTypes: true }).catch(() => [])) {
    const m = KEY_DIRECTORY.exec(entry.name);
    if (!m || !entry.isDirectory() || !leftByDeadProcess(Number(m[1]), m[2]!)) continue;
    await fs.rm(join(directory, entry.name), { recursive: true, force: true });
    removed.push(entry.name);
  }
  return removed;
}

/**
 * Lines of a text file, in order (none when the file does not exist). Split by hand over 1 MiB
 * chunks: node:readline cost more CPU on these short lines (1M records `<seq> {"$oid":…}`:
 * 1.04-1.56 s against 0.76-0.79 s here, 2 runs each, 2026-12-07 at load ~10 on 2 cores).
 */
export async function* fileLines(path: string): AsyncGenerator<string> {
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(path, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  const stream = handle.createReadStream({ encoding: 'utf8', highWaterMark: 1024 * 1024 });
  try {
    let rest = '';
    for await (const chunk of stream as AsyncIterable<string>) {
      const text = rest + chunk;
      let at = 0;
      for (let nl = text.indexOf('\n'); nl >= 0; nl = text.indexOf('\n', at)) {
        if (nl > at) yield text.slice(at, nl);
        at = nl + 1;
      }
      rest = text.slice(at);
    }
    if (rest.length > 0) yield rest;
  } finally {
    stream.destroy();
    await handle.close().catch(() => undefined);
  }
}

/** Records `<seq> <key>` hash-partitioned into `count` files of `dir` (see the header). */
export class PartitionFiles {
  private readonly pending: string[][];
  private pendingBytes = 0;

  constructor(
    private readonly dir: string,
    private readonly name: string,
    readonly count: number,
    private readonly hash: (key: string) => number = keyHash,
  ) {
    this.pending = Array.from({ length: count }, () => []);
  }

  /** The partition of `key`. */
  partitionOf(key: string): number {
    return this.hash(key) % this.count;
  }

  private path(p: number): string {
    return join(this.dir, `${this.name}-${p}`);
  }

  /** Adds a record; returns true when `flush()` should be awaited before the next add. */
  add(seq: number, key: string): boolean {
    (this.pending[this.partitionOf(key)] as string[]).push(`${seq} ${key}\n`);
    this.pendingBytes += key.length + 12;
    return this.pendingBytes >= FLUSH_BYTES;
  }

  /** Writes the buffered records to their files. */
  async flush(): Promise<void> {
    for (let p = 0; p < this.count; p++) {
      const records = this.pending[p] as string[];
      if (records.length === 0) continue;
      await fs.appendFile(this.path(p), records.join(''));
      this.pending[p] = [];
    }
    this.pendingBytes = 0;
  }

  /** The records of partition `p`, in the order they were added (call flush() first). */
  async *records(p: number): AsyncGenerator<{ seq: number; key: string }> {
    for await (const line of fileLines(this.path(p))) {
      const sp = line.indexOf(' ');
      yield { seq: Number(line.slice(0, sp)), key: line.slice(sp + 1) };
    }
  }
}

/**
 * Keys sorted in UTF-16 code-unit order (what `Array.prototype.sort` gives strings) with at most
 * `keysInMemory` of them in memory: sorted runs written to files of `dir`, merged at the end.
 */
export class ExternalSort {
  private keys: string[] = [];
  private runs = 0;

  constructor(
    private readonly dir: string,
    private readonly keysInMemory: number,
  ) {}

  /** Adds a key; returns true when `spill()` should be awaited before the next add. */
  add(key: string): boolean {
    this.keys.push(key);
    return this.keys.length >= this.keysInMemory;
  }

  /** Writes the keys held in memory as one sorted run. */
  async spill(): Promise<void> {
    if (this.keys.length === 0) return;
    this.keys.sort();
    await fs.writeFile(join(this.dir, `run-${this.runs++}`), `${this.keys.join('\n')}\n`);
    this.keys = [];
  }

  /** Every key added, sorted. */
  async *sorted(): AsyncGenerator<string> {
    if (this.runs === 0) {
      yield* this.keys.sort();
      return;
    }
    await this.spill();
    const sources = Array.from({ length: this.runs }, (_, i) => fileLines(join(this.dir, `run-${i}`)));
    // A binary heap of the runs' heads.
    const heap: Array<{ key: string; src: AsyncGenerator<string> }> = [];
    const less = (a: number, b: number): boolean => (heap[a] as { key: string }).key < (heap[b] as { key: string }).key;
    const swap = (a: number, b: number): void => {
      const t = heap[a] as (typeof heap)[number];
      heap[a] = heap[b] as (typeof heap)[number];
      heap[b] = t;
    };
    const down = (i: number): void => {
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < heap.length && less(l, m)) m = l;
        if (r < heap.length && less(r, m)) m = r;
        if (m === i) return;
        swap(i, m);
        i = m;
      }
    };
    // A reader that stops early (a merge-join whose other side ended) closes the runs' files.
    try {
      for (const src of sources) {
        const first = await src.next();
        if (first.done !== true) heap.push({ key: first.value, src });
      }
      for (let i = Math.floor(heap.length / 2) - 1; i >= 0; i--) down(i);
      while (heap.length > 0) {
        const top = heap[0] as (typeof heap)[number];
        yield top.key;
        const next = await top.src.next();
        if (next.done === true) {
          const last = heap.pop() as (typeof heap)[number];
          if (heap.length > 0) {
            heap[0] = last;
            down(0);
          }
        } else {
          top.key = next.value;
          down(0);
        }
      }
    } finally {
      for (const src of sources) await src.return(undefined);
    }
  }
}
