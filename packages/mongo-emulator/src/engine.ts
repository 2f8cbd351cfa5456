/**
 * The write path. Every change to data or catalog is one oplog entry: the engine validates the
 * change, takes a fresh cluster timestamp, applies the entry to the catalog, appends it to the
 * oplog and hands it to the journal (when persistence is on). Replaying journaled entries goes
 * through the same `applyToCatalog`, so a restart rebuilds exactly the same state.
 */
import { UUID } from 'bson';
import type { Document } from 'bson';
import { ClusterClock } from './clock.js';
import type { Ts } from './clock.js';
import { Code, CommandError } from './errors.js';
import { documentsWithDateUpTo } from './index-scan.js';
import { keyOf } from './keys.js';
import { Oplog } from './oplog.js';
import type { OplogCommand, OplogEntry, UpdateDescription } from './oplog.js';
import { uuidTokenPart } from './resume-token.js';
import { Catalog, Collection, valuesAtPath } from './storage.js';
import { refuseOnView } from './views.js';
import type { IndexSpec } from './storage.js';
import type { StoredDoc } from './stored-doc.js';

export interface JournalSink {
  record(entry: OplogEntry): void;
}

type NewEntry = Omit<OplogEntry, 'seq' | 'ts' | 'wall' | 'uuidPart'>;

const tokenParts = new WeakMap<Collection, string>();

function tokenPartOf(coll: Collection): string {
  let part = tokenParts.get(coll);
  if (part === undefined) {
    part = uuidTokenPart(coll.uuid.buffer);
    tokenParts.set(coll, part);
  }
  return part;
}

export class Engine {
  readonly catalog = new Catalog();
  readonly clock = new ClusterClock();
  readonly oplog: Oplog;
  journal: JournalSink | undefined;
  /** Timestamp and wall time of the newest write. */
  lastWrite: { ts: Ts; wall: number } = { ts: 0n, wall: 0 };

  constructor(oplogSize: number) {
    this.oplog = new Oplog(oplogSize);
  }

  #commit(e: NewEntry, coll?: Collection): OplogEntry {
    const ts = this.clock.tick();
    const wall = Date.now();
    // (no object spread here: it is several times slower than setting the fields)
    const entry = e as OplogEntry;
    entry.ts = ts;
    entry.wall = wall;
    entry.uuidPart = coll ? tokenPartOf(coll) : uuidTokenPart(e.uuid);
    applyToCatalog(this.catalog, entry);
    const appended = this.oplog.append(entry);
    this.lastWrite = { ts, wall };
    this.journal?.record(appended);
    return appended;
  }

  /** Re-applies an entry read back from disk, keeping its timestamp. */
  replay(entry: Omit<OplogEntry, 'seq' | 'uuidPart'>): void {
    const full = entry as OplogEntry;
    full.uuidPart = uuidTokenPart(entry.uuid);
    applyToCatalog(this.catalog, full);
    if (!this.oplog.last || full.ts > this.oplog.last.ts) this.oplog.append(full);
    this.clock.advanceTo(full.ts);
    this.lastWrite = { ts: full.ts, wall: full.wall };
  }

  /** A no-op entry (the replica set's "initiating set" entry, or a periodic no-op). */
  noop(msg: string): OplogEntry {
    return this.#commit({ op: 'n', db: '', coll: '', uuid: undefined, cmd: { kind: 'noop', msg } });
  }

  collection(db: string, name: string): Collection | undefined {
    return this.catalog.get(db, name);
  }

  createCollection(db: string, name: string, options: Document = {}): Collection {
    validateNamespace(db, name);
    if (this.catalog.get(db, name)) throw new CommandError(Code.NamespaceExists, `Collection ${db}.${name} already exists.`);
    const uuid = new UUID();
    this.#commit({ op: 'c', db, coll: name, uuid: uuid.buffer, cmd: { kind: 'create', options } });
    return this.catalog.get(db, name)!;
  }

  /** The collection, created implicitly (as a write to a missing collection does). */
  ensureCollection(db: string, name: string): Collection {
    return this.catalog.get(db, name) ?? this.createCollection(db, name);
  }

  insert(coll: Collection, doc: StoredDoc): OplogEntry {
    refuseOnView(coll);
    coll.checkUnique(doc);
    return this.#commit({ op: 'i', db: coll.db, coll: coll.name, uuid: coll.uuid.buffer, doc, id: doc.id }, coll);
  }

  /** Stores `next` in place of `prev` (same `_id`); `update` undefined means a replacement. */
  update(coll: Collection, prev: StoredDoc, next: StoredDoc, update: UpdateDescription | undefined): OplogEntry {
    refuseOnView(coll);
    coll.checkUnique(next, prev);
    const e: NewEntry = { op: 'u', db: coll.db, coll: coll.name, uuid: coll.uuid.buffer, doc: next, id: next.id };
    if (update) e.update = update;
    else e.replace = true;
    if (recordsPreImages(coll)) e.pre = prev;
    return this.#commit(e, coll);
  }

  remove(coll: Collection, doc: StoredDoc): OplogEntry {
    refuseOnView(coll);
    const e: NewEntry = { op: 'd', db: coll.db, coll: coll.name, uuid: coll.uuid.buffer, id: doc.id };
    if (recordsPreImages(coll)) e.pre = doc;
    return this.#commit(e, coll);
  }

  dropCollection(coll: Collection): OplogEntry {
    return this.#command(coll, { kind: 'drop' });
  }

  dropDatabase(db: string): OplogEntry {
    for (const coll of this.catalog.collections(db)) this.dropCollection(coll);
    return this.#commit({ op: 'c', db, coll: '$cmd', uuid: undefined, cmd: { kind: 'dropDatabase' } });
  }

  renameCollection(coll: Collection, toDb: string, toColl: string, dropTarget: boolean): OplogEntry {
    validateNamespace(toDb, toColl);
    const target = this.catalog.get(toDb, toColl);
    if (target) {
      if (!dropTarget) throw new CommandError(Code.NamespaceExists, 'target namespace exists');
      this.dropCollection(target);
      return this.#command(coll, { kind: 'rename', toDb, toColl, dropTarget, dropTargetUuid: Buffer.from(target.uuid.buffer).toString('hex') });
    }
    return this.#command(coll, { kind: 'rename', toDb, toColl, dropTarget });
  }

  createIndex(coll: Collection, spec: IndexSpec): OplogEntry {
    refuseOnView(coll);
    // Build on a scratch collection first, so a failing unique build changes nothing.
    const probe = new Collection(coll.db, coll.name, coll.uuid, coll.options);
    for (const d of coll.docs.values()) probe.docs.set(d.idKey, d);
    probe.addIndex(spec);
    return this.#command(coll, { kind: 'createIndexes', spec });
  }

  dropIndex(coll: Collection, name: string): OplogEntry {
    const idx = coll.indexes.get(name);
    if (!idx) throw new CommandError(Code.IndexNotFound, `index not found with name [${name}]`);
    return this.#command(coll, { kind: 'dropIndexes', name, spec: idx.spec });
  }

  collMod(coll: Collection, options: Document): OplogEntry {
    const before: Document = { collectionOptions: { uuid: coll.uuid, ...coll.options } };
    const change = options.index as Document | undefined;
    const idx = change ? coll.indexes.get(change.name as string) : undefined;
    if (idx && change) {
      const indexOptions: Document = {};
      for (const k of Object.keys(change)) if (k !== 'name') indexOptions[k] = k === 'hidden' ? idx.spec.hidden === true : idx.spec[k];
      before.indexOptions = indexOptions;
    }
    return this.#command(coll, { kind: 'collMod', options, before });
  }

  #command(coll: Collection, cmd: OplogCommand): OplogEntry {
    return this.#commit({ op: 'c', db: coll.db, coll: coll.name, uuid: coll.uuid.buffer, cmd }, coll);
  }

  /**
   * Deletes documents whose TTL index date is older than `expireAfterSeconds` (the TTL monitor
   * of mongod). Returns the number of documents deleted.
   */
  expireTtl(now = Date.now()): number {
    let deleted = 0;
    for (const coll of this.catalog.all()) {
      for (const idx of coll.indexes.values()) {
        const secs = idx.spec.expireAfterSeconds;
        if (typeof secs !== 'number' || idx.fields.length !== 1) continue;
        const field = idx.fields[0]!;
        const cutoff = now - secs * 1000;
        const expired: StoredDoc[] = [];
        for (const d of documentsWithDateUpTo(coll, field, cutoff)) {
          const dates = valuesAtPath(d.view(), field).filter((x): x is Date => x instanceof Date);
          if (dates.length > 0 && Math.min(...dates.map((x) => x.getTime())) <= cutoff) expired.push(d);
        }
        for (const d of expired) {
          if (coll.docs.get(d.idKey) === d) {
            this.remove(coll, d);
            deleted++;
          }
        }
      }
    }
    return deleted;
  }
}

function recordsPreImages(coll: Collection): boolean {
  return (coll.options.changeStreamPreAndPostImages as Document | undefined)?.enabled === true;
}

export function validateNamespace(db: string, coll: string): void {
  if (db.length === 0 || /[/\\. "$\0]/.test(db) || db.length > 63) {
    throw new CommandError(Code.InvalidNamespace, `Invalid database name: '${db}'`);
  }
  if (coll.length === 0 || coll.includes('\0') || coll.includes('$') || coll.startsWith('.')) {
    throw new CommandError(Code.InvalidNamespace, `Invalid collection name: ${db}.${coll}`);
  }
}

/** Applies one oplog entry to the catalog (shared by live writes and replay). */
export function applyToCatalog(catalog: Catalog, entry: OplogEntry): void {
  if (entry.op === 'n') return;
  const coll = catalog.get(entry.db, entry.coll);
  switch (entry.op) {
    case 'i':
    case 'u':
      if (!coll) throw new Error(`oplog entry for missing collection ${entry.db}.${entry.coll}`);
      coll.put(entry.doc!);
      return;
    case 'd': {
      if (!coll) throw new Error(`oplog entry for missing collection ${entry.db}.${entry.coll}`);
      const doc = coll.docs.get(keyOf(entry.id));
      if (doc) coll.remove(doc);
      return;
    }
    case 'c':
      break;
  }
  const cmd = entry.cmd!;
  switch (cmd.kind) {
    case 'create':
      catalog.add(new Collection(entry.db, entry.coll, new UUID(entry.uuid!), cmd.options));
      return;
    case 'drop':
      catalog.delete(entry.db, entry.coll);
      return;
    case 'dropDatabase':
      for (const c of catalog.collections(entry.db)) catalog.delete(c.db, c.name);
      return;
    case 'rename': {
      if (!coll) return;
      catalog.delete(entry.db, entry.coll);
      const moved = new Collection(cmd.toDb, cmd.toColl, coll.uuid, coll.options);
      for (const idx of coll.indexes.values()) if (idx.name !== '_id_') moved.adoptIndex(idx);
      for (const d of coll.docs.values()) moved.docs.set(d.idKey, d);
      moved.dataSize = coll.dataSize;
      catalog.add(moved);
      return;
    }
    case 'createIndexes':
      coll?.addIndex(cmd.spec as IndexSpec);
      return;
    case 'dropIndexes':
      coll?.dropIndex(cmd.name);
      return;
    case 'collMod': {
      if (!coll) return;
      const { index, ...collectionOptions } = cmd.options;
      coll.options = { ...coll.options, ...collectionOptions };
      const change = index as Document | undefined;
      const idx = change ? coll.indexes.get(change.name as string) : undefined;
      if (idx && change) {
        for (const [k, v] of Object.entries(change)) {
          if (k === 'name') continue;
          if (k === 'hidden' && v === false) delete idx.spec.hidden;
          else idx.spec[k] = v;
        }
      }
      return;
    }
    case 'noop':
      return;
  }
}
