/**
 * `$match` predicates of a change stream pipeline that only test event fields known from the
 * oplog entry itself (`operationType`, `ns.db`, `ns.coll`), evaluated without building the
 * event: a stream filtered on them keeps the raw-bytes encoding of its events.
 *
 * `splitMatch` takes the top-level conditions it recognises out of a `$match` filter (they are
 * ANDed, so each may be tested on its own) and leaves everything else to the general matcher on
 * the decoded event. Recognised: a string, or an object of `$eq`/`$ne` with a string and
 * `$in`/`$nin` with an array of strings, on one of those fields; `$and`, `$or` and `$nor` whose
 * branches are all recognised. Any other form (regular expressions, `$exists`, `$not`, `$expr`,
 * other fields, non-string operands) keeps the general path, and with it MongoDB's semantics
 * and errors.
 */
import type { Document } from 'bson';

/** What a metadata predicate reads of an event (the pending event of change-stream.ts). */
export interface EventMeta {
  kind: string;
  entry: { db: string; coll: string };
}

export type MetaPredicate = (ev: EventMeta) => boolean;

type Getter = (ev: EventMeta) => string | undefined;

/**
 * The fields, as the event object has them (change-stream.ts, eventObject): an invalidate event
 * has no `ns`, a dropDatabase event no `ns.coll`.
 */
const GETTERS: Record<string, Getter> = {
  operationType: (ev) => ev.kind,
  'ns.db': (ev) => (ev.kind === 'invalidate' ? undefined : ev.entry.db),
  'ns.coll': (ev) => (ev.kind === 'invalidate' || ev.kind === 'dropDatabase' ? undefined : ev.entry.coll),
};

const isPlainObject = (v: unknown): v is Document =>
  v !== null && typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype;

const isStringArray = (v: unknown): v is string[] => Array.isArray(v) && v.every((s) => typeof s === 'string');

/** The predicate of `{ [path]: cond }`, or undefined when the form is not recognised. */
function fieldPredicate(get: Getter, cond: unknown): MetaPredicate | undefined {
  if (typeof cond === 'string') return (ev) => get(ev) === cond;
  if (!isPlainObject(cond)) return undefined;
  const keys = Object.keys(cond);
  if (keys.length === 0) return undefined;
  const tests: MetaPredicate[] = [];
  for (const op of keys) {
    const arg: unknown = cond[op];
    if ((op === '$eq' || op === '$ne') && typeof arg === 'string') {
      tests.push(op === '$eq' ? (ev) => get(ev) === arg : (ev) => get(ev) !== arg);
    } else if ((op === '$in' || op === '$nin') && isStringArray(arg)) {
      // a missing field (undefined) is in no set of strings: $nin and $ne match it, as in MongoDB
      const set = new Set(arg);
      tests.push(op === '$in' ? (ev) => set.has(get(ev)!) : (ev) => !set.has(get(ev)!));
    } else {
      return undefined;
    }
  }
  return allOf(tests);
}

/** The predicate of a whole filter when every condition in it is recognised. */
function filterPredicate(filter: unknown): MetaPredicate | undefined {
  if (!isPlainObject(filter)) return undefined;
  const { meta, rest } = splitMatch(filter);
  return rest === undefined ? allOf(meta) : undefined;
}

/** `$and`, `$or`, `$nor` over branches that are all recognised (MongoDB rejects empty ones). */
function logicalPredicate(op: string, branches: unknown): MetaPredicate | undefined {
  if (!Array.isArray(branches) || branches.length === 0) return undefined;
  const tests: MetaPredicate[] = [];
  for (const b of branches) {
    const test = filterPredicate(b);
    if (!test) return undefined;
    tests.push(test);
  }
  if (op === '$and') return allOf(tests);
  const any: MetaPredicate = (ev) => tests.some((t) => t(ev));
  return op === '$or' ? any : (ev) => !any(ev);
}

function allOf(tests: MetaPredicate[]): MetaPredicate {
  if (tests.length === 1) return tests[0]!;
  return (ev) => tests.every((t) => t(ev));
}

/**
 * Splits a `$match` filter into metadata predicates and the rest (undefined when nothing is
 * left). The filter matches an event exactly when every predicate does and the rest does.
 */
export function splitMatch(filter: Document): { meta: MetaPredicate[]; rest: Document | undefined } {
  const meta: MetaPredicate[] = [];
  let rest: Document | undefined;
  for (const [key, cond] of Object.entries(filter)) {
    const get = Object.hasOwn(GETTERS, key) ? GETTERS[key] : undefined;
    const test = get
      ? fieldPredicate(get, cond)
      : key === '$and' || key === '$or' || key === '$nor'
        ? logicalPredicate(key, cond)
        : undefined;
    if (test) meta.push(test);
    else (rest ??= {})[key] = cond;
  }
  return { meta, rest };
}
