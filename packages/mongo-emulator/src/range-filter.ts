/**
 * A fast path for the parts of a query filter that are ranges on dates and ObjectIds: the
 * archiver's hour rule (`{ $or: [{ createdAt: { $gte: d1, $lt: d2 } }, { _id: { $gte: o1, $lt: o2 },
 * createdAt: { $not: { … } } }] }`), which every repair, reconcile and purge query carries.
 *
 * mingo tests such a range through its generic comparison (type names, `toString()` of each
 * ObjectId) at ~5 µs a document; the purge benchmark's `_id` listing and its deletes by `_id`
 * spent a third of the emulator's time there (node --cpu-prof, 2026-12-07). Here a filter is
 * split into the top-level clauses this module decides (a field of the top level, no dots, with
 * `$gt`/`$gte`/`$lt`/`$lte` of a valid Date or of ObjectIds, `$not` of those, and `$or`/`$and`
 * of such clauses) and the rest, which stays mingo's. A clause answers true or false only when
 * the document's value is a single value of the operand's type (a Date that is a valid time, an
 * ObjectId), where mingo compares the same way (dates by their time, ObjectIds by their hex
 * string, which orders as their bytes); for anything else (missing, null, an array, another type)
 * it answers `undefined` and the caller asks mingo about the whole filter. So the answers are
 * mingo's.
 */
import type { Document } from 'bson';
import { ObjectId } from 'bson';

/** true / false when decided here; undefined: ask mingo. */
export type RangeTest = (doc: Document) => boolean | undefined;

/** A filter split into the clauses decided here (`test`) and the rest (`rest`, undefined when none). */
export interface SplitFilter {
  test: RangeTest;
  rest: Document | undefined;
}

type Compare = (c: number) => boolean;

const COMPARISONS: Record<string, Compare> = {
  $gt: (c) => c > 0,
  $gte: (c) => c >= 0,
  $lt: (c) => c < 0,
  $lte: (c) => c <= 0,
};

/** A test of one field value (already read from the document). */
type ValueTest = (value: unknown) => boolean | undefined;

function dateBound(op: Compare, bound: Date): ValueTest {
  const t = bound.getTime();
  return (v) => {
    if (!(v instanceof Date)) return undefined;
    const x = v.getTime();
    if (Number.isNaN(x)) return undefined;
    return op(x < t ? -1 : x > t ? 1 : 0);
  };
}

function idBound(op: Compare, bound: ObjectId): ValueTest {
  const bytes = bound.id;
  return (v) => (v instanceof ObjectId ? op(Buffer.compare(v.id, bytes)) : undefined);
}

/** `{ $gte: …, $lt: …, $not: { … } }` on one field, or undefined when not decided here. */
function operatorsTest(spec: unknown): ValueTest | undefined {
  if (spec === null || typeof spec !== 'object' || Array.isArray(spec) || spec instanceof Date || spec instanceof ObjectId) return undefined;
  const keys = Object.keys(spec);
  if (keys.length === 0) return undefined;
  const tests: ValueTest[] = [];
  for (const key of keys) {
    const operand = (spec as Document)[key];
    const op = COMPARISONS[key];
    if (op !== undefined) {
      if (operand instanceof Date && !Number.isNaN(operand.getTime())) tests.push(dateBound(op, operand));
      else if (operand instanceof ObjectId) tests.push(idBound(op, operand));
      else return undefined;
    } else if (key === '$not') {
      const inner = operatorsTest(operand);
      if (inner === undefined) return undefined;
      tests.push((v) => {
        const r = inner(v);
        return r === undefined ? undefined : !r;
      });
    } else {
      return undefined;
    }
  }
  return (v) => {
    for (const t of tests) {
      const r = t(v);
      if (r !== true) return r;
    }
    return true;
  };
}

/** A test of a whole filter object, or undefined when some clause is not decided here. */
function filterTest(filter: unknown): RangeTest | undefined {
  if (filter === null || typeof filter !== 'object' || Array.isArray(filter)) return undefined;
  const split = splitRangeFilter(filter as Document);
  return split !== undefined && split.rest === undefined ? split.test : undefined;
}

function clauseTest(key: string, value: unknown): RangeTest | undefined {
  if (key === '$or' || key === '$and') {
    if (!Array.isArray(value) || value.length === 0) return undefined;
    const parts: RangeTest[] = [];
    for (const f of value) {
      const t = filterTest(f);
      if (t === undefined) return undefined;
      parts.push(t);
    }
    const decisive = key === '$or';
    return (doc) => {
      for (const t of parts) {
        const r = t(doc);
        if (r === undefined) return undefined;
        if (r === decisive) return decisive;
      }
      return !decisive;
    };
  }
  if (key.startsWith('$') || key.includes('.') || key === '') return undefined;
  const test = operatorsTest(value);
  if (test === undefined) return undefined;
  return (doc) => {
    const v: unknown = doc[key];
    return v === undefined || v === null || Array.isArray(v) ? undefined : test(v);
  };
}

/**
 * Splits `filter` (see the header); undefined when no clause of it is decided here. The filter's
 * top-level clauses are a conjunction, so `test(doc) && mingo(rest)(doc)` is the filter's answer
 * whenever `test(doc)` is not undefined.
 */
export function splitRangeFilter(filter: Document): SplitFilter | undefined {
  const tests: RangeTest[] = [];
  const rest: Document = {};
  let restKeys = 0;
  for (const key of Object.keys(filter)) {
    const t = clauseTest(key, filter[key]);
    if (t !== undefined) tests.push(t);
    else {
      rest[key] = filter[key];
      restKeys++;
    }
  }
  if (tests.length === 0) return undefined;
  const test: RangeTest = (doc) => {
    let out: boolean | undefined = true;
    for (const t of tests) {
      const r = t(doc);
      if (r === false) return false;
      if (r === undefined) out = undefined;
    }
    return out;
  };
  return { test, rest: restKeys > 0 ? rest : undefined };
}
