/**
 * The top-level fields of its input documents that a filter or the stages of a pipeline can
 * read, so that a scan decodes only those elements of each stored document (bson-raw.ts
 * `pickElements`) instead of the whole document: for reconcile's count of an hour, decoding the
 * ~15 fields of each ~400-byte API log (and remembering its bytes) was most of the emulator's
 * time.
 *
 * Over-approximated: every filter key, every `$name` field path in an expression and every key
 * of a `$project`/`$addFields`/`$set` spec counts (its first segment). `undefined` (read
 * the whole document) when something can read fields not named there: `$$ROOT`/`$$CURRENT`,
 * `$getField`/`$setField`/`$unsetField`, `$where`, `$function`, `$accumulator`, `$jsonSchema`,
 * `$expr` text search, or a stage this module does not know.
 */
import type { Document } from 'bson';

/** Stages whose output for a document depends only on the fields this module finds in them. */
const KNOWN_STAGES = new Set(['$match', '$project', '$addFields', '$set', '$unset', '$unwind', '$replaceRoot', '$replaceWith', '$group']);

/** Operators that may read fields they do not name. */
const OPAQUE = new Set(['$getField', '$setField', '$unsetField', '$where', '$function', '$accumulator', '$jsonSchema', '$text', '$mergeObjects']);

class Unknown extends Error {}

function firstSegment(path: string): string {
  const dot = path.indexOf('.');
  return dot < 0 ? path : path.slice(0, dot);
}

function expression(expr: unknown, out: Set<string>): void {
  if (typeof expr === 'string') {
    if (expr.startsWith('$$')) {
      const name = firstSegment(expr.slice(2));
      if (name === 'ROOT' || name === 'CURRENT') throw new Unknown();
    } else if (expr.startsWith('$')) {
      out.add(firstSegment(expr.slice(1)));
    }
    return;
  }
  if (Array.isArray(expr)) {
    for (const e of expr) expression(e, out);
    return;
  }
  if (expr === null || typeof expr !== 'object' || (expr as { _bsontype?: string })._bsontype !== undefined || expr instanceof Date) return;
  for (const [key, value] of Object.entries(expr as Document)) {
    if (OPAQUE.has(key)) throw new Unknown();
    if (key === '$literal') continue;
    expression(value, out);
  }
}

function filter(f: unknown, out: Set<string>): void {
  if (f === null || typeof f !== 'object' || Array.isArray(f)) throw new Unknown();
  for (const [key, value] of Object.entries(f as Document)) {
    if (OPAQUE.has(key)) throw new Unknown();
    if (key === '$and' || key === '$or' || key === '$nor') {
      if (!Array.isArray(value)) throw new Unknown();
      for (const clause of value) filter(clause, out);
    } else if (key === '$expr') {
      expression(value, out);
    } else if (key === '$comment') {
      // names nothing
    } else if (key.startsWith('$')) {
      throw new Unknown();
    } else {
      // Operator values ($in lists, $elemMatch sub-filters on the field's own elements) name
      // nothing outside the field (`$where` and `$expr` are top-level only).
      out.add(firstSegment(key));
    }
  }
}

function stage(s: Document, out: Set<string>): void {
  const name = Object.keys(s)[0] ?? '';
  if (!KNOWN_STAGES.has(name)) throw new Unknown();
  const spec = s[name] as unknown;
  switch (name) {
    case '$match':
      filter(spec, out);
      return;
    case '$unset':
      for (const p of Array.isArray(spec) ? spec : [spec]) if (typeof p === 'string') out.add(firstSegment(p));
      return;
    case '$unwind':
      expression(typeof spec === 'string' ? spec : (spec as Document | null)?.path, out);
      return;
    default:
      if (spec === null || typeof spec !== 'object') {
        expression(spec, out);
        return;
      }
      for (const [key, value] of Object.entries(spec as Document)) {
        // A `$group`'s keys name its outputs; a `$project`'s or `$addFields`'s may read the field.
        if (name !== '$group' && !key.startsWith('$')) out.add(firstSegment(key));
        expression(value, out);
      }
  }
}

/** The top-level fields `stages` can read of an input document, or undefined when unknown. */
export function fieldsRead(stages: readonly Document[]): Set<string> | undefined {
  const out = new Set<string>();
  try {
    for (const s of stages) stage(s, out);
  } catch (err) {
    if (err instanceof Unknown) return undefined;
    throw err;
  }
  return out;
}
