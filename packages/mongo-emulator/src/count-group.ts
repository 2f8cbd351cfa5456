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
import { splitRangeFilter } from './range-filter.js';
import type { RangeTest } from './range-filter.js';

/** A value of the expression, or undefined: not decided here. */
type Expr = (doc: Document) => number | Date | undefined;

function compileExpr(expr: unknown): Expr | undefined {
  if (typeof expr === 'number') return () => expr;
  if (typeof expr === 'string') {
    const field = expr.startsWith('$') && !expr.startsWith('$$') ? expr.slice(1) : undefined;
    if (field === undefined || field === '' || field.includes('.')) return undefined;
    return (doc) => {
      const v: unknown = doc[field];
      return typeof v === 'number' || v instanceof Date ? v : undefined;
    };
  }
  if (expr === null || typeof expr !== 'object' || Array.isArray(expr)) return undefined;
  const keys = Object.keys(expr);
  if (keys.length !== 1) return undefined;
  const op = keys[0] as string;
  const arg = (expr as Document)[op];
  if (op === '$toLong') {
    const inner = Array.isArray(arg) ? undefined : compileExpr(arg);
    if (inner === undefined) return undefined;
    return (doc) => {
      const v = inner(doc);
      if (!(v instanceof Date)) return undefined;
      const t = v.getTime();
      return Number.isNaN(t) ? undefined : t;
    };
  }
  if (op === '$dateTrunc') {
    // { date, unit: 'hour' | 'day' } (no binSize, no timezone: UTC): the bench's raw count per
    // hour, the baseline of the archiver's.
    if (arg === null || typeof arg !== 'object' || Array.isArray(arg)) return undefined;
    const a = arg as Document;
    const unitMs = a.unit === 'hour' ? 3_600_000 : a.unit === 'day' ? 86_400_000 : undefined;
    const extra = Object.keys(a).filter((k) => k !== 'date' && k !== 'unit');
    const inner = compileExpr(a.date);
    if (unitMs === undefined || extra.length > 0 || inner === undefined) return undefined;
    return (doc) => {
      const v = inner(doc);
      if (!(v instanceof Date)) return undefined;
      const t = v.getTime();
      return Number.isNaN(t) ? undefined : new Date(Math.floor(t / unitMs) * unitMs);
    };
  }
  if (op === '$subtract' || op === '$add' || op === '$mod') {
    if (!Array.isArray(arg) || arg.length !== 2) return undefined;
    const a = compileExpr(arg[0]);
    const b = compileExpr(arg[1]);
    if (a === undefined || b === undefined) return undefined;
    const apply = op === '$subtract' ? (x: number, y: number) => x - y : op === '$add' ? (x: number, y: number) => x + y : (x: number, y: number) => x % y;
    return (doc) => {
      const x = a(doc);
      const y = b(doc);
      return typeof x === 'number' && typeof y === 'number' ? apply(x, y) : undefined;
    };
  }
  return undefined;
}

/** Groups one slice, or undefined when a document of it is not decided here (see the header). */
export type CountGroup = (docs: readonly Document[]) => Document[] | undefined;

/** The fast path of a slice's stages (sliced-aggregate.ts's `perSlice`), or undefined. */
export function countGroupOf(stages: readonly Document[]): CountGroup | undefined {
  if (stages.length !== 2) return undefined;
  const [match, group] = stages as [Document, Document];
  if (Object.keys(match).length !== 1 || Object.keys(group).length !== 1) return undefined;
  const filter = match.$match as unknown;
  const spec = group.$group as unknown;
  if (filter === null || typeof filter !== 'object' || Array.isArray(filter)) return undefined;
  if (spec === null || typeof spec !== 'object' || Array.isArray(spec)) return undefined;
  const split = splitRangeFilter(filter as Document);
  if (split === undefined || split.rest !== undefined) return undefined;
  const test: RangeTest = split.test;
  const fields = Object.keys(spec);
  if (fields.length !== 2 || fields[0] !== '_id') return undefined;
  const countField = fields[1] as string;
  const acc = (spec as Document)[countField] as unknown;
  if (countField.startsWith('$') || countField.includes('.') || acc === null || typeof acc !== 'object' || Array.isArray(acc)) return undefined;
  const accKeys = Object.keys(acc);
  const step = (acc as Document).$sum as unknown;
  if (accKeys.length !== 1 || accKeys[0] !== '$sum' || typeof step !== 'number' || !Number.isSafeInteger(step)) return undefined;
  const key = compileExpr((spec as Document)._id);
  if (key === undefined) return undefined;
  return (docs) => {
    // Keys are all numbers or all dates (one expression); a date key groups by its time.
    const groups = new Map<number, Document>();
    for (const doc of docs) {
      const m = test(doc);
      if (m === undefined) return undefined;
      if (!m) continue;
      const v = key(doc);
      const k = v instanceof Date ? v.getTime() : v;
      if (typeof k !== 'number' || !Number.isFinite(k) || Object.is(k, -0)) return undefined;
      const g = groups.get(k);
      if (g === undefined) groups.set(k, { _id: v, [countField]: step });
      else g[countField] = (g[countField] as number) + step;
    }
    return [...groups.values()];
  };
}
