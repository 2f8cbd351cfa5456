/**
 * The sorted keys of one indexed path over a collection's documents (`OrderedKeys`), the structure
 * index-scan.ts walks between a filter's bounds. It sits below storage.ts (a collection keeps one
 * per indexed path) and knows documents only as `StoredDoc`s.
 *
 * Entries (bracket, key, document) are sorted in BSON order within a type bracket, maintained
 * lazily so that inserts stay cheap: a written document is appended to an unsorted tail, which
 * the next query needing the keys sorts and merges in. Updated and deleted documents leave stale
 * entries behind: a candidate counts only while it is still the collection's current version of
 * its `_id`, and stale entries are dropped when many.
 *
 * Candidates are a superset of what mingo's matcher accepts, including its quirks: an array
 * yields a key per element at any depth (a document with two keys or more makes the field
 * multikey, and range bounds on it are then not intersected); NaN numbers and invalid dates
 * (which mingo's `$gte`/`$lte` accept against any bound of their type) are always candidates of
 * a number or date range; a path through a non-plain object (which mingo reads through its
 * prototype) makes the document a candidate of every scan of that field.
 */
import { isPlainObject } from './keys.js';
import type { StoredDoc } from './stored-doc.js';

// Type brackets of keys. Only the brackets a bound can select are stored; the order of brackets
// among themselves is irrelevant (a bound never crosses brackets).
export const ANY = 0;
export const NUM_NAN = 1;
export const NUM = 2;
export const STR = 3;
export const OID = 4;
export const BOOL = 5;
export const DATE_NAN = 6;
export const DATE = 7;

export type Key = number | string;

export interface Entry {
  b: number;
  k: Key;
  d: StoredDoc;
}

/** One interval of keys of a bracket; an absent end is the end of the bracket. */
export interface Interval {
  b: number;
  lo?: Key | undefined;
  loInc: boolean;
  hi?: Key | undefined;
  hiInc: boolean;
}

const MAX_SAFE_LONG = 2 ** 53;
const MAX_DATE_MS = 8.64e15;

export function cmpKey(a: Key, b: Key): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function cmpEntries(x: Entry, y: Entry): number {
  return x.b - y.b || cmpKey(x.k, y.k);
}

/** An ObjectId's 12 bytes as a string of char codes 0-255: ordered as its hex string (mingo's order). */
function oidKey(v: object): string {
  const a = (v as { id: Uint8Array }).id;
  return String.fromCharCode(a[0]!, a[1]!, a[2]!, a[3]!, a[4]!, a[5]!, a[6]!, a[7]!, a[8]!, a[9]!, a[10]!, a[11]!);
}

function bsonType(v: object): string | undefined {
  return (v as { _bsontype?: string })._bsontype;
}

/** The key of a stored value, or undefined when no supported bound can select it. */
function valueKey(v: unknown, sink: KeySink): void {
  switch (typeof v) {
    case 'number':
      if (Number.isNaN(v)) sink.emit(NUM_NAN, 0);
      else sink.emit(NUM, v);
      return;
    case 'string':
      sink.emit(STR, v);
      return;
    case 'boolean':
      sink.emit(BOOL, v ? 1 : 0);
      return;
    case 'object':
      break;
    default:
      return;
  }
  if (v === null) return;
  if (Array.isArray(v)) {
    for (const x of v) valueKey(x, sink);
    return;
  }
  if (v instanceof Date) {
    const t = v.getTime();
    if (Number.isNaN(t)) sink.emit(DATE_NAN, 0);
    else sink.emit(DATE, t);
    return;
  }
  if (bsonType(v) === 'ObjectId') sink.emit(OID, oidKey(v));
}

/** Keys of a dotted path in a decoded document, arrays expanded at every level. */
function pathKeys(value: unknown, parts: string[], i: number, sink: KeySink): void {
  if (i === parts.length) {
    valueKey(value, sink);
    return;
  }
  if (value === null || typeof value !== 'object') return;
  if (Array.isArray(value)) {
    for (const v of value) {
      // mingo takes an array nested in an array for the value of the rest of the path.
      if (Array.isArray(v)) valueKey(v, sink);
      pathKeys(v, parts, i, sink);
    }
    return;
  }
  const part = parts[i]!;
  if (isPlainObject(value)) {
    if (Object.prototype.hasOwnProperty.call(value, part)) pathKeys(value[part], parts, i + 1, sink);
    return;
  }
  // A date, an ObjectId, a Binary...: mingo resolves the path through the object's properties.
  if (part in value) sink.emit(ANY, 0);
}

function readI32(buf: Uint8Array, at: number): number {
  return buf[at]! | (buf[at + 1]! << 8) | (buf[at + 2]! << 16) | (buf[at + 3]! << 24);
}

/** An int64, exact within ±2^53 (beyond, only its magnitude matters here). */
function readI64(view: Buffer, at: number): number {
  return view.readInt32LE(at + 4) * 4294967296 + view.readUInt32LE(at);
}

/**
 * Keys of the elements of an encoded document (or array) named `name` (any name when
 * undefined, for array elements), decoded only as far as needed: the values a bound can select
 * are read in place, arrays are walked, anything else has no key. Returns false when the bytes
 * are malformed.
 */
function rawKeys(raw: Uint8Array, view: Buffer, start: number, end: number, name: Uint8Array | undefined, sink: KeySink): boolean {
  let pos = start + 4;
  const last = end - 1;
  while (pos < last) {
    const type = raw[pos]!;
    let p = pos + 1;
    let named = true;
    if (name) {
      for (let j = 0; j < name.length; j++) {
        if (raw[p + j] !== name[j]) {
          named = false;
          break;
        }
      }
      if (named && raw[p + name.length] !== 0) named = false;
    }
    while (p < last && raw[p] !== 0) p++;
    p++;
    let next: number;
    switch (type) {
      case 0x01:
        next = p + 8;
        if (named && next <= last) {
          const x = view.readDoubleLE(p);
          if (Number.isNaN(x)) sink.emit(NUM_NAN, 0);
          else sink.emit(NUM, x);
        }
        break;
      case 0x10:
        next = p + 4;
        if (named && next <= last) sink.emit(NUM, readI32(raw, p));
        break;
      case 0x12:
        next = p + 8;
        if (named && next <= last) {
          const x = readI64(view, p);
          if (x >= -MAX_SAFE_LONG && x <= MAX_SAFE_LONG) sink.emit(NUM, x);
        }
        break;
      case 0x09:
        next = p + 8;
        if (named && next <= last) {
          const x = readI64(view, p);
          if (x >= -MAX_DATE_MS && x <= MAX_DATE_MS) sink.emit(DATE, x);
          else sink.emit(DATE_NAN, 0);
        }
        break;
      case 0x02:
      case 0x0e: {
        const n = readI32(raw, p);
        next = p + 4 + n;
        if (n < 1 || next > last) return false;
        if (named) sink.emit(STR, view.toString('utf8', p + 4, next - 1));
        break;
      }
      case 0x07:
        next = p + 12;
        if (named && next <= last) sink.emit(OID, view.toString('latin1', p, next));
        break;
      case 0x08:
        next = p + 1;
        if (named && next <= last) sink.emit(BOOL, raw[p] ? 1 : 0);
        break;
      case 0x04: {
        const n = readI32(raw, p);
        next = p + n;
        if (n < 5 || next > last) return false;
        if (named && !rawKeys(raw, view, p, next, undefined, sink)) return false;
        break;
      }
      case 0x03:
      case 0x0f: {
        const n = readI32(raw, p);
        next = p + n;
        break;
      }
      case 0x05:
        next = p + 5 + readI32(raw, p);
        break;
      case 0x0d:
        next = p + 4 + readI32(raw, p);
        break;
      case 0x0c:
        next = p + 4 + readI32(raw, p) + 12;
        break;
      case 0x11:
        next = p + 8;
        break;
      case 0x13:
        next = p + 16;
        break;
      case 0x06:
      case 0x0a:
      case 0xff:
      case 0x7f:
        next = p;
        break;
      case 0x0b: {
        let q = p;
        while (q < last && raw[q] !== 0) q++;
        q++;
        while (q < last && raw[q] !== 0) q++;
        next = q + 1;
        break;
      }
      default:
        return false;
    }
    if (next <= pos || next > last) return false;
    pos = next;
  }
  return pos === last;
}

/** Collects the entries of the document being read. */
class KeySink {
  out: Entry[] = [];
  doc: StoredDoc | undefined;
  count = 0;

  emit(b: number, k: Key): void {
    this.out.push({ b, k, d: this.doc! });
    this.count++;
  }
}

/** Positions [start, end) in one sorted run of entries. */
export interface Span {
  run: readonly Entry[];
  start: number;
  end: number;
}

/** First position of `run` whose entry is after (b, k) (`after`) or not before it; k undefined: the whole bracket. */
function search(run: readonly Entry[], b: number, k: Key | undefined, after: boolean): number {
  let lo = 0;
  let hi = run.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const e = run[mid]!;
    let c = e.b - b;
    if (c === 0 && k !== undefined) c = cmpKey(e.k, k);
    if (c < 0 || (c === 0 && after)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Entries merged or sorted between two turns of the event loop in a sliced refresh. */
let keyStep = 16_384;

/** Sets the entries of a step of a sliced refresh (tests make it small). */
export function setKeyStep(n: number): void {
  keyStep = n;
}

/** A merge in progress: the next entries of `a` and `b` and of `out`. */
interface Merging {
  a: Entry[];
  b: Entry[];
  out: Entry[];
  i: number;
  j: number;
  o: number;
}

/** Merges up to `n` entries (a plain function: its loop optimizes, a generator's did not). */
function mergeSome(m: Merging, n: number): void {
  const { a, b, out } = m;
  let { i, j, o } = m;
  const end = Math.min(o + n, out.length);
  while (o < end && i < a.length && j < b.length) {
    const x = a[i]!;
    const y = b[j]!;
    if (y.b < x.b || (y.b === x.b && y.k < x.k)) {
      out[o++] = y;
      j++;
    } else {
      out[o++] = x;
      i++;
    }
  }
  while (o < end && i < a.length) out[o++] = a[i++]!;
  while (o < end && j < b.length) out[o++] = b[j++]!;
  m.i = i;
  m.j = j;
  m.o = o;
}

/** Sorted `a` and `b` merged, yielding every keyStep entries (a generator's return value). */
function* mergeSteps(a: Entry[], b: Entry[]): Generator<void, Entry[]> {
  if (a.length === 0) return b;
  if (b.length === 0) return a;
  if (cmpEntries(a[a.length - 1]!, b[0]!) <= 0) return a.concat(b);
  const m: Merging = { a, b, out: new Array<Entry>(a.length + b.length), i: 0, j: 0, o: 0 };
  for (;;) {
    mergeSome(m, keyStep);
    if (m.o === m.out.length) return m.out;
    yield;
  }
}

/** Runs a generator of steps to its end at once. */
function drain<T>(steps: Generator<void, T>): T {
  for (;;) {
    const r = steps.next();
    if (r.done === true) return r.value;
  }
}

/** Sorted runs merged into one, pairwise in order (adjacent runs of ordered keys concatenate). */
function* mergeAllSteps(runs: Entry[][]): Generator<void, Entry[]> {
  while (runs.length > 1) {
    const next: Entry[][] = [];
    for (let i = 0; i + 1 < runs.length; i += 2) next.push(yield* mergeSteps(runs[i]!, runs[i + 1]!));
    if (runs.length % 2 === 1) next.push(runs[runs.length - 1]!);
    runs = next;
  }
  return runs[0] ?? [];
}

/**
 * The keys of one indexed path over a collection's documents: two sorted runs (a large one and
 * one of recent writes, merged into the large one when it grows to an eighth of it, so that a
 * query after a few writes does not rewrite all keys) and an unsorted tail of documents written
 * since the last query.
 */
export class OrderedKeys {
  readonly path: string;
  readonly #parts: string[];
  readonly #name: Uint8Array | undefined;
  #main: Entry[] = [];
  #recent: Entry[] = [];
  #tail: StoredDoc[] = [];
  /** Documents replaced or removed since the last compaction (an upper bound of stale entries). */
  #stale = 0;
  /** Some document has two keys or more. */
  multikey = false;

  /**
   * Work begun by `refreshSteps` and not finished: the next query finishes it (`refresh`), or
   * the sliced refresh that began it.
   */
  #pending: Generator<void> | undefined;

  /**
   * Keys of `docs`, the current documents of the collection (a live iterator: documents written
   * while the keys are built in slices are also `added`, and an entry twice is harmless).
   */
  constructor(path: string, docs: Iterator<StoredDoc>) {
    this.path = path;
    this.#parts = path.split('.');
    this.#name = this.#parts.length === 1 && path !== '_id' ? Buffer.from(path, 'utf8') : undefined;
    this.#pending = this.#buildSteps(docs);
  }

  /** Documents written and not yet merged. */
  get backlog(): number {
    return this.#tail.length;
  }

  /** The keys of documents, sorted in runs of keyStep documents, yielding after each run. */
  *#sortedRunsSteps(docs: Iterator<StoredDoc>, isCurrent: (d: StoredDoc) => boolean): Generator<void, Entry[][]> {
    const runs: Entry[][] = [];
    let sink = new KeySink();
    let n = 0;
    for (let r = docs.next(); r.done !== true; r = docs.next()) {
      if (!isCurrent(r.value)) continue;
      this.#keysOf(r.value, sink);
      if (++n % keyStep === 0) {
        runs.push(sink.out.sort(cmpEntries));
        sink = new KeySink();
        yield;
      }
    }
    runs.push(sink.out.sort(cmpEntries));
    return runs;
  }

  *#buildSteps(docs: Iterator<StoredDoc>): Generator<void> {
    const runs = yield* this.#sortedRunsSteps(docs, () => true);
    this.#main = yield* mergeAllSteps(runs);
    this.#pending = undefined;
  }

  /** Entries (up to date after `refresh`). */
  get size(): number {
    return this.#main.length + this.#recent.length;
  }

  added(doc: StoredDoc): void {
    this.#tail.push(doc);
  }

  removed(): void {
    this.#stale++;
  }

  #keysOf(d: StoredDoc, sink: KeySink): void {
    sink.doc = d;
    sink.count = 0;
    if (this.path === '_id') {
      // Stored documents start with their `_id`; an ObjectId is read in place.
      const raw = d.cachedRaw;
      if (raw && raw.length >= 22 && raw[4] === 0x07 && raw[5] === 0x5f && raw[6] === 0x69 && raw[7] === 0x64 && raw[8] === 0) {
        sink.emit(OID, String.fromCharCode(raw[9]!, raw[10]!, raw[11]!, raw[12]!, raw[13]!, raw[14]!, raw[15]!, raw[16]!, raw[17]!, raw[18]!, raw[19]!, raw[20]!));
      } else {
        valueKey(d.id, sink);
      }
    } else {
      const obj = d.cachedObj;
      const raw = obj ? undefined : d.cachedRaw;
      if (raw && this.#name) {
        const mark = sink.out.length;
        const view = Buffer.isBuffer(raw) ? raw : Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
        if (!rawKeys(raw, view, 0, raw.length, this.#name, sink)) {
          sink.out.length = mark;
          sink.count = 0;
          pathKeys(d.view(), this.#parts, 0, sink);
        }
      } else {
        pathKeys(obj ?? d.view(), this.#parts, 0, sink);
      }
    }
    if (sink.count > 1) this.multikey = true;
  }

  /** Merges the tail in (documents no longer current are skipped) and drops stale entries when many. */
  refresh(isCurrent: (d: StoredDoc) => boolean): void {
    if (this.#pending !== undefined) drain(this.#pending);
    const steps = this.refreshSteps(isCurrent);
    if (steps !== undefined) drain(steps);
  }

  /**
   * Whether bringing the keys up to date is more than a slice of work (a build, a big tail, a
   * compaction): then `refreshSteps` is worth running a step per turn of the event loop.
   */
  get heavy(): boolean {
    return this.#pending !== undefined || this.#tail.length > keyStep || this.#compactDue();
  }

  #compactDue(): boolean {
    return this.#stale > 1024 && this.#stale * 4 > this.size;
  }

  /**
   * The work of `refresh` as steps (a generator: a step between two turns of the event loop),
   * or undefined when there is none. Queries made meanwhile finish it first (`refresh`).
   */
  refreshSteps(isCurrent: (d: StoredDoc) => boolean): Generator<void> | undefined {
    if (this.#pending !== undefined) return this.#pending;
    const compact = this.#compactDue();
    if (this.#tail.length === 0 && !compact) return undefined;
    this.#pending = this.#refreshSteps(isCurrent, compact);
    return this.#pending;
  }

  *#refreshSteps(isCurrent: (d: StoredDoc) => boolean, compact: boolean): Generator<void> {
    const tail = this.#tail;
    this.#tail = [];
    // Removals counted from here on are not all seen by this compaction: they stay counted.
    const staleSeen = this.#stale;
    const fresh = yield* mergeAllSteps(yield* this.#sortedRunsSteps(tail[Symbol.iterator](), isCurrent));
    if (compact) {
      const all = yield* mergeSteps(this.#main, this.#recent);
      const kept: Entry[] = [];
      for (let i = 0; i < all.length; i++) {
        if (isCurrent(all[i]!.d)) kept.push(all[i]!);
        if (i % keyStep === keyStep - 1) yield;
      }
      this.#main = kept;
      this.#recent = [];
      this.#stale -= staleSeen;
    }
    const main = this.#main;
    if (main.length === 0) {
      this.#main = yield* mergeSteps(this.#recent, fresh);
      this.#recent = [];
    } else if (this.#recent.length === 0 && fresh.length > 0 && cmpEntries(main[main.length - 1]!, fresh[0]!) <= 0) {
      // Keys written in increasing order (ObjectIds, insertion times): an append.
      for (const e of fresh) main.push(e);
    } else {
      this.#recent = yield* mergeSteps(this.#recent, fresh);
      if (this.#recent.length * 8 > main.length) {
        this.#main = yield* mergeSteps(main, this.#recent);
        this.#recent = [];
      }
    }
    this.#pending = undefined;
  }

  /** The entries in an interval, in each run. */
  spans(iv: Interval): Span[] {
    const out: Span[] = [];
    for (const run of [this.#main, this.#recent]) {
      if (run.length === 0) continue;
      const start = search(run, iv.b, iv.lo, iv.lo !== undefined && !iv.loInc);
      const end = search(run, iv.b, iv.hi, iv.hi === undefined || iv.hiInc);
      if (end > start) out.push({ run, start, end });
    }
    return out;
  }

  /** The entries of a whole bracket, in each run. */
  bracket(b: number): Span[] {
    return this.spans({ b, loInc: true, hiInc: true });
  }
}

/** A bound of a filter: its bracket and key, or undefined when the value cannot be a bound. */
export function boundOf(v: unknown, strings: boolean): { b: number; k: Key } | undefined {
  switch (typeof v) {
    case 'number':
      return Number.isNaN(v) ? undefined : { b: NUM, k: v };
    case 'string':
      return strings ? { b: STR, k: v } : undefined;
    case 'boolean':
      return { b: BOOL, k: v ? 1 : 0 };
    case 'object':
      break;
    default:
      return undefined;
  }
  if (v instanceof Date) {
    const t = v.getTime();
    return Number.isNaN(t) ? undefined : { b: DATE, k: t };
  }
  if (v !== null && bsonType(v) === 'ObjectId') return { b: OID, k: oidKey(v) };
  return undefined;
}
