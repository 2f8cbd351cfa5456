/**
 * Index use for reads. mongod answers a filter with a range on an indexed field by walking that
 * index between the bounds and fetching only those documents; so does the emulator here, for
 * `find`, `count`, `distinct`, updates, deletes, findAndModify and the leading `$match` of an
 * aggregation. The index only narrows the candidates: the full filter is still applied to each of
 * them by the caller (mingo), so a result is the one of a full scan, in natural order.
 *
 * Used: the `_id` index and the first field of every ascending/descending index, for equality,
 * `$eq`, `$in`, `$gt`, `$gte`, `$lt`, `$lte` on numbers, strings, dates, ObjectIds and booleans
 * (the types for which mingo and the index order agree; strings only without a collation), and
 * `$or` when each clause can use an index (the union of the clauses' candidates). Every other
 * predicate is left to the filter, and a filter no index serves scans the collection.
 *
 * The keys of a field live in `OrderedKeys`: entries (bracket, key, document) sorted in BSON order
 * within a type bracket, maintained lazily so that inserts stay cheap: a written document is
 * appended to an unsorted tail, which the next query needing the keys sorts and merges in.
 * Updated and deleted documents leave stale entries behind: a candidate counts only while it is
 * still the collection's current version of its `_id`, and stale entries are dropped when many.
 *
 * Candidates are a superset of what mingo's matcher accepts, including its quirks: an array
 * yields a key per element at any depth (a document with two keys or more makes the field
 * multikey, and range bounds on it are then not intersected); NaN numbers and invalid dates
 * (which mingo's `$gte`/`$lte` accept against any bound of their type) are always candidates of
 * a number or date range; a path through a non-plain object (which mingo reads through its
 * prototype) makes the document a candidate of every scan of that field.
 */
import type { Document } from 'bson';
import { keyOf } from './keys.js';
import type { Collection, StoredDoc } from './storage.js';

// Type brackets of keys. Only the brackets a bound can select are stored; the order of brackets
// among themselves is irrelevant (a bound never crosses brackets).
const ANY = 0;
const NUM_NAN = 1;
const NUM = 2;
const STR = 3;
const OID = 4;
const BOOL = 5;
const DATE_NAN = 6;
const DATE = 7;

type Key = number | string;

interface Entry {
  b: number;
  k: Key;
  d: StoredDoc;
}

/** One interval of keys of a bracket; an absent end is the end of the bracket. */
interface Interval {
  b: number;
  lo?: Key | undefined;
  loInc: boolean;
  hi?: Key | undefined;
  hiInc: boolean;
}

const MAX_SAFE_LONG = 2 ** 53;
const MAX_DATE_MS = 8.64e15;

function cmpKey(a: Key, b: Key): number {
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

function isPlainObject(v: unknown): v is Document {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null;
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

function merge(a: Entry[], b: Entry[]): Entry[] {
  if (a.length === 0) return b;
  if (b.length === 0) return a;
  if (cmpEntries(a[a.length - 1]!, b[0]!) <= 0) return a.concat(b);
  const out: Entry[] = new Array<Entry>(a.length + b.length);
  let i = 0;
  let j = 0;
  let o = 0;
  while (i < a.length && j < b.length) out[o++] = cmpEntries(b[j]!, a[i]!) < 0 ? b[j++]! : a[i++]!;
  while (i < a.length) out[o++] = a[i++]!;
  while (j < b.length) out[o++] = b[j++]!;
  return out;
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

  /** Keys of `docs`, the current documents of the collection. */
  constructor(path: string, docs: Iterable<StoredDoc>) {
    this.path = path;
    this.#parts = path.split('.');
    this.#name = this.#parts.length === 1 && path !== '_id' ? Buffer.from(path, 'utf8') : undefined;
    const sink = new KeySink();
    for (const d of docs) this.#keysOf(d, sink);
    this.#main = sink.out.sort(cmpEntries);
  }

  /** Documents written and not yet merged. */
  get backlog(): number {
    return this.#tail.length;
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
          pathKeys(d.obj, this.#parts, 0, sink);
        }
      } else {
        pathKeys(obj ?? d.obj, this.#parts, 0, sink);
      }
    }
    if (sink.count > 1) this.multikey = true;
  }

  /** Merges the tail in (documents no longer current are skipped) and drops stale entries when many. */
  refresh(isCurrent: (d: StoredDoc) => boolean): void {
    const compact = this.#stale > 1024 && this.#stale * 4 > this.size;
    if (this.#tail.length === 0 && !compact) return;
    const sink = new KeySink();
    for (const d of this.#tail) if (isCurrent(d)) this.#keysOf(d, sink);
    this.#tail = [];
    const fresh = sink.out.sort(cmpEntries);
    if (compact) {
      this.#main = merge(this.#main, this.#recent).filter((e) => isCurrent(e.d));
      this.#recent = [];
      this.#stale = 0;
    }
    const main = this.#main;
    if (main.length === 0) {
      this.#main = merge(this.#recent, fresh);
      this.#recent = [];
      return;
    }
    if (this.#recent.length === 0 && fresh.length > 0 && cmpEntries(main[main.length - 1]!, fresh[0]!) <= 0) {
      // Keys written in increasing order (ObjectIds, insertion times): an append.
      for (const e of fresh) main.push(e);
      return;
    }
    this.#recent = merge(this.#recent, fresh);
    if (this.#recent.length * 8 > main.length) {
      this.#main = merge(main, this.#recent);
      this.#recent = [];
    }
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

// ---------------------------------------------------------------------------------------------
// Planning

/** A bound of a filter: its bracket and key, or undefined when the value cannot be a bound. */
function boundOf(v: unknown, strings: boolean): { b: number; k: Key } | undefined {
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

/** One predicate on a path: the union of its intervals; `values` when it is an equality or `$in`. */
interface Atom {
  intervals: Interval[];
  values?: unknown[] | undefined;
}

/** A conjunction: predicates by path, and `$or`s (each a list of conjunctions). */
interface Conj {
  atoms: Map<string, Atom[]>;
  ors: Conj[][];
}

function pathUsable(path: string): boolean {
  if (path.length === 0 || path.startsWith('$')) return false;
  for (const part of path.split('.')) if (part.length === 0 || /^\d+$/.test(part) || part.startsWith('$')) return false;
  return true;
}

function atomOf(op: string, v: unknown, strings: boolean): Atom | undefined {
  if (op === '$in') {
    if (!Array.isArray(v) || v.length === 0) return undefined;
    const intervals: Interval[] = [];
    for (const x of v) {
      const bound = boundOf(x, strings);
      if (!bound) return undefined;
      intervals.push({ b: bound.b, lo: bound.k, loInc: true, hi: bound.k, hiInc: true });
    }
    return { intervals, values: v };
  }
  const bound = boundOf(v, strings);
  if (!bound) return undefined;
  switch (op) {
    case '$eq':
      return { intervals: [{ b: bound.b, lo: bound.k, loInc: true, hi: bound.k, hiInc: true }], values: [v] };
    case '$gt':
    case '$gte':
      return { intervals: [{ b: bound.b, lo: bound.k, loInc: op === '$gte', hiInc: false }] };
    case '$lt':
    case '$lte':
      return { intervals: [{ b: bound.b, loInc: false, hi: bound.k, hiInc: op === '$lte' }] };
    default:
      return undefined;
  }
}

function parseConj(filter: Document, strings: boolean, out: Conj): void {
  for (const [key, value] of Object.entries(filter)) {
    if (key === '$and') {
      if (Array.isArray(value)) for (const c of value) if (isPlainObject(c)) parseConj(c, strings, out);
      continue;
    }
    if (key === '$or') {
      if (!Array.isArray(value) || value.length === 0 || !value.every(isPlainObject)) continue;
      out.ors.push(
        (value as Document[]).map((c) => {
          const branch: Conj = { atoms: new Map(), ors: [] };
          parseConj(c, strings, branch);
          return branch;
        }),
      );
      continue;
    }
    if (!pathUsable(key)) continue;
    const atoms: Atom[] = [];
    if (isPlainObject(value)) {
      const ops = Object.keys(value);
      if (ops.length === 0 || !ops.every((op) => op.startsWith('$'))) continue;
      for (const op of ops) {
        const atom = atomOf(op, value[op], strings);
        if (atom) atoms.push(atom);
      }
    } else {
      const atom = atomOf('$eq', value, strings);
      if (atom) atoms.push(atom);
    }
    if (atoms.length === 0) continue;
    const list = out.atoms.get(key);
    if (list) list.push(...atoms);
    else out.atoms.set(key, atoms);
  }
}

function intersect(a: Interval, b: Interval): Interval | undefined {
  if (a.b !== b.b) return undefined;
  let lo = a.lo;
  let loInc = a.loInc;
  if (b.lo !== undefined && (lo === undefined || cmpKey(b.lo, lo) > 0 || (cmpKey(b.lo, lo) === 0 && !b.loInc))) {
    lo = b.lo;
    loInc = b.loInc;
  }
  let hi = a.hi;
  let hiInc = a.hiInc;
  if (b.hi !== undefined && (hi === undefined || cmpKey(b.hi, hi) < 0 || (cmpKey(b.hi, hi) === 0 && !b.hiInc))) {
    hi = b.hi;
    hiInc = b.hiInc;
  }
  if (lo !== undefined && hi !== undefined) {
    const c = cmpKey(lo, hi);
    if (c > 0 || (c === 0 && !(loInc && hiInc))) return undefined;
  }
  return { b: a.b, lo, loInc, hi, hiInc };
}

const MAX_INTERVALS = 10_000;

/** The intersection of the atoms' unions (a single value must satisfy them all). */
function intersectAtoms(atoms: Atom[]): Atom | undefined {
  let acc: Atom = atoms[0]!;
  for (const atom of atoms.slice(1)) {
    if (acc.intervals.length * atom.intervals.length > MAX_INTERVALS) return undefined;
    const intervals: Interval[] = [];
    for (const x of acc.intervals) {
      for (const y of atom.intervals) {
        const iv = intersect(x, y);
        if (iv) intervals.push(iv);
      }
    }
    acc = { intervals };
  }
  return acc;
}

type Plan =
  | { kind: 'ids'; ids: unknown[]; cost: number }
  | { kind: 'keys'; spans: Span[]; cost: number }
  | { kind: 'union'; plans: Plan[]; cost: number };

/** Ranges of the keys of a path matching `atom`, with the entries every scan must include. */
function keysPlan(keys: OrderedKeys, atom: Atom, brackets: Set<number>): Plan {
  const spans: Span[] = keys.bracket(ANY);
  if (brackets.has(NUM)) spans.push(...keys.bracket(NUM_NAN));
  if (brackets.has(DATE)) spans.push(...keys.bracket(DATE_NAN));
  for (const iv of atom.intervals) spans.push(...keys.spans(iv));
  let cost = 0;
  for (const span of spans) cost += span.end - span.start;
  return { kind: 'keys', spans, cost };
}

interface Planner {
  coll: Collection;
  indexed: Set<string>;
}

function planConj(p: Planner, conj: Conj): Plan | undefined {
  let best: Plan | undefined;
  const consider = (plan: Plan | undefined): void => {
    if (plan && (!best || plan.cost < best.cost)) best = plan;
  };
  for (const [path, atoms] of conj.atoms) {
    if (!p.indexed.has(path)) continue;
    const brackets = new Set(atoms.flatMap((a) => a.intervals.map((iv) => iv.b)));
    if (path === '_id' && atoms.every((a) => a.values)) {
      // Equalities on `_id`: lookups in the collection's map, for the values of the shortest list.
      let ids = atoms[0]!.values!;
      for (const a of atoms) if (a.values!.length < ids.length) ids = a.values!;
      consider({ kind: 'ids', ids, cost: ids.length });
      continue;
    }
    const keys = p.coll.orderedKeys(path);
    const intersected = keys.multikey ? undefined : intersectAtoms(atoms);
    if (intersected) consider(keysPlan(keys, intersected, brackets));
    // Multikey (or too many intervals): any single predicate narrows on its own.
    else for (const atom of atoms) consider(keysPlan(keys, atom, brackets));
  }
  for (const branches of conj.ors) {
    const plans: Plan[] = [];
    for (const branch of branches) {
      const plan = planConj(p, branch);
      if (!plan) break;
      plans.push(plan);
    }
    if (plans.length === branches.length) consider({ kind: 'union', plans, cost: plans.reduce((s, x) => s + x.cost, 0) });
  }
  return best;
}

function runPlan(coll: Collection, plan: Plan, out: StoredDoc[], stats: ScanStats | undefined): void {
  switch (plan.kind) {
    case 'ids':
      for (const id of plan.ids) {
        const d = coll.docByIdKey(keyOf(id));
        if (stats) stats.scanned++;
        if (d) out.push(d);
      }
      return;
    case 'keys':
      for (const { run, start, end } of plan.spans) {
        if (stats) stats.scanned += end - start;
        for (let i = start; i < end; i++) {
          const d = run[i]!.d;
          if (coll.docByIdKey(d.idKey) === d) out.push(d);
        }
      }
      return;
    case 'union':
      for (const sub of plan.plans) runPlan(coll, sub, out, stats);
      return;
  }
}

/** Counters of serverStatus `metrics.queryExecutor`. */
export interface ScanStats {
  /** Index keys examined. */
  scanned: number;
  /** Documents examined. */
  scannedObjects: number;
  /** Reads that scanned the whole collection. */
  collectionScans: number;
}

export interface ScanOptions {
  /** The read's collation: string bounds are used only without one. */
  collation?: Document | undefined;
  /** `hint: { $natural: ±1 }`: a collection scan, as mongod does. */
  natural?: boolean;
  stats?: ScanStats | undefined;
}

/** `hint: { $natural: ±1 }`. */
export function isNaturalHint(hint: unknown): boolean {
  return isPlainObject(hint) && '$natural' in hint;
}

/** The decoded objects of stored documents. */
export function* objectsOf(docs: Iterable<StoredDoc>): IterableIterator<Document> {
  for (const d of docs) yield d.obj;
}

/** Paths served by an index: the first field of `_id_` and of ascending/descending indexes. */
function indexedPaths(coll: Collection): Set<string> {
  const paths = new Set<string>();
  for (const idx of coll.indexes.values()) {
    const first = idx.fields[0];
    if (first === undefined || !pathUsable(first)) continue;
    const dir = idx.spec.key[first] as unknown;
    if (typeof dir === 'number' && dir !== 0) paths.add(first);
  }
  return paths;
}

/**
 * The documents a read with `filter` must examine, in natural order: those an index selects,
 * or all documents of the collection. The caller applies the whole filter to each.
 */
export function documentsToExamine(coll: Collection, filter: Document, opts: ScanOptions = {}): Iterable<StoredDoc> {
  const stats = opts.stats;
  const found = opts.natural ? undefined : indexCandidates(coll, filter, opts);
  if (!found) {
    if (stats) {
      stats.scannedObjects += coll.docs.size;
      stats.collectionScans++;
    }
    return coll.docs.values();
  }
  if (stats) stats.scannedObjects += found.length;
  return found;
}

/** Candidates from indexes, in natural order without duplicates; undefined when no index helps. */
function indexCandidates(coll: Collection, filter: Document, opts: ScanOptions): StoredDoc[] | undefined {
  if (coll.docs.size === 0) return undefined;
  // String bounds follow the binary order; a collation (even `simple`, left to mingo) may not.
  const strings = opts.collation === undefined;
  const conj: Conj = { atoms: new Map(), ors: [] };
  parseConj(filter, strings, conj);
  if (conj.atoms.size === 0 && conj.ors.length === 0) return undefined;
  const plan = planConj({ coll, indexed: indexedPaths(coll) }, conj);
  const total = coll.docs.size;
  if (!plan || plan.cost >= total) return undefined;
  const out: StoredDoc[] = [];
  runPlan(coll, plan, out, opts.stats);
  return naturalOrder(coll, out);
}

/**
 * Documents that may hold a date at or before `cutoffMs` at `path` (the TTL monitor's candidates:
 * it checks each), in natural order.
 */
export function documentsWithDateUpTo(coll: Collection, path: string, cutoffMs: number): Iterable<StoredDoc> {
  if (!pathUsable(path) || coll.docs.size === 0) return coll.docs.values();
  const out: StoredDoc[] = [];
  for (const { run, start, end } of coll.orderedKeys(path).spans({ b: DATE, loInc: true, hi: cutoffMs, hiInc: true })) {
    for (let i = start; i < end; i++) {
      const d = run[i]!.d;
      if (coll.docByIdKey(d.idKey) === d) out.push(d);
    }
  }
  return naturalOrder(coll, out);
}

/** Documents in the collection's natural order, each once. */
function naturalOrder(coll: Collection, docs: StoredDoc[]): StoredDoc[] {
  if (docs.length <= 1) return docs;
  if (docs.length * 16 < coll.docs.size) {
    docs.sort((a, b) => a.seq - b.seq);
    const out: StoredDoc[] = [];
    let prev: StoredDoc | undefined;
    for (const d of docs) {
      if (d !== prev) out.push(d);
      prev = d;
    }
    return out;
  }
  const wanted = new Set(docs);
  const out: StoredDoc[] = [];
  for (const d of coll.docs.values()) if (wanted.has(d)) out.push(d);
  return out;
}
