/**
 * The BSON number types of objects derived from a stored document. Stored documents are decoded
 * with bson's default promotion (Int32, Double and Int64 values that fit all become JS numbers,
 * which is what mingo filters, sorts and groups on), so encoding an object derived from one (a
 * projection, an updated document) wrote every integral number as an Int32 (a Double past 2^31):
 * an Int64 `_id` of 5 came back from a `{ _id: 1 }` projection as an Int32, and an update
 * rewrote the stored document's Int64 and integral Double fields as Int32 for good.
 * `typedLike(derived, sourceRaw)` gives each number of `derived` the type of the number at the
 * same path of the source document when their values are equal (a new value keeps the default:
 * the emulator does not track the type of values computed by an operator). Used by find's
 * projections (find, findAndModify), by updates, and by aggregations over a collection whose
 * stages only reshape its documents keeping their `_id` (`keepsDocumentIds`); not (yet) by other
 * aggregations, `distinct` or a change stream's own pipeline, whose numbers keep the default types.
 */
import { BSON, Double, Int32, Long } from 'bson';
import type { Document } from 'bson';

type Typed = Double | Int32 | Long;

function isPlain(v: unknown): v is Document | unknown[] {
  if (v === null || typeof v !== 'object') return false;
  if (Array.isArray(v)) return true;
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null;
}

/** Whether `v` holds a JS number anywhere in its plain objects and arrays. */
function holdsNumber(v: unknown): boolean {
  if (typeof v === 'number') return true;
  if (!isPlain(v)) return false;
  for (const x of Array.isArray(v) ? v : Object.values(v)) if (holdsNumber(x)) return true;
  return false;
}

function typedNumber(n: number, like: unknown): number | Typed {
  if (like instanceof Long) return like.toNumber() === n ? like : n;
  if (like instanceof Double || like instanceof Int32) return like.value === n ? like : n;
  return n;
}

/** `value` with its numbers typed like `like`'s, copied only where a number changes type. */
function typed(value: unknown, like: unknown): unknown {
  if (typeof value === 'number') return typedNumber(value, like);
  if (!isPlain(value) || !isPlain(like) || Array.isArray(value) !== Array.isArray(like)) return value;
  let out: Document | unknown[] | undefined;
  const entries = Array.isArray(value) ? value.entries() : Object.entries(value);
  for (const [k, v] of entries) {
    const t = typed(v, (like as Record<string | number, unknown>)[k]);
    if (t === v) continue;
    out ??= Array.isArray(value) ? [...value] : { ...value };
    (out as Record<string | number, unknown>)[k] = t;
  }
  return out ?? value;
}

/**
 * `derived` (never modified) with each number that equals the number at the same path of the
 * encoded `source` (read only when `derived` holds a number) typed as that one (Long, Double, Int32 objects, which BSON encodes as such).
 * For replies and encoding only: mingo compares the wrappers as objects, not as numbers.
 */
export function typedLike(derived: Document, source: Uint8Array | undefined | (() => Uint8Array | undefined)): Document {
  if (!holdsNumber(derived)) return derived;
  const raw = typeof source === 'function' ? source() : source;
  return raw === undefined ? derived : (typed(derived, BSON.deserialize(raw, { promoteValues: false })) as Document);
}

/** Stages whose every output is one input document, filtered, ordered or reshaped. */
const RESHAPING = new Set(['$match', '$project', '$addFields', '$set', '$unset', '$sort', '$skip', '$limit']);

/**
 * Whether each result of `stages` is one input document reshaped with its `_id` kept (or
 * removed), so that the stored document with the result's `_id` is the one it came from.
 */
export function keepsDocumentIds(stages: readonly Document[]): boolean {
  return stages.every((stage) => {
    const name = Object.keys(stage)[0];
    if (name === undefined || !RESHAPING.has(name)) return false;
    const spec = stage[name] as unknown;
    if ((name === '$project' || name === '$addFields' || name === '$set') && spec !== null && typeof spec === 'object' && '_id' in spec) {
      const id = (spec as Document)._id as unknown;
      return id === 1 || id === true || id === 0 || id === false;
    }
    return true;
  });
}
