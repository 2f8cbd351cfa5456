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
 * `$or` when each clause can use an index (the union of the clauses' candidates); equalities on
 * `_id` (`$eq`, `$in`) are used without planning the rest of the filter. Every other
 * predicate is left to the filter, and a filter no index serves scans the collection.
 *
 * The keys come from the collection's `OrderedKeys` (ordered-keys.ts); this file plans and runs
 * the scan over them.
 */
import type { Document } from 'bson';
import { isPlainObject, keyOf } from './keys.js';
import { ANY, DATE, DATE_NAN, NUM, NUM_NAN, boundOf, cmpKey } from './ordered-keys.js';
import type { Interval, OrderedKeys, Span } from './ordered-keys.js';
import { greatestSeq } from './storage.js';
import type { Collection } from './storage.js';
import type { StoredDoc } from './stored-doc.js';

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

/** Candidates are dense from this fraction of the collection (1/DENSE) on: see naturalOrder. */
const DENSE = 16;

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
  const idAtoms = conj.atoms.get('_id');
  if (idAtoms !== undefined && p.indexed.has('_id') && idAtoms.every((a) => a.values)) {
    // Equalities on `_id`: lookups in the collection's map, for the values of the shortest list.
    // Taken without planning the other predicates (as mongod's `_id` lookups): planning them
    // brings their indexes up to date (ordered-keys.ts), which after deletes costs more than the
    // lookups (the purge's `deleteMany({ _id: { $in }, $or: <hour rule> })`, batch after batch).
    let ids = idAtoms[0]!.values!;
    for (const a of idAtoms) if (a.values!.length < ids.length) ids = a.values!;
    return { kind: 'ids', ids, cost: ids.length };
  }
  for (const [path, atoms] of conj.atoms) {
    if (!p.indexed.has(path)) continue;
    const brackets = new Set(atoms.flatMap((a) => a.intervals.map((iv) => iv.b)));
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

/** Marks the positions of a plan's candidates (current or not: the caller's filter decides). */
function markPlan(coll: Collection, plan: Plan, wanted: Uint8Array, stats: ScanStats | undefined): void {
  const mark = (d: StoredDoc): void => {
    if (d.seq < wanted.length * 8) wanted[d.seq >>> 3]! |= 1 << (d.seq & 7);
  };
  switch (plan.kind) {
    case 'ids':
      for (const id of plan.ids) {
        const d = coll.docByIdKey(keyOf(id));
        if (stats) stats.scanned++;
        if (d) mark(d);
      }
      return;
    case 'keys':
      for (const { run, start, end } of plan.spans) {
        if (stats) stats.scanned += end - start;
        for (let i = start; i < end; i++) mark(run[i]!.d);
      }
      return;
    case 'union':
      for (const sub of plan.plans) markPlan(coll, sub, wanted, stats);
      return;
  }
}

/**
 * The collection's documents whose positions a plan marks, read lazily in natural order: what
 * `naturalOrder` returns for dense candidates, without listing them first (a pass over millions
 * of documents in one go). An entry of a replaced document marks its current version (the same
 * position), which the caller's filter then tests.
 */
function* markedDocuments(coll: Collection, plan: Plan, stats: ScanStats | undefined): Generator<StoredDoc> {
  const wanted = new Uint8Array((greatestSeq() >>> 3) + 1);
  markPlan(coll, plan, wanted, stats);
  for (const d of coll.docs.values()) {
    if (d.seq < wanted.length * 8 && (wanted[d.seq >>> 3]! & (1 << (d.seq & 7))) !== 0) {
      if (stats) stats.scannedObjects++;
      yield d;
    }
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
  /**
   * The caller tests the filter cheaply on every document (its range clauses from the stored
   * bytes, raw-range-filter.ts): an index that selects a sixteenth of the collection or more is
   * not used, the collection is scanned as it is read. Such candidates were put in natural order
   * by a pass over the whole collection anyway, after listing them, in one go: ~0.2 s a million
   * documents during which the server answered nothing else.
   */
  denseScan?: boolean;
}

/** `hint: { $natural: ±1 }`. */
export function isNaturalHint(hint: unknown): boolean {
  return isPlainObject(hint) && '$natural' in hint;
}

/** The decoded objects of stored documents. */
export function* objectsOf(docs: Iterable<StoredDoc>): IterableIterator<Document> {
  for (const d of docs) yield d.view();
}

/** Paths served by an index: the first field of `_id_` and of ascending/descending indexes. */
function indexedPaths(coll: Collection): Set<string> {
  const paths = new Set<string>();
  for (const idx of coll.indexes.values()) {
    const first = idx.fields[0];
    // A hidden index is kept up to date (and enforces uniqueness) but the planner ignores it.
    if (first === undefined || idx.spec.hidden === true || !pathUsable(first)) continue;
    const dir = idx.spec.key[first] as unknown;
    if (typeof dir === 'number' && dir !== 0) paths.add(first);
  }
  return paths;
}

/** The field paths a filter names at its top level and in its `$and`/`$or` branches. */
function filterPaths(filter: Document, out: Set<string>): void {
  for (const [key, value] of Object.entries(filter)) {
    if (key === '$and' || key === '$or') {
      if (Array.isArray(value)) for (const c of value) if (isPlainObject(c)) filterPaths(c, out);
    } else if (pathUsable(key)) {
      out.add(key);
    }
  }
}

function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * Brings the sorted keys of the indexes a read with `filter` may use up to date, a slice at a
 * time with the event loop free in between (Collection.settleKeys), before `documentsToExamine`
 * plans it: the first read by an indexed field of a collection of millions of documents sorted
 * their keys in one go (~1.4 s a million documents, 2026-12-07).
 */
export async function settleIndexes(coll: Collection, filter: Document, opts: ScanOptions = {}): Promise<void> {
  if (opts.natural || coll.docs.size === 0) return;
  const paths = new Set<string>();
  filterPaths(filter, paths);
  const indexed = indexedPaths(coll);
  for (const path of paths) if (indexed.has(path)) await coll.settleKeys(path, nextTurn);
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
  // Marked documents (markedDocuments) are counted as they are read.
  if (stats && Array.isArray(found)) stats.scannedObjects += found.length;
  return found;
}

/** Candidates from indexes, in natural order without duplicates; undefined when no index helps. */
function indexCandidates(coll: Collection, filter: Document, opts: ScanOptions): StoredDoc[] | Iterable<StoredDoc> | undefined {
  if (coll.docs.size === 0) return undefined;
  // String bounds follow the binary order; a collation (even `simple`, left to mingo) may not.
  const strings = opts.collation === undefined;
  const conj: Conj = { atoms: new Map(), ors: [] };
  parseConj(filter, strings, conj);
  if (conj.atoms.size === 0 && conj.ors.length === 0) return undefined;
  const plan = planConj({ coll, indexed: indexedPaths(coll) }, conj);
  const total = coll.docs.size;
  if (!plan || plan.cost >= total) return undefined;
  if (opts.denseScan === true && plan.cost * DENSE >= total) {
    // Half the collection or more: a scan. Else the candidates are marked by position, and the
    // collection read in its order as the caller reads (those marked only).
    if (plan.cost * 2 >= total) return undefined;
    return markedDocuments(coll, plan, opts.stats);
  }
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
  if (docs.length * DENSE < coll.docs.size) {
    docs.sort((a, b) => a.seq - b.seq);
    const out: StoredDoc[] = [];
    let prev: StoredDoc | undefined;
    for (const d of docs) {
      if (d !== prev) out.push(d);
      prev = d;
    }
    return out;
  }
  // Marked by position (a bit per `seq`): a Set of the candidates cost ~50 bytes each and
  // cannot hold more than 2^24 of them (an `$or` of two clauses over a 10,000,000-document hour).
  // Candidates are current documents, and the current documents have distinct positions.
  let maxSeq = 0;
  for (const d of docs) if (d.seq > maxSeq) maxSeq = d.seq;
  const wanted = new Uint8Array((maxSeq >>> 3) + 1);
  for (const d of docs) wanted[d.seq >>> 3]! |= 1 << (d.seq & 7);
  const out: StoredDoc[] = [];
  for (const d of coll.docs.values()) {
    const bit = 1 << (d.seq & 7);
    if (d.seq <= maxSeq && (wanted[d.seq >>> 3]! & bit) !== 0) {
      wanted[d.seq >>> 3]! &= ~bit;
      out.push(d);
    }
  }
  return out;
}
