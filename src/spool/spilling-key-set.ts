/**
 * The `_id` keys a gap repair finds archived (src/source/gap-repair.ts: the spool's lines of the
 * repaired hours, and on a takeover their delivered parts), collected with memory bounded
 * whatever their number: a `Set` up to `keysInMemory` keys (key-files.ts, ID_KEYS_IN_MEMORY);
 * past that, every key goes to an external merge sort (ExternalSort: sorted runs in a private
 * temp directory under `budget.directory`) and is read back sorted and distinct, to be merged
 * with the `_id`s a query lists, or written as a SortedKeyFile for a dedupe window.
 */
import { promises as fs } from 'node:fs';
import type { IdKey } from './document-ids.js';
import type { KeyBudget } from './key-files.js';
import { ExternalSort, ID_KEYS_IN_MEMORY, keyTempDirectory } from './key-files.js';
import type { KeyProbe } from './sorted-key-file.js';
import { SortedKeyFile, memoryKeys } from './sorted-key-file.js';

/** Where keys are added: `add` returns true when `flush()` should be awaited before the next add. */
export interface KeySink {
  add(key: IdKey): boolean;
  flush(): Promise<void>;
}

/** Merges ascending key streams into one ascending stream without repeats. */
export async function* mergeSortedKeys(...sources: AsyncIterable<IdKey>[]): AsyncGenerator<IdKey> {
  const its = sources.map((s) => s[Symbol.asyncIterator]());
  const heads: Array<IdKey | undefined> = [];
  for (const it of its) {
    const r = await it.next();
    heads.push(r.done === true ? undefined : r.value);
  }
  let prev: IdKey | undefined;
  try {
    for (;;) {
      let at = -1;
      for (let i = 0; i < heads.length; i++) {
        const h = heads[i];
        if (h !== undefined && (at < 0 || h < (heads[at] as IdKey))) at = i;
      }
      if (at < 0) return;
      const key = heads[at] as IdKey;
      if (key !== prev) yield key;
      prev = key;
      const r = await (its[at] as AsyncIterator<IdKey>).next();
      heads[at] = r.done === true ? undefined : r.value;
    }
  } finally {
    // A reader that stops early closes the sources (their files).
    for (const it of its) await it.return?.(undefined);
  }
}

/** See the header. */
export class SpillingKeySet implements KeySink {
  private mem: Set<IdKey> | undefined = new Set();
  private sort: ExternalSort | undefined;
  private dir: string | undefined;
  readonly keysInMemory: number;

  constructor(private readonly budget: KeyBudget = {}) {
    this.keysInMemory = Math.max(1, budget.keysInMemory ?? ID_KEYS_IN_MEMORY);
  }

  /** Whether the keys are still a Set in memory (`memory`). */
  get inMemory(): boolean {
    return this.mem !== undefined;
  }

  /** The keys, while in memory. */
  get memory(): Set<IdKey> {
    if (this.mem === undefined) throw new Error('SpillingKeySet.memory after spill()');
    return this.mem;
  }

  add(key: IdKey): boolean {
    if (this.mem !== undefined) {
      this.mem.add(key);
      return this.mem.size > this.keysInMemory;
    }
    return (this.sort as ExternalSort).add(key);
  }

  /** Spills when the keys outgrew memory (or a run is full). */
  async flush(): Promise<void> {
    if (this.mem !== undefined) {
      if (this.mem.size > this.keysInMemory) await this.spill();
    } else await this.sort?.spill();
  }

  /** Moves the keys held in memory to sorted runs on disk; every later key goes there too. */
  async spill(): Promise<void> {
    if (this.mem === undefined) return;
    this.dir = await keyTempDirectory(this.budget.directory, 'repair-ids');
    const sort = new ExternalSort(this.dir, this.keysInMemory);
    for (const key of this.mem) if (sort.add(key)) await sort.spill();
    this.mem = undefined;
    this.sort = sort;
  }

  /** Every key added, ascending, each once. */
  async *sorted(): AsyncGenerator<IdKey> {
    if (this.mem !== undefined) {
      yield* [...this.mem].sort();
      return;
    }
    yield* mergeSortedKeys((this.sort as ExternalSort).sorted());
  }

  /** Distinct keys added (a pass over the runs once spilled). */
  async distinct(): Promise<number> {
    if (this.mem !== undefined) return this.mem.size;
    let n = 0;
    for await (const _ of this.sorted()) n++;
    return n;
  }

  /**
   * The keys, plus the ascending keys of `more`, as a KeyProbe: the Set itself while in memory
   * (`more` added to it), else a SortedKeyFile in a temp directory of its own.
   */
  async probe(more?: AsyncIterable<IdKey>): Promise<KeyProbe> {
    if (this.mem !== undefined) {
      if (more !== undefined) for await (const key of more) this.mem.add(key);
      return memoryKeys(this.mem);
    }
    const dir = await keyTempDirectory(this.budget.directory, 'dedupe-ids');
    try {
      return await SortedKeyFile.write(dir, more === undefined ? this.sorted() : mergeSortedKeys(this.sorted(), more));
    } catch (err) {
      await fs.rm(dir, { recursive: true, force: true });
      throw err;
    }
  }

  /** Removes the temp files (idempotent); a probe made from the set stays usable. */
  async close(): Promise<void> {
    if (this.dir !== undefined) await fs.rm(this.dir, { recursive: true, force: true });
    this.dir = undefined;
  }
}
