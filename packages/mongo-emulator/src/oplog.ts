/**
 * The oplog: one entry per write, in timestamp order, capped at a number of entries (the oldest
 * fall off). Entries carry a sequence number, so a cursor resumes its scan in O(1); a timestamp
 * is found by binary search. Readers wait for new entries through `waitForEntries`, which
 * resolves when a write commits: no polling.
 */
import type { Document } from 'bson';
import type { Ts } from './clock.js';
import type { StoredDoc } from './stored-doc.js';

export interface UpdateDescription {
  updatedFields: Document;
  removedFields: string[];
  truncatedArrays: { field: string; newSize: number }[];
}

export type OplogCommand =
  | { kind: 'create'; options: Document }
  | { kind: 'drop' }
  | { kind: 'dropDatabase' }
  /** dropTargetUuid: hex of the UUID of the collection the rename replaced (dropTarget). */
  | { kind: 'rename'; toDb: string; toColl: string; dropTarget: boolean; dropTargetUuid?: string }
  | { kind: 'createIndexes'; spec: Document }
  | { kind: 'dropIndexes'; name: string; spec: Document }
  /** options: the collMod's (an index change as { name, ...changed }); before: the state it changed. */
  | { kind: 'collMod'; options: Document; before?: Document }
  | { kind: 'noop'; msg: string };

export interface OplogEntry {
  seq: number;
  ts: Ts;
  /** Wall clock time, milliseconds since the epoch. */
  wall: number;
  op: 'i' | 'u' | 'd' | 'c' | 'n';
  db: string;
  coll: string;
  uuid: Uint8Array | undefined;
  /** The collection UUID as it appears in resume tokens. */
  uuidPart: string;
  /** i: the inserted document; u: the document after the update. */
  doc?: StoredDoc;
  /** u, d: the document before the change, kept when the collection records pre-images. */
  pre?: StoredDoc;
  /** u, d: the `_id` of the document. */
  id?: unknown;
  replace?: boolean;
  update?: UpdateDescription;
  cmd?: OplogCommand;
}

interface Waiter {
  afterSeq: number;
  resolve: (arrived: boolean) => void;
  timer: NodeJS.Timeout | undefined;
}

export class Oplog {
  readonly maxEntries: number;
  #entries: OplogEntry[] = [];
  /** Index in #entries of the oldest retained entry. */
  #head = 0;
  /** Sequence number of #entries[0]. */
  #baseSeq = 0;
  #waiters = new Set<Waiter>();
  #notifyScheduled = false;

  constructor(maxEntries: number) {
    if (!Number.isSafeInteger(maxEntries) || maxEntries < 1) throw new RangeError('oplog size must be a positive integer');
    this.maxEntries = maxEntries;
  }

  /** Sequence number of the oldest retained entry. */
  get startSeq(): number {
    return this.#baseSeq + this.#head;
  }

  /** Sequence number the next entry will get. */
  get endSeq(): number {
    return this.#baseSeq + this.#entries.length;
  }

  get size(): number {
    return this.#entries.length - this.#head;
  }

  get first(): OplogEntry | undefined {
    return this.#entries[this.#head];
  }

  get last(): OplogEntry | undefined {
    return this.#entries[this.#entries.length - 1];
  }

  at(seq: number): OplogEntry | undefined {
    if (seq < this.startSeq) return undefined;
    return this.#entries[seq - this.#baseSeq];
  }

  append(entry: Omit<OplogEntry, 'seq'>): OplogEntry {
    const last = this.last;
    if (last && entry.ts <= last.ts) throw new Error('oplog timestamps must increase');
    const full = entry as OplogEntry;
    full.seq = this.endSeq;
    this.#entries.push(full);
    if (this.size > this.maxEntries) this.#trim();
    if (!this.#notifyScheduled && this.#waiters.size > 0) {
      this.#notifyScheduled = true;
      queueMicrotask(() => this.#notify());
    }
    return full;
  }

  #trim(): void {
    while (this.size > this.maxEntries) {
      this.#entries[this.#head] = undefined as unknown as OplogEntry; // release the documents
      this.#head++;
    }
    if (this.#head > 1024 && this.#head * 2 > this.#entries.length) {
      this.#entries = this.#entries.slice(this.#head);
      this.#baseSeq += this.#head;
      this.#head = 0;
    }
  }

  /** Sequence number of the first entry with `ts >= ts` (endSeq when there is none). */
  seqAtOrAfter(ts: Ts): number {
    let lo = this.#head;
    let hi = this.#entries.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.#entries[mid]!.ts < ts) lo = mid + 1;
      else hi = mid;
    }
    return this.#baseSeq + lo;
  }

  /** The entry with exactly this timestamp. */
  entryAt(ts: Ts): OplogEntry | undefined {
    const e = this.at(this.seqAtOrAfter(ts));
    return e && e.ts === ts ? e : undefined;
  }

  /**
   * Resolves true as soon as an entry with seq >= afterSeq exists (right away if one does),
   * false after `timeoutMs`, or false when `signal` aborts.
   */
  waitForEntries(afterSeq: number, timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
    if (this.endSeq > afterSeq) return Promise.resolve(true);
    if (timeoutMs <= 0 || signal?.aborted) return Promise.resolve(false);
    return new Promise((resolve) => {
      const waiter: Waiter = {
        afterSeq,
        timer: undefined,
        resolve: (arrived) => {
          this.#waiters.delete(waiter);
          if (waiter.timer) clearTimeout(waiter.timer);
          signal?.removeEventListener('abort', onAbort);
          resolve(arrived);
        },
      };
      const onAbort = (): void => waiter.resolve(false);
      waiter.timer = setTimeout(() => waiter.resolve(false), timeoutMs);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#waiters.add(waiter);
    });
  }

  #notify(): void {
    this.#notifyScheduled = false;
    const end = this.endSeq;
    for (const w of [...this.#waiters]) if (end > w.afterSeq) w.resolve(true);
  }

  /** Wakes every waiter (shutdown). */
  releaseAll(): void {
    for (const w of [...this.#waiters]) w.resolve(false);
  }

  *entries(fromSeq = this.startSeq): IterableIterator<OplogEntry> {
    for (let seq = Math.max(fromSeq, this.startSeq); seq < this.endSeq; seq++) yield this.at(seq)!;
  }
}
