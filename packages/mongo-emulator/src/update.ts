/**
 * Update documents: operator updates, replacements and pipeline updates applied to a private
 * copy of the stored document, the upsert seed document built from a filter, and the
 * `updateDescription` of the resulting change event (as mongod derives it from its v2 oplog
 * diff: updated paths, removed paths, truncated arrays).
 */
import { ObjectId } from 'bson';
import type { Document, Timestamp } from 'bson';
import { Code, CommandError, bsonTypeName } from './errors.js';
import { formatValue, isPlainObject, valuesEqual } from './keys.js';
import type { UpdateDescription } from './oplog.js';
import { applyUpdateOperators, applyUpdatePipeline } from './query.js';
import type { QueryOptions } from './query.js';
import { valueAtPath } from './storage.js';

const UPDATE_OPERATORS = new Set([
  '$set', '$unset', '$inc', '$mul', '$min', '$max', '$rename', '$push', '$addToSet', '$pop', '$pull',
  '$pullAll', '$bit', '$currentDate', '$setOnInsert',
]);

/** Deep copy of plain objects and arrays; BSON values and dates are shared (never mutated). */
export function deepCopy<T>(value: T): T {
  if (Array.isArray(value)) return value.map((v) => deepCopy(v)) as T;
  if (isPlainObject(value)) {
    const out: Document = {};
    for (const k of Object.keys(value)) out[k] = deepCopy(value[k]);
    return out as T;
  }
  return value;
}

export type UpdateKind = 'operators' | 'replacement' | 'pipeline';

export function updateKind(update: unknown): UpdateKind {
  if (Array.isArray(update)) return 'pipeline';
  if (!isPlainObject(update)) {
    throw new CommandError(Code.FailedToParse, `Update argument must be either an object or an array`);
  }
  const keys = Object.keys(update);
  if (keys.length === 0 || !keys[0]!.startsWith('$')) {
    for (const k of keys) {
      if (k.startsWith('$')) {
        throw new CommandError(
          Code.DollarPrefixedFieldName,
          `The dollar ($) prefixed field '${k}' in '${k}' is not allowed in the context of an update's replacement document. Consider using an aggregation pipeline with $replaceWith.`,
        );
      }
    }
    return 'replacement';
  }
  return 'operators';
}

function validateOperators(update: Document): void {
  const paths: string[] = [];
  for (const [op, arg] of Object.entries(update)) {
    if (!op.startsWith('$')) {
      throw new CommandError(
        Code.FailedToParse,
        `Unknown modifier: ${op}. Expected a valid update modifier or pipeline-style update specified as an array`,
      );
    }
    if (!UPDATE_OPERATORS.has(op)) {
      throw new CommandError(
        Code.FailedToParse,
        `Unknown modifier: ${op}. Expected a valid update modifier or pipeline-style update specified as an array`,
      );
    }
    if (!isPlainObject(arg)) {
      throw new CommandError(
        Code.FailedToParse,
        `Modifiers operate on fields but we found type ${bsonTypeName(arg)} instead. For example: {$mod: {<field>: ...}} not {${op}: ${formatValue(arg)}}`,
      );
    }
    for (const [path, value] of Object.entries(arg)) {
      if (path.length === 0) throw new CommandError(Code.EmptyFieldName, 'An empty update path is not valid.');
      paths.push(path);
      if (op === '$rename' && typeof value === 'string') paths.push(value);
    }
  }
  const plain = paths.map((p) => p.split('.').filter((s) => !s.startsWith('$')).join('.'));
  for (let i = 0; i < plain.length; i++) {
    for (let j = i + 1; j < plain.length; j++) {
      const a = plain[i]!;
      const b = plain[j]!;
      if (a === b || a.startsWith(`${b}.`) || b.startsWith(`${a}.`)) {
        const [longer, shorter] = a.length >= b.length ? [paths[i]!, paths[j]!] : [paths[j]!, paths[i]!];
        throw new CommandError(
          Code.ConflictingUpdateOperators,
          `Updating the path '${longer}' would create a conflict at '${shorter}'`,
        );
      }
    }
  }
}

export interface AppliedUpdate {
  doc: Document;
  /** Paths changed by an operator update; undefined for replacements and pipelines. */
  paths: string[] | undefined;
  /** Paths appended to by $push/$addToSet (their change is described element by element). */
  appendPaths: Set<string>;
  changed: boolean;
}

export interface UpdateContext {
  arrayFilters?: Document[];
  query?: QueryOptions;
  /** The cluster time, for `$currentDate: { $type: 'timestamp' }`. */
  now: () => Timestamp;
  /** The update inserts a new document (upsert): `$setOnInsert` applies. */
  inserting: boolean;
}

/** Applies an update to (a copy of) `current` and reports what changed. */
export function applyUpdate(current: Document, update: Document | Document[], ctx: UpdateContext): AppliedUpdate {
  const kind = updateKind(update);
  if (kind === 'replacement') {
    const doc: Document = { _id: current._id };
    for (const [k, v] of Object.entries(update as Document)) if (k !== '_id') doc[k] = deepCopy(v);
    const newId = (update as Document)._id;
    if (newId !== undefined && current._id !== undefined && !valuesEqual(newId, current._id)) {
      throw new CommandError(
        Code.ImmutableField,
        `After applying the update, the (immutable) field '_id' was found to have been altered to _id: ${formatValue(newId)}`,
      );
    }
    if (current._id === undefined && newId !== undefined) doc._id = newId;
    return { doc, paths: undefined, appendPaths: new Set(), changed: !valuesEqual(doc, current) };
  }
  if (kind === 'pipeline') {
    const doc = applyUpdatePipeline(deepCopy(current), update as Document[], ctx.query);
    checkIdUnchanged(current, doc);
    return { doc: idFirst(doc), paths: undefined, appendPaths: new Set(), changed: !valuesEqual(doc, current) };
  }
  const ops = update as Document;
  validateOperators(ops);
  const modifier: Document = {};
  for (const [op, arg] of Object.entries(ops)) {
    if (op === '$setOnInsert') {
      if (ctx.inserting) modifier.$set = { ...(modifier.$set as Document | undefined), ...(arg as Document) };
      continue;
    }
    if (op === '$currentDate') {
      const set: Document = { ...(modifier.$set as Document | undefined) };
      for (const [path, spec] of Object.entries(arg as Document)) {
        const type = isPlainObject(spec) ? spec.$type : 'date';
        set[path] = type === 'timestamp' ? ctx.now() : new Date();
      }
      modifier.$set = set;
      continue;
    }
    if (op === '$set') {
      modifier.$set = { ...(modifier.$set as Document | undefined), ...(arg as Document) };
      continue;
    }
    modifier[op] = arg;
  }
  const doc = deepCopy(current);
  const paths = Object.keys(modifier).length === 0 ? [] : applyUpdateOperators(doc, modifier, ctx.arrayFilters, ctx.query);
  checkIdUnchanged(current, doc);
  const appendPaths = new Set<string>([
    ...Object.keys((ops.$push as Document | undefined) ?? {}),
    ...Object.keys((ops.$addToSet as Document | undefined) ?? {}),
  ]);
  return { doc, paths, appendPaths, changed: paths.length > 0 };
}

function checkIdUnchanged(before: Document, after: Document): void {
  if (before._id === undefined) return;
  if (!valuesEqual(before._id, after._id)) {
    throw new CommandError(
      Code.ImmutableField,
      `Performing an update on the path '_id' would modify the immutable field '_id'`,
    );
  }
}

/** The document with `_id` as its first field, as mongod stores it. */
export function idFirst(doc: Document): Document {
  const keys = Object.keys(doc);
  if (keys[0] === '_id' || !('_id' in doc)) return doc;
  const out: Document = { _id: doc._id };
  for (const k of keys) if (k !== '_id') out[k] = doc[k];
  return out;
}

function setPath(doc: Document, path: string, value: unknown): void {
  const parts = path.split('.');
  let cur: Document = doc;
  for (let i = 0; i < parts.length - 1; i++) {
    const p = parts[i]!;
    if (!isPlainObject(cur[p])) cur[p] = {};
    cur = cur[p] as Document;
  }
  cur[parts[parts.length - 1]!] = deepCopy(value);
}

/** The document an upsert starts from: the equality conditions of the filter. */
export function upsertSeed(filter: Document): Document {
  const out: Document = {};
  const visit = (f: Document): void => {
    for (const [k, v] of Object.entries(f)) {
      if (k === '$and' && Array.isArray(v)) {
        for (const sub of v) if (isPlainObject(sub)) visit(sub);
        continue;
      }
      if (k.startsWith('$')) continue;
      if (isPlainObject(v) && Object.keys(v).some((x) => x.startsWith('$'))) {
        if ('$eq' in v) setPath(out, k, v.$eq);
        else if (Array.isArray(v.$in) && v.$in.length === 1) setPath(out, k, v.$in[0]);
        continue;
      }
      setPath(out, k, v);
    }
  };
  visit(filter);
  return out;
}

/** Builds the new document of an upsert that matched nothing. */
export function upsertDocument(filter: Document, update: Document | Document[], ctx: UpdateContext): Document {
  const seed = upsertSeed(filter);
  const kind = updateKind(update);
  let doc: Document;
  if (kind === 'replacement') {
    doc = deepCopy(update as Document);
    if (doc._id === undefined && seed._id !== undefined) doc._id = seed._id;
  } else {
    doc = applyUpdate(seed, update, { ...ctx, inserting: true }).doc;
  }
  if (doc._id === undefined) doc._id = new ObjectId();
  return idFirst(doc);
}

/**
 * Keeps the shortest of overlapping paths ('a' covers 'a.b'); a path through a positional or
 * filtered element ('a.$[].b') is reported as its array ('a').
 */
function outermostPaths(paths: string[]): string[] {
  const concrete = paths.map((p) => {
    const parts = p.split('.');
    const at = parts.findIndex((seg) => seg.startsWith('$'));
    return at < 0 ? p : parts.slice(0, at).join('.');
  });
  const sorted = [...new Set(concrete.filter((p) => p.length > 0))].sort((a, b) => a.length - b.length);
  const out: string[] = [];
  for (const p of sorted) if (!out.some((q) => p === q || p.startsWith(`${q}.`))) out.push(p);
  return out;
}

function describeArray(path: string, before: unknown[], after: unknown[], into: UpdateDescription): boolean {
  const common = Math.min(before.length, after.length);
  for (let i = 0; i < common; i++) if (!valuesEqual(before[i], after[i])) return false;
  if (after.length > before.length) {
    for (let i = before.length; i < after.length; i++) into.updatedFields[`${path}.${i}`] = after[i];
  } else if (after.length < before.length) {
    into.truncatedArrays.push({ field: path, newSize: after.length });
  }
  return true;
}

/** `updateDescription` of an operator update from the paths it changed. */
export function describeUpdate(before: Document, after: Document, applied: AppliedUpdate): UpdateDescription {
  const out: UpdateDescription = { updatedFields: {}, removedFields: [], truncatedArrays: [] };
  if (!applied.paths) return diffDocuments(before, after);
  for (const path of outermostPaths(applied.paths)) {
    const o = valueAtPath(before, path);
    const n = valueAtPath(after, path);
    if (!n.found) {
      if (o.found) out.removedFields.push(path);
      continue;
    }
    if (
      o.found &&
      Array.isArray(o.value) &&
      Array.isArray(n.value) &&
      applied.appendPaths.has(path) &&
      describeArray(path, o.value, n.value, out)
    ) {
      continue;
    }
    if (!o.found || !valuesEqual(o.value, n.value)) out.updatedFields[path] = n.value;
  }
  return out;
}

/**
 * `updateDescription.disambiguatedPaths` (showExpandedEvents): for every reported path that a
 * reader could take two ways, because a segment is a number naming a field of an object (not
 * an array index), the path as an array of its segments, array indexes as integers, read
 * against the document after the update.
 */
export function disambiguatedPaths(desc: UpdateDescription, after: Document): Document {
  const out: Document = {};
  const paths = [...Object.keys(desc.updatedFields), ...desc.removedFields, ...desc.truncatedArrays.map((t) => t.field)];
  for (const path of paths) {
    let value: unknown = after;
    let ambiguous = false;
    const segments: (string | number)[] = [];
    for (const seg of path.split('.')) {
      const numeric = /^\d+$/.test(seg);
      if (Array.isArray(value) && numeric) {
        segments.push(Number(seg));
        value = value[Number(seg)];
        continue;
      }
      if (numeric) ambiguous = true;
      segments.push(seg);
      value = isPlainObject(value) ? value[seg] : undefined;
    }
    if (ambiguous) out[path] = segments;
  }
  return out;
}

/** Field-by-field difference of two documents (pipeline updates). */
export function diffDocuments(before: Document, after: Document, prefix = '', out?: UpdateDescription): UpdateDescription {
  const desc = out ?? { updatedFields: {}, removedFields: [], truncatedArrays: [] };
  for (const k of Object.keys(before)) if (!(k in after)) desc.removedFields.push(prefix + k);
  for (const k of Object.keys(after)) {
    const path = prefix + k;
    const b = before[k];
    const a = after[k];
    if (!(k in before)) desc.updatedFields[path] = a;
    else if (isPlainObject(b) && isPlainObject(a)) diffDocuments(b, a, `${path}.`, desc);
    else if (Array.isArray(b) && Array.isArray(a)) {
      if (!describeArray(path, b, a, desc)) desc.updatedFields[path] = a;
    } else if (!valuesEqual(a, b)) desc.updatedFields[path] = a;
  }
  return desc;
}
