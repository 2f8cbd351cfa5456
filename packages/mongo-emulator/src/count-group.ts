/**
 * A fast path for one slice (sliced-aggregate.ts) of the archiver's count per hour
 * (src/reconcile/mongo-counts.ts): `[{ $match: <ranges> }, { $group: { _id: <arithmetic on a
 * date field>, n: { $sum: <integer> } } }]`, where the `_id` expression is made of a top-level
 * field path, number literals, `$toLong`, `$subtract`, `$add` and `$mod`; or `$dateTrunc` of a
 * date field by the hour or the day, no time zone (the reconcile benchmark's raw baseline: served the
 * same way, or the archiver's count alone would be, and the ratio would favour it).
 *
 * mingo evaluates that expression through its generic operator machinery at ~5 µs a document:
 * the purge benchmark's count per hour spent a third of the emulator's time for the purge there
 * (node --cpu-prof, 2026-12-07). Here the match is range-filter.ts's and the expression is
 * computed with mingo's arithmetic (`$toLong` of a Date is its time; `$subtract`, `$add` and
 * `$mod` of numbers are JavaScript's `-`, `+` and `%`), for a slice whose every document is
 * decided that way: the match answered by range-filter.ts, every value met a valid Date where a
 * `$toLong` reads it and a number elsewhere, every key a finite number other than -0. Any other
 * slice is mingo's (`undefined` here), so the groups are mingo's: the same keys, counts and
 * order (a group comes out where its first document came in).
 */
import type { Document } from 'bson';
import type { RawFields } from './raw-fields.js';
import { rawRangeFilterOf, rawReaderOf } from './raw-range-filter.js';
import { splitRangeFilter } from './range-filter.js';
import type { RangeTest } from './range-filter.js';
import type { StoredDoc } from './stored-doc.js';

/** A value of the expression, or undefined: not decided here. */
type Expr<S> = (src: S) => number | Date | undefined;

/** How an expression reads a top-level field of a document (decoded, or its bytes). */
interface Access<S> {
  /** The field's value when it is a number or a Date, else undefined. */
  value(field: string): Expr<S>;
  /** The time of the field's value when it is a valid Date, else undefined. */
  time(field: string): (src: S) => number | undefined;
}

const OBJECTS: Access<Document> = {
  value: (field) => (doc) => {
    const v: unknown = doc[field];
    return typeof v === 'number' || v instanceof Date ? v : undefined;
  },
  time: (field) => (doc) => {
    const v: unknown = doc[field];
    if (!(v instanceof Date)) return undefined;
    const t = v.getTime();
    return Number.isNaN(t) ? undefined : t;
  },
};

/** `$field` (top level, no dots), or undefined. */
function fieldOf(expr: unknown): string | undefined {
  if (typeof expr !== 'string' || !expr.startsWith('$') || expr.startsWith('$$')) return undefined;
  const field = expr.slice(1);
  return field === '' || field.includes('.') ? undefined : field;
}

/** The time of a date expression (`$toLong`'s and `$dateTrunc`'s argument), or undefined. */
function compileTime<S>(expr: unknown, access: Access<S>): ((src: S) => number | undefined) | undefined {
  const field = fieldOf(expr);
  if (field !== undefined) return access.time(field);
  const inner = Array.isArray(expr) ? undefined : compileExpr(expr, access);
  if (inner === undefined) return undefined;
  return (src) => {
    const v = inner(src);
    if (!(v instanceof Date)) return undefined;
    const t = v.getTime();
    return Number.isNaN(t) ? undefined : t;
  };
}

function compileExpr<S>(expr: unknown, access: Access<S>): Expr<S> | undefined {
  if (typeof expr === 'number') return () => expr;
  if (typeof expr === 'string') {
    const field = fieldOf(expr);
    return field === undefined ? undefined : access.value(field);
  }
  if (expr === null || typeof expr !== 'object' || Array.isArray(expr)) return undefined;
  const keys = Object.keys(expr);
  if (keys.length !== 1) return undefined;
  const op = keys[0] as string;
  const arg = (expr as Document)[op];
  if (op === '$toLong') {
    // `$toLong` of a Date is its time; of anything else, not decided here.
    return Array.isArray(arg) ? undefined : compileTime(arg, access);
  }
  if (op === '$dateTrunc') {
    // { date, unit: 'hour' | 'day' } (no binSize, no timezone: UTC): the bench's raw count per
    // hour, the baseline of the archiver's.
    if (arg === null || typeof arg !== 'object' || Array.isArray(arg)) return undefined;
    const a = arg as Document;
    const unitMs = a.unit === 'hour' ? 3_600_000 : a.unit === 'day' ? 86_400_000 : undefined;
    const extra = Object.keys(a).filter((k) => k !== 'date' && k !== 'unit');
    const time = compileTime(a.date, access);
    if (unitMs === undefined || extra.length > 0 || time === undefined) return undefined;
    return (src) => {
      const t = time(src);
      return t === undefined ? undefined : new Date(Math.floor(t / unitMs) * unitMs);
    };
  }
  if (op === '$subtract' || op === '$add' || op === '$mod') {
    if (!Array.isArray(arg) || arg.length !== 2) return undefined;
    const a = compileExpr(arg[0], access);
    const b = compileExpr(arg[1], access);
    if (a === undefined || b === undefined) return undefined;
    const apply = op === '$subtract' ? (x: number, y: number) => x - y : op === '$add' ? (x: number, y: number) => x + y : (x: number, y: number) => x % y;
    return (src) => {
      const x = a(src);
      const y = b(src);
      return typeof x === 'number' && typeof y === 'number' ? apply(x, y) : undefined;
    };
  }
  return undefined;
}

/** Groups one slice, or undefined when a document of it is not decided here (see the header). */
export type CountGroup = (docs: readonly Document[]) => Document[] | undefined;

/** The same for stored documents read from their bytes (raw-fields.ts), never decoded. */
export type RawCountGroup = (docs: readonly StoredDoc[]) => Document[] | undefined;

/** The parts of a count per hour's stages, when they have its shape. */
interface CountShape {
  filter: Document;
  keyExpr: unknown;
  countField: string;
  step: number;
}

function countShapeOf(stages: readonly Document[]): CountShape | undefined {
  if (stages.length !== 2) return undefined;
  const [match, group] = stages as [Document, Document];
  if (Object.keys(match).length !== 1 || Object.keys(group).length !== 1) return undefined;
  const filter = match.$match as unknown;
  const spec = group.$group as unknown;
  if (filter === null || typeof filter !== 'object' || Array.isArray(filter)) return undefined;
  if (spec === null || typeof spec !== 'object' || Array.isArray(spec)) return undefined;
  const fields = Object.keys(spec);
  if (fields.length !== 2 || fields[0] !== '_id') return undefined;
  const countField = fields[1] as string;
  const acc = (spec as Document)[countField] as unknown;
  if (countField.startsWith('$') || countField.includes('.') || acc === null || typeof acc !== 'object' || Array.isArray(acc)) return undefined;
  const accKeys = Object.keys(acc);
  const step = (acc as Document).$sum as unknown;
  if (accKeys.length !== 1 || accKeys[0] !== '$sum' || typeof step !== 'number' || !Number.isSafeInteger(step)) return undefined;
  return { filter: filter as Document, keyExpr: (spec as Document)._id, countField, step };
}

/**
 * The groups of `docs` by `key` among those `test` accepts, or undefined as soon as one is not
 * decided (its test or key undefined, a key not a finite number other than -0). `load` prepares
 * a document for both (false: not decided).
 */
function groupAll<D, S>(docs: readonly D[], load: (d: D) => S | undefined, test: (s: S) => boolean | undefined, key: Expr<S>, shape: CountShape): Document[] | undefined {
  const { countField, step } = shape;
  // Keys are all numbers or all dates (one expression); a date key groups by its time.
  const groups = new Map<number, Document>();
  for (const d of docs) {
    const s = load(d);
    if (s === undefined) return undefined;
    const m = test(s);
    if (m === undefined) return undefined;
    if (!m) continue;
    const v = key(s);
    const k = v instanceof Date ? v.getTime() : v;
    if (typeof k !== 'number' || !Number.isFinite(k) || Object.is(k, -0)) return undefined;
    const g = groups.get(k);
    if (g === undefined) groups.set(k, { _id: v, [countField]: step });
    else g[countField] = (g[countField] as number) + step;
  }
  return [...groups.values()];
}

/** The fast path of a slice's stages (sliced-aggregate.ts's `perSlice`), or undefined. */
export function countGroupOf(stages: readonly Document[]): CountGroup | undefined {
  const shape = countShapeOf(stages);
  if (shape === undefined) return undefined;
  const split = splitRangeFilter(shape.filter);
  if (split === undefined || split.rest !== undefined) return undefined;
  const test: RangeTest = split.test;
  const key = compileExpr(shape.keyExpr, OBJECTS);
  if (key === undefined) return undefined;
  return (docs) => groupAll(docs, (d) => d, test, key, shape);
}

const DATE = 0x09;
const MAX_DATE_MS = 8.64e15;

/** Field reads of a document's bytes, as `BSON.deserialize` would decode them (see Access). */
function rawAccess(indexOf: (name: string) => number): Access<RawFields> {
  const time = (field: string) => {
    const i = indexOf(field);
    return (r: RawFields): number | undefined => {
      if (r.types[i] !== DATE) return undefined;
      const t = r.int64(r.offsets[i]!);
      return t >= -MAX_DATE_MS && t <= MAX_DATE_MS ? t : undefined;
    };
  };
  return {
    time,
    value: (field) => {
      const i = indexOf(field);
      const timeOf = time(field);
      return (r) => {
        switch (r.types[i]) {
          case 0x01:
            return r.double(r.offsets[i]!);
          case 0x10:
            return r.int32(r.offsets[i]!);
          case 0x12:
            // bson decodes an int64 within ±2^53 as a number (promoteLongs), else as a Long.
            return r.int64AsNumber(r.offsets[i]!);
          case DATE: {
            const t = timeOf(r);
            return t === undefined ? undefined : new Date(t);
          }
          default:
            return undefined;
        }
      };
    },
  };
}

/** The fields an expression reads (its `$field` strings). */
function fieldsIn(expr: unknown, out: Set<string>): void {
  const field = fieldOf(expr);
  if (field !== undefined) out.add(field);
  else if (Array.isArray(expr)) for (const x of expr) fieldsIn(x, out);
  else if (expr !== null && typeof expr === 'object') for (const x of Object.values(expr)) fieldsIn(x, out);
}

/**
 * The same fast path on stored documents' bytes: the slice is grouped without decoding any
 * document, or undefined when one is not decided from its bytes (the caller decodes the slice).
 */
export function rawCountGroupOf(stages: readonly Document[]): RawCountGroup | undefined {
  const shape = countShapeOf(stages);
  if (shape === undefined) return undefined;
  const filter = rawRangeFilterOf(shape.filter);
  if (filter === undefined || !filter.complete) return undefined;
  const keyFields = new Set<string>();
  fieldsIn(shape.keyExpr, keyFields);
  const { reader, test, indexOf } = rawReaderOf(filter, [...keyFields]);
  const key = compileExpr(shape.keyExpr, rawAccess(indexOf));
  if (key === undefined) return undefined;
  const load = (d: StoredDoc): RawFields | undefined => (d.loadFields(reader) ? reader : undefined);
  return (docs) => groupAll(docs, load, test, key, shape);
}
