/**
 * A fast path for the parts of a query filter that are ranges on dates and ObjectIds: the
 * archiver's hour rule (`{ $or: [{ createdAt: { $gte: d1, $lt: d2 } }, { _id: { $gte: o1, $lt: o2 },
 * createdAt: { $not: { … } } }] }`), which every repair, reconcile and purge query carries.
 *
 * mingo tests such a range through its generic comparison (type names, `toString()` of each
 * ObjectId) at ~5 µs a document; the purge benchmark's `_id` listing and its deletes by `_id`
 * spent a third of the emulator's time there (node --cpu-prof, 2026-12-07). Here a filter is
 * split into the top-level clauses this module decides (a field of the top level, no dots, with
 * `$gt`/`$gte`/`$lt`/`$lte` of a valid Date or of ObjectIds, `$in` of ObjectIds, `$not` of those,
 * and `$or`/`$and` of such clauses) and the rest, which stays mingo's. A clause answers true or false only when
 * the document's value is a single value of the operand's type (a Date that is a valid time, an
 * ObjectId), where mingo compares the same way (dates by their time, ObjectIds by their hex
 * string, which orders as their bytes); for anything else (missing, null, an array, another type)
 * it answers `undefined` and the caller asks mingo about the whole filter. So the answers are
 * mingo's. The clauses are parsed once (`parseRangeFilter`) and compiled here into a test of
 * decoded documents, and by raw-range-filter.ts into a test of a stored document's bytes.
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

/**
 * The parsed form of the clauses decided here, compiled into a test of decoded documents
 * (`RangeTest`, here) or of a stored document's bytes (raw-range-filter.ts): both answer alike.
 */
export type ValueNode =
  | { kind: 'date'; op: Compare; time: number }
  | { kind: 'id'; op: Compare; bytes: Uint8Array }
  /** `$in` of ObjectIds only: their 12 bytes as strings (`idInKey`). */
  | { kind: 'idIn'; keys: Set<string> }
  | { kind: 'not'; inner: ValueNode[] };

export type ClauseNode =
  /** A top-level field whose value must pass every test of `all`. */
  | { kind: 'field'; field: string; all: ValueNode[] }
  /** `$or` / `$and` of filters, each a conjunction of clauses. */
  | { kind: 'or' | 'and'; parts: ClauseNode[][] };

/** `{ $gte: …, $lt: …, $not: { … } }` on one field, or undefined when not decided here. */
function parseOperators(spec: unknown): ValueNode[] | undefined {
  if (spec === null || typeof spec !== 'object' || Array.isArray(spec) || spec instanceof Date || spec instanceof ObjectId) return undefined;
  const keys = Object.keys(spec);
  if (keys.length === 0) return undefined;
  const all: ValueNode[] = [];
  for (const key of keys) {
    const operand = (spec as Document)[key];
    const op = COMPARISONS[key];
    if (op !== undefined) {
      if (operand instanceof Date && !Number.isNaN(operand.getTime())) all.push({ kind: 'date', op, time: operand.getTime() });
      else if (operand instanceof ObjectId) all.push({ kind: 'id', op, bytes: operand.id });
      else return undefined;
    } else if (key === '$in') {
      // ObjectIds only (the purge's deletes by `_id`): a single ObjectId value is in the list
      // when one has its bytes (mingo's equality of ObjectIds); null, a missing value, an array
      // or another type is left to mingo.
      if (!Array.isArray(operand) || operand.length === 0 || !operand.every((x) => x instanceof ObjectId)) return undefined;
      all.push({ kind: 'idIn', keys: new Set((operand as ObjectId[]).map((x) => idInKey(x.id, 0))) });
    } else if (key === '$not') {
      const inner = parseOperators(operand);
      if (inner === undefined) return undefined;
      all.push({ kind: 'not', inner });
    } else {
      return undefined;
    }
  }
  return all;
}

/** The key of the ObjectId whose 12 bytes are at `at` in `bytes`, for an `idIn` node. */
export function idInKey(b: Uint8Array, at: number): string {
  return String.fromCharCode(b[at]!, b[at + 1]!, b[at + 2]!, b[at + 3]!, b[at + 4]!, b[at + 5]!, b[at + 6]!, b[at + 7]!, b[at + 8]!, b[at + 9]!, b[at + 10]!, b[at + 11]!);
}

/** A whole filter object as clauses, or undefined when some clause is not decided here. */
function parseWhole(filter: unknown): ClauseNode[] | undefined {
  if (filter === null || typeof filter !== 'object' || Array.isArray(filter)) return undefined;
  const parsed = parseRangeFilter(filter as Document);
  return parsed !== undefined && parsed.rest === undefined ? parsed.clauses : undefined;
}

function parseClause(key: string, value: unknown): ClauseNode | undefined {
  if (key === '$or' || key === '$and') {
    if (!Array.isArray(value) || value.length === 0) return undefined;
    const parts: ClauseNode[][] = [];
    for (const f of value) {
      const p = parseWhole(f);
      if (p === undefined) return undefined;
      parts.push(p);
    }
    return { kind: key === '$or' ? 'or' : 'and', parts };
  }
  if (key.startsWith('$') || key.includes('.') || key === '') return undefined;
  const all = parseOperators(value);
  return all === undefined ? undefined : { kind: 'field', field: key, all };
}

/** A filter's top-level clauses decided here and the rest (undefined when none). */
export interface ParsedFilter {
  clauses: ClauseNode[];
  rest: Document | undefined;
}

/** Parses `filter` (see the header); undefined when no clause of it is decided here. */
export function parseRangeFilter(filter: Document): ParsedFilter | undefined {
  const clauses: ClauseNode[] = [];
  const rest: Document = {};
  let restKeys = 0;
  for (const key of Object.keys(filter)) {
    const c = parseClause(key, filter[key]);
    if (c !== undefined) clauses.push(c);
    else {
      rest[key] = filter[key];
      restKeys++;
    }
  }
  if (clauses.length === 0) return undefined;
  return { clauses, rest: restKeys > 0 ? rest : undefined };
}

/**
 * Combines the answers of a conjunction's tests: false as soon as one is false, undefined when
 * one is undefined and none false, else true (shared by both compilers).
 */
export function conjunction<S>(tests: ReadonlyArray<(s: S) => boolean | undefined>): (s: S) => boolean | undefined {
  if (tests.length === 1) return tests[0]!;
  return (s) => {
    let out: boolean | undefined = true;
    for (const t of tests) {
      const r = t(s);
      if (r === false) return false;
      if (r === undefined) out = undefined;
    }
    return out;
  };
}

/** `$or` (decisive true) / `$and` (decisive false) of filters: undefined as soon as one is. */
export function junction<S>(kind: 'or' | 'and', parts: ReadonlyArray<(s: S) => boolean | undefined>): (s: S) => boolean | undefined {
  const decisive = kind === 'or';
  return (s) => {
    for (const t of parts) {
      const r = t(s);
      if (r === undefined) return undefined;
      if (r === decisive) return decisive;
    }
    return !decisive;
  };
}

/** A test of one field value (already read from the document). */
type ValueTest = (value: unknown) => boolean | undefined;

function valueTest(node: ValueNode): ValueTest {
  switch (node.kind) {
    case 'date': {
      const { op, time: t } = node;
      return (v) => {
        if (!(v instanceof Date)) return undefined;
        const x = v.getTime();
        if (Number.isNaN(x)) return undefined;
        return op(x < t ? -1 : x > t ? 1 : 0);
      };
    }
    case 'id': {
      const { op, bytes } = node;
      return (v) => (v instanceof ObjectId ? op(Buffer.compare(v.id, bytes)) : undefined);
    }
    case 'idIn': {
      const { keys } = node;
      return (v) => (v instanceof ObjectId ? keys.has(idInKey(v.id, 0)) : undefined);
    }
    case 'not': {
      const inner = allOf(node.inner);
      return (v) => {
        const r = inner(v);
        return r === undefined ? undefined : !r;
      };
    }
  }
}

/** Every test in order: the first answer that is not true (false or undefined), else true. */
function allOf(nodes: ValueNode[]): ValueTest {
  const tests = nodes.map(valueTest);
  return (v) => {
    for (const t of tests) {
      const r = t(v);
      if (r !== true) return r;
    }
    return true;
  };
}

function clauseTest(node: ClauseNode): RangeTest {
  if (node.kind === 'field') {
    const { field } = node;
    const test = allOf(node.all);
    return (doc) => {
      const v: unknown = doc[field];
      return v === undefined || v === null || Array.isArray(v) ? undefined : test(v);
    };
  }
  return junction(node.kind, node.parts.map((p) => conjunction(p.map(clauseTest))));
}

/**
 * Splits `filter` (see the header); undefined when no clause of it is decided here. The filter's
 * top-level clauses are a conjunction, so `test(doc) && mingo(rest)(doc)` is the filter's answer
 * whenever `test(doc)` is not undefined.
 */
export function splitRangeFilter(filter: Document): SplitFilter | undefined {
  const parsed = parseRangeFilter(filter);
  if (parsed === undefined) return undefined;
  return { test: conjunction(parsed.clauses.map(clauseTest)), rest: parsed.rest };
}
