/**
 * In-memory storage: collections of stored documents (stored-doc.ts) with their indexes, and the
 * catalog of databases.
 */
import type { UUID } from 'bson';
import type { Document } from 'bson';
import { Code, CommandError } from './errors.js';
import { formatValue, keyOf } from './keys.js';
import { OrderedKeys } from './ordered-keys.js';
import { compileFilter } from './query.js';
import type { StoredDoc } from './stored-doc.js';

/** Source of `StoredDoc.seq`: increasing over all collections. */
let lastSeq = 0;

/** The greatest position (`StoredDoc.seq`) given so far, in any collection. */
export function greatestSeq(): number {
  return lastSeq;
}

/** Values of a dotted path, expanding arrays like a multikey index; missing gives undefined. */
export function valuesAtPath(doc: unknown, path: string): unknown[] {
  const out: unknown[] = [];
  const parts = path.split('.');
  const walk = (value: unknown, i: number): void => {
    if (i === parts.length) {
      if (Array.isArray(value)) {
        if (value.length === 0) out.push(undefined);
        for (const v of value) out.push(v);
      } else {
        out.push(value);
      }
      return;
    }
    if (Array.isArray(value)) {
      const part = parts[i]!;
      if (/^\d+$/.test(part) && Number(part) < value.length) {
        walk(value[Number(part)], i + 1);
        return;
      }
      if (value.length === 0) out.push(undefined);
      for (const v of value) walk(v, i);
      return;
    }
    if (value !== null && typeof value === 'object' && !(value as { _bsontype?: string })._bsontype && !(value instanceof Date)) {
      walk((value as Document)[parts[i]!], i + 1);
      return;
    }
    out.push(undefined);
  };
  walk(doc, 0);
  return out;
}

/** The value of a dotted path without array expansion (first match). */
export function valueAtPath(doc: unknown, path: string): { found: boolean; value: unknown } {
  let cur: unknown = doc;
  for (const part of path.split('.')) {
    if (cur === null || typeof cur !== 'object') return { found: false, value: undefined };
    if (Array.isArray(cur)) {
      if (!/^\d+$/.test(part)) return { found: false, value: undefined };
      const i = Number(part);
      if (i >= cur.length) return { found: false, value: undefined };
      cur = cur[i];
      continue;
    }
    if ((cur as { _bsontype?: string })._bsontype || cur instanceof Date) return { found: false, value: undefined };
    if (!Object.prototype.hasOwnProperty.call(cur, part)) return { found: false, value: undefined };
    cur = (cur as Document)[part];
  }
  return { found: true, value: cur };
}

export interface IndexSpec extends Document {
  v: number;
  key: Document;
  name: string;
}

export class Index {
  readonly spec: IndexSpec;
  readonly fields: string[];
  readonly unique: boolean;
  readonly #sparse: boolean;
  readonly #partial: ((doc: Document) => boolean) | undefined;
  /** Unique indexes only: key → idKey of the owning document. */
  readonly entries = new Map<string, string>();

  constructor(spec: IndexSpec) {
    this.spec = spec;
    this.fields = Object.keys(spec.key);
    this.unique = spec.unique === true || spec.name === '_id_';
    this.#sparse = spec.sparse === true;
    this.#partial = spec.partialFilterExpression ? compileFilter(spec.partialFilterExpression as Document) : undefined;
  }

  get name(): string {
    return this.spec.name;
  }

  /** Distinct index keys of a document (several for arrays); none when the index skips it. */
  keysOf(doc: Document): { key: string; value: Document }[] {
    if (this.#partial && !this.#partial(doc)) return [];
    const perField = this.fields.map((f) => valuesAtPath(doc, f));
    if (this.#sparse && perField.every((vals) => vals.every((v) => v === undefined))) return [];
    let combos: unknown[][] = [[]];
    for (const vals of perField) {
      const next: unknown[][] = [];
      for (const c of combos) for (const v of vals) next.push([...c, v === undefined ? null : v]);
      combos = next;
      if (combos.length > 10000) {
        throw new CommandError(171, `cannot index parallel arrays [${this.fields.join('] [')}]`);
      }
    }
    const seen = new Map<string, Document>();
    for (const c of combos) {
      const key = keyOf(c);
      if (!seen.has(key)) {
        const value: Document = {};
        this.fields.forEach((f, i) => (value[f] = c[i]));
        seen.set(key, value);
      }
    }
    return [...seen].map(([key, value]) => ({ key, value }));
  }

  duplicateKeyError(ns: string, value: Document): CommandError {
    return new CommandError(
      Code.DuplicateKey,
      `E11000 duplicate key error collection: ${ns} index: ${this.name} dup key: ${formatValue(value)}`,
      { extra: { keyPattern: this.spec.key, keyValue: value } },
    );
  }
}

export class Collection {
  readonly db: string;
  name: string;
  readonly uuid: UUID;
  options: Document;
  readonly docs = new Map<string, StoredDoc>();
  /** Indexes by name, `_id_` first. Change them through addIndex/adoptIndex/dropIndex only. */
  readonly indexes = new Map<string, Index>();
  #unique: Index[] = [];
  /** Sorted keys of indexed paths (ordered-keys.ts), built when a query first needs them. */
  readonly #ordered = new Map<string, OrderedKeys>();
  /** Sum of the encoded sizes of the documents. */
  dataSize = 0;

  constructor(db: string, name: string, uuid: UUID, options: Document) {
    this.db = db;
    this.name = name;
    this.uuid = uuid;
    this.options = options;
    this.indexes.set('_id_', new Index({ v: 2, key: { _id: 1 }, name: '_id_' }));
  }

  get ns(): string {
    return `${this.db}.${this.name}`;
  }

  /** Secondary unique indexes (the `_id` index is the docs map itself). */
  uniqueIndexes(): Index[] {
    return this.#unique;
  }

  #indexesChanged(): void {
    this.#unique = [...this.indexes.values()].filter((idx) => idx.unique && idx.name !== '_id_');
    const paths = new Set([...this.indexes.values()].map((idx) => idx.fields[0]));
    for (const path of this.#ordered.keys()) if (!paths.has(path)) this.#ordered.delete(path);
  }

  /** The current version of the document with this `_id` key (keyOf). */
  docByIdKey(idKey: string): StoredDoc | undefined {
    return this.docs.get(idKey);
  }

  /** The sorted keys of an indexed path, up to date with the documents. */
  orderedKeys(path: string): OrderedKeys {
    let keys = this.#ordered.get(path);
    if (!keys) {
      keys = new OrderedKeys(path, this.docs.values());
      this.#ordered.set(path, keys);
    }
    keys.refresh((d) => this.docs.get(d.idKey) === d);
    return keys;
  }

  /**
   * Brings the sorted keys of `path` up to date like `orderedKeys`, a slice of work between two
   * turns of the event loop (`turn`) when that is a lot of work: building them over millions of
   * documents, or merging in millions written since the last query, held the server for seconds.
   * A query arriving meanwhile finishes the work at once.
   */
  async settleKeys(path: string, turn: () => Promise<void>): Promise<void> {
    let keys = this.#ordered.get(path);
    if (!keys) {
      keys = new OrderedKeys(path, this.docs.values());
      this.#ordered.set(path, keys);
    }
    if (!keys.heavy) return;
    const steps = keys.refreshSteps((d) => this.docs.get(d.idKey) === d);
    if (steps === undefined) return;
    for (let r = steps.next(); r.done !== true; r = steps.next()) await turn();
  }

  /** Takes over an index built for another collection object (rename). */
  adoptIndex(idx: Index): void {
    this.indexes.set(idx.name, idx);
    this.#indexesChanged();
  }

  dropIndex(name: string): void {
    this.indexes.delete(name);
    this.#indexesChanged();
  }

  /** Throws E11000 when `doc` would collide in a unique index with a document other than itself. */
  checkUnique(doc: StoredDoc, replacing?: StoredDoc): void {
    const existing = this.docs.get(doc.idKey);
    if (existing && existing !== replacing) {
      throw this.indexes.get('_id_')!.duplicateKeyError(this.ns, { _id: doc.id });
    }
    for (const idx of this.uniqueIndexes()) {
      for (const { key, value } of idx.keysOf(doc.view())) {
        const owner = idx.entries.get(key);
        if (owner !== undefined && owner !== doc.idKey) throw idx.duplicateKeyError(this.ns, value);
      }
    }
  }

  /** Stores a document (new, or replacing the one with the same `_id`), maintaining indexes. */
  put(doc: StoredDoc): void {
    const old = this.docs.get(doc.idKey);
    if (old) this.#unindex(old);
    this.docs.set(doc.idKey, doc);
    this.dataSize += doc.size;
    doc.seq = old ? old.seq : ++lastSeq;
    if (this.#ordered.size > 0 && old !== doc) {
      for (const [path, keys] of this.#ordered) {
        keys.added(doc);
        if (old) keys.removed();
        // Never queried while written a lot: rebuilt from the documents when next needed.
        if (keys.backlog > 100_000 && keys.backlog > this.docs.size) this.#ordered.delete(path);
      }
    }
    for (const idx of this.uniqueIndexes()) {
      for (const { key } of idx.keysOf(doc.view())) idx.entries.set(key, doc.idKey);
    }
  }

  remove(doc: StoredDoc): void {
    const old = this.docs.get(doc.idKey);
    if (!old) return;
    this.#unindex(old);
    this.docs.delete(doc.idKey);
    for (const keys of this.#ordered.values()) keys.removed();
  }

  #unindex(doc: StoredDoc): void {
    this.dataSize -= doc.size;
    for (const idx of this.uniqueIndexes()) {
      for (const { key } of idx.keysOf(doc.view())) {
        if (idx.entries.get(key) === doc.idKey) idx.entries.delete(key);
      }
    }
  }

  /** Builds a new index over the existing documents; E11000 when a unique one cannot be built. */
  addIndex(spec: IndexSpec): void {
    const idx = new Index(spec);
    if (idx.unique) {
      for (const doc of this.docs.values()) {
        for (const { key, value } of idx.keysOf(doc.view())) {
          const owner = idx.entries.get(key);
          if (owner !== undefined && owner !== doc.idKey) throw idx.duplicateKeyError(this.ns, value);
          idx.entries.set(key, doc.idKey);
        }
      }
    }
    this.indexes.set(spec.name, idx);
    this.#indexesChanged();
  }

  /** Documents in natural (insertion) order, decoded for reading (`StoredDoc.view`). */
  *objects(): IterableIterator<Document> {
    for (const d of this.docs.values()) yield d.view();
  }
}

export class Catalog {
  readonly dbs = new Map<string, Map<string, Collection>>();

  get(db: string, name: string): Collection | undefined {
    return this.dbs.get(db)?.get(name);
  }

  collections(db: string): Collection[] {
    return [...(this.dbs.get(db)?.values() ?? [])];
  }

  all(): Collection[] {
    const out: Collection[] = [];
    for (const colls of this.dbs.values()) out.push(...colls.values());
    return out;
  }

  add(coll: Collection): void {
    let colls = this.dbs.get(coll.db);
    if (!colls) {
      colls = new Map();
      this.dbs.set(coll.db, colls);
    }
    colls.set(coll.name, coll);
  }

  delete(db: string, name: string): void {
    const colls = this.dbs.get(db);
    if (!colls) return;
    colls.delete(name);
    if (colls.size === 0) this.dbs.delete(db);
  }
}
