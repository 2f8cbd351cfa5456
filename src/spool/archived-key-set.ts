/**
 * The `_id` keys an hour's archive holds, with memory bounded whatever the hour's size: the set
 * `reconcile --deep` and `purge` check the archive with (src/reconcile/archived-ids.ts).
 *
 * Keys are added part by part, in the order the objects are read. When the hour is expected to
 * hold no more than `keysInMemory` keys the set is a `Set` in memory. Otherwise each key goes,
 * with its sequence number, to one of P temp files chosen by its hash (P = expected keys /
 * keysInMemory, rounded up); the questions are then answered partition by partition, holding
 * one partition's keys at a time. Equal keys share a partition, so every answer is exact:
 *
 * - `firstRepeat()`: the key whose second occurrence came first, and the part it was in (the
 *   first repeat a reader adding keys in order would meet; the earliest across partitions by
 *   sequence number).
 * - `compare(source)`: how many of the source's keys (MongoDB's `_id`s of the hour) the set
 *   holds and lacks, and the first few lacking in the source's order. The source's keys go to
 *   partitions of their own, with their sequence numbers.
 *
 * Temp files live in a private directory under `directory`, removed by `close()`.
 */
import { promises as fs } from 'node:fs';
import type { IdKey } from './document-ids.js';
import type { KeyBudget } from './key-files.js';
import { ID_KEYS_IN_MEMORY, PartitionFiles, keyHash, keyTempDirectory } from './key-files.js';

/** Most partitions a set makes (beyond: partitions grow past the budget). */
const MAX_PARTITIONS = 512;

/** A key met again, and the part (as numbered by the caller) its second occurrence was in. */
export interface RepeatedKey {
  key: IdKey;
  part: number;
}

/** The source's keys against the set. */
export interface KeyComparison {
  /** Source keys the set holds. */
  held: number;
  /** Source keys the set lacks. */
  lacking: number;
  /** The first few keys the set lacks, in the source's order. */
  lackingExamples: IdKey[];
}

const EXAMPLES = 3;

/** See the header. */
export class ArchivedKeySet {
  private readonly mem: Set<IdKey> | undefined;
  private memRepeat: RepeatedKey | undefined;
  private readonly files: PartitionFiles | undefined;
  private seq = 0;
  /** [first seq, part] for every part added, in order. */
  private readonly parts: Array<[number, number]> = [];
  private repeat: { found: RepeatedKey | undefined } | undefined;
  private distinct: number | undefined;

  private constructor(
    private readonly dir: string | undefined,
    partitions: number,
    private readonly hash: (key: string) => number,
  ) {
    if (dir === undefined) this.mem = new Set();
    else this.files = new PartitionFiles(dir, 'archived', partitions, hash);
  }

  /** A set for about `expected` keys within `budget` (see the header). */
  static async open(expected: number, budget: KeyBudget = {}): Promise<ArchivedKeySet> {
    const perPartition = Math.max(1, budget.keysInMemory ?? ID_KEYS_IN_MEMORY);
    const hash = budget.hash ?? keyHash;
    if (expected <= perPartition) return new ArchivedKeySet(undefined, 1, hash);
    const partitions = Math.min(MAX_PARTITIONS, Math.ceil(expected / perPartition));
    return new ArchivedKeySet(await keyTempDirectory(budget.directory, 'archived-ids'), partitions, hash);
  }

  /** Whether the keys went to temp files (more expected than fit in memory). */
  get partitioned(): boolean {
    return this.files !== undefined;
  }

  /** Adds a key of part `part`; returns true when `flush()` should be awaited before the next add. */
  add(key: IdKey, part: number): boolean {
    const last = this.parts[this.parts.length - 1];
    if (last === undefined || last[1] !== part) this.parts.push([this.seq, part]);
    this.repeat = undefined;
    this.distinct = undefined;
    const seq = this.seq++;
    if (this.mem !== undefined) {
      if (this.mem.has(key)) this.memRepeat ??= { key, part };
      else this.mem.add(key);
      return false;
    }
    return (this.files as PartitionFiles).add(seq, key);
  }

  /** Writes buffered keys to their partitions. */
  async flush(): Promise<void> {
    await this.files?.flush();
  }

  /** Distinct keys added (after `firstRepeat()` when partitioned). */
  get size(): number {
    if (this.mem !== undefined) return this.mem.size;
    if (this.distinct === undefined) throw new Error('ArchivedKeySet.size before firstRepeat()');
    return this.distinct;
  }

  private partOf(seq: number): number {
    let lo = 0;
    let hi = this.parts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((this.parts[mid] as [number, number])[0] <= seq) lo = mid;
      else hi = mid - 1;
    }
    return (this.parts[lo] as [number, number])[1];
  }

  /** The first repeated key (see the header), or undefined when no key was added twice. */
  async firstRepeat(): Promise<RepeatedKey | undefined> {
    if (this.mem !== undefined) return this.memRepeat;
    if (this.repeat !== undefined) return this.repeat.found;
    const files = this.files as PartitionFiles;
    await files.flush();
    let best: { seq: number; key: IdKey } | undefined;
    let distinct = 0;
    for (let p = 0; p < files.count; p++) {
      const seen = new Set<IdKey>();
      let first: { seq: number; key: IdKey } | undefined;
      for await (const r of files.records(p)) {
        if (!seen.has(r.key)) seen.add(r.key);
        else first ??= r;
      }
      distinct += seen.size;
      if (first !== undefined && (best === undefined || first.seq < best.seq)) best = first;
    }
    this.distinct = distinct;
    this.repeat = { found: best === undefined ? undefined : { key: best.key, part: this.partOf(best.seq) } };
    return this.repeat.found;
  }

  /**
   * Compares the source's keys with the set (see the header). The source yields keys, or arrays
   * of keys (a reply's worth: one await per array, not per key).
   */
  async compare(source: AsyncIterable<IdKey | readonly IdKey[]>): Promise<KeyComparison> {
    const out: KeyComparison = { held: 0, lacking: 0, lackingExamples: [] };
    if (this.mem !== undefined) {
      const mem = this.mem;
      for await (const item of source) {
        for (const key of typeof item === 'string' ? [item] : item) {
          if (mem.has(key)) out.held++;
          else {
            out.lacking++;
            if (out.lackingExamples.length < EXAMPLES) out.lackingExamples.push(key);
          }
        }
      }
      return out;
    }
    const mine = this.files as PartitionFiles;
    await mine.flush();
    const theirs = new PartitionFiles(this.dir as string, `source-${Date.now()}`, mine.count, this.hash);
    let seq = 0;
    for await (const item of source) {
      for (const key of typeof item === 'string' ? [item] : item) if (theirs.add(seq++, key)) await theirs.flush();
    }
    await theirs.flush();
    const examples: Array<{ seq: number; key: IdKey }> = [];
    for (let p = 0; p < mine.count; p++) {
      const held = new Set<IdKey>();
      for await (const r of mine.records(p)) held.add(r.key);
      for await (const r of theirs.records(p)) {
        if (held.has(r.key)) out.held++;
        else {
          out.lacking++;
          if (examples.length < EXAMPLES || r.seq < (examples[EXAMPLES - 1] as { seq: number }).seq) {
            examples.push(r);
            examples.sort((a, b) => a.seq - b.seq);
            examples.length = Math.min(examples.length, EXAMPLES);
          }
        }
      }
    }
    out.lackingExamples = examples.map((e) => e.key);
    return out;
  }

  /** Keys added (repeats included). */
  get added(): number {
    return this.seq;
  }

  /**
   * Which of the source's keys the set holds, by position: bit i (byte i >> 3, bit i & 7) is set
   * when the source's key i is in the set. One bit per source key (what a rewrite that drops the
   * held lines streams its file again with); the keys themselves are held a partition at a time.
   * With `repeatsHeld`, a source key met again counts as held too (only its first occurrence is
   * new: what a pass that writes each key once needs); the source's keys are then added to the
   * set held in memory, if the set is not partitioned.
   */
  async heldPositions(source: AsyncIterable<IdKey>, options: { repeatsHeld?: boolean } = {}): Promise<Uint8Array> {
    const repeatsHeld = options.repeatsHeld === true;
    let bits = new Uint8Array(1024);
    const set = (i: number): void => {
      if (i >> 3 >= bits.length) {
        const next = new Uint8Array(Math.max(bits.length * 2, (i >> 3) + 1));
        next.set(bits);
        bits = next;
      }
      bits[i >> 3] = (bits[i >> 3] as number) | (1 << (i & 7));
    };
    if (this.mem !== undefined) {
      let i = 0;
      for await (const key of source) {
        if (this.mem.has(key)) set(i);
        else if (repeatsHeld) this.mem.add(key);
        i++;
      }
      return bits;
    }
    const mine = this.files as PartitionFiles;
    await mine.flush();
    const theirs = new PartitionFiles(this.dir as string, `positions-${Date.now()}`, mine.count, this.hash);
    let seq = 0;
    for await (const item of source) {
      for (const key of typeof item === 'string' ? [item] : item) if (theirs.add(seq++, key)) await theirs.flush();
    }
    await theirs.flush();
    for (let p = 0; p < mine.count; p++) {
      const held = new Set<IdKey>();
      for await (const r of mine.records(p)) held.add(r.key);
      for await (const r of theirs.records(p)) {
        if (held.has(r.key)) set(r.seq);
        else if (repeatsHeld) held.add(r.key);
      }
    }
    return bits;
  }

  /** Removes the temp files (idempotent). */
  async close(): Promise<void> {
    if (this.dir !== undefined) await fs.rm(this.dir, { recursive: true, force: true });
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
