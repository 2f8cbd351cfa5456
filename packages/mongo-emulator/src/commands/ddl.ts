/**
 * Catalog commands: create, collMod, drop, dropDatabase, renameCollection, createIndexes,
 * listIndexes, dropIndexes, listCollections, listDatabases.
 */
import { Binary } from 'bson';
import type { Document } from 'bson';
import { BatchWriter, DEFAULT_FIRST_BATCH, ResultCursor } from '../cursors.js';
import { validateNamespace } from '../engine.js';
import { Code, CommandError, typeMismatch } from '../errors.js';
import { keyOf } from '../keys.js';
import { findDocuments } from '../query.js';
import type { IndexSpec } from '../storage.js';
import { isView, refuseOnView, validateViewOptions } from '../views.js';
import { CursorReply, collectionArg, isReplicaSet, optionalArray, optionalBool, optionalDocument, requireAdmin } from './context.js';
import type { CommandContext, CommandResult } from './context.js';

/** Fields of a command document that are not options of the operation. */
const GENERIC_FIELDS = new Set([
  '$db', 'lsid', 'txnNumber', '$clusterTime', '$readPreference', 'writeConcern', 'readConcern', 'comment',
  'apiVersion', 'apiStrict', 'apiDeprecationErrors', 'maxTimeMS', 'autocommit', 'startTransaction', '$audit',
]);

const CREATE_OPTIONS = new Set([
  'capped', 'size', 'max', 'validator', 'validationLevel', 'validationAction', 'changeStreamPreAndPostImages',
  'collation', 'storageEngine', 'indexOptionDefaults', 'viewOn', 'pipeline', 'timeseries', 'expireAfterSeconds',
  'clusteredIndex', 'autoIndexId', 'idIndex', 'flags', 'temp',
]);

function commandOptions(ctx: CommandContext): Document {
  const out: Document = {};
  for (const [k, v] of Object.entries(ctx.cmd)) {
    if (k === ctx.name || GENERIC_FIELDS.has(k)) continue;
    out[k] = v;
  }
  return out;
}

export function createCommand(ctx: CommandContext): CommandResult {
  const name = collectionArg(ctx);
  validateNamespace(ctx.db, name);
  const options = commandOptions(ctx);
  for (const k of Object.keys(options)) {
    if (!CREATE_OPTIONS.has(k)) throw new CommandError(Code.Location40415, `BSON field 'create.${k}' is an unknown field.`);
  }
  validateViewOptions(options);
  if (options.viewOn !== undefined && options.pipeline === undefined) options.pipeline = [];
  for (const unsupported of ['capped', 'timeseries', 'clusteredIndex']) {
    if (options[unsupported] !== undefined && options[unsupported] !== false) {
      throw new CommandError(
        Code.CommandNotSupported,
        `the cron-log-service MongoDB emulator does not support '${unsupported}' collections`,
      );
    }
  }
  const { engine } = ctx.server;
  const existing = engine.collection(ctx.db, name);
  if (existing) {
    // MongoDB 7.0+: creating an existing collection with identical options succeeds.
    if (keyOf(existing.options) === keyOf(options)) return {};
    throw new CommandError(Code.NamespaceExists, `Collection ${ctx.db}.${name} already exists with different options.`);
  }
  engine.createCollection(ctx.db, name, options);
  ctx.operationTime = engine.lastWrite.ts;
  return {};
}

export function collModCommand(ctx: CommandContext): CommandResult {
  const name = collectionArg(ctx);
  const coll = ctx.server.engine.collection(ctx.db, name);
  if (!coll) throw new CommandError(Code.NamespaceNotFound, `ns does not exist: ${ctx.db}.${name}`);
  const options = commandOptions(ctx);
  const allowed = new Set(
    isView(coll) ? ['viewOn', 'pipeline'] : ['validator', 'validationLevel', 'validationAction', 'changeStreamPreAndPostImages', 'index', 'expireAfterSeconds'],
  );
  for (const k of Object.keys(options)) {
    if (!allowed.has(k)) throw new CommandError(Code.InvalidOptions, `option '${k}' of collMod is not supported by the emulator`);
  }
  const reply: Document = {};
  if (options.index !== undefined) {
    if (!options.index || typeof options.index !== 'object' || Array.isArray(options.index)) throw typeMismatch('collMod.index', options.index, 'object');
    const spec = options.index as Document;
    const idx = [...coll.indexes.values()].find((i) => i.name === spec.name || (spec.keyPattern && keyOf(i.spec.key) === keyOf(spec.keyPattern)));
    if (!idx) throw new CommandError(Code.IndexNotFound, `cannot find index ${JSON.stringify(spec.name ?? spec.keyPattern)} for ns ${coll.ns}`);
    const change: Document = { name: idx.name };
    for (const [k, v] of Object.entries(spec)) {
      if (k === 'name' || k === 'keyPattern') continue;
      if (k === 'hidden') {
        if (typeof v !== 'boolean') throw typeMismatch('collMod.index.hidden', v, 'bool');
        if (idx.name === '_id_') throw new CommandError(Code.BadValue, 'can\'t hide _id index');
        reply.hidden_old = idx.spec.hidden === true;
        reply.hidden_new = v;
      } else if (k === 'expireAfterSeconds') {
        if (typeof v !== 'number' || v < 0) throw typeMismatch('collMod.index.expireAfterSeconds', v, 'long');
        reply.expireAfterSeconds_old = idx.spec.expireAfterSeconds;
        reply.expireAfterSeconds_new = v;
      } else {
        throw new CommandError(Code.InvalidOptions, `option 'index.${k}' of collMod is not supported by the emulator`);
      }
      change[k] = v;
    }
    options.index = change;
  }
  // Every collMod is a write, also one that changes nothing (mongod logs it and change streams
  // with showExpandedEvents report a modify event for it).
  ctx.operationTime = ctx.server.engine.collMod(coll, options).ts;
  return reply;
}

export function dropCommand(ctx: CommandContext): CommandResult {
  const name = collectionArg(ctx);
  const { engine } = ctx.server;
  const coll = engine.collection(ctx.db, name);
  // MongoDB 7.0+: dropping a missing collection succeeds.
  if (!coll) return { ns: `${ctx.db}.${name}` };
  const nIndexesWas = coll.indexes.size;
  ctx.operationTime = engine.dropCollection(coll).ts;
  return { nIndexesWas, ns: coll.ns };
}

export function dropDatabaseCommand(ctx: CommandContext): CommandResult {
  if (ctx.db === 'local' || ctx.db === 'admin' || ctx.db === 'config') {
    throw new CommandError(Code.IllegalOperation, `Cannot drop '${ctx.db}' database while replication is active`);
  }
  const { engine } = ctx.server;
  if (engine.catalog.collections(ctx.db).length === 0) return {};
  ctx.operationTime = engine.dropDatabase(ctx.db).ts;
  return { dropped: ctx.db };
}

function splitNs(ns: unknown, field: string): { db: string; coll: string } {
  if (typeof ns !== 'string') throw typeMismatch(field, ns, 'string');
  const dot = ns.indexOf('.');
  if (dot <= 0 || dot === ns.length - 1) throw new CommandError(Code.InvalidNamespace, `Invalid namespace specified '${ns}'`);
  return { db: ns.slice(0, dot), coll: ns.slice(dot + 1) };
}

export function renameCollectionCommand(ctx: CommandContext): CommandResult {
  requireAdmin(ctx);
  const from = splitNs(ctx.cmd.renameCollection, 'renameCollection');
  const to = splitNs(ctx.cmd.to, 'to');
  const { engine } = ctx.server;
  const coll = engine.collection(from.db, from.coll);
  if (!coll) throw new CommandError(Code.NamespaceNotFound, 'source namespace does not exist');
  if (from.db === to.db && from.coll === to.coll) throw new CommandError(Code.IllegalOperation, "Can't rename a collection to itself");
  ctx.operationTime = engine.renameCollection(coll, to.db, to.coll, optionalBool(ctx, 'dropTarget') ?? false).ts;
  return {};
}

const INDEX_OPTIONS = new Set([
  'key', 'name', 'unique', 'sparse', 'partialFilterExpression', 'expireAfterSeconds', 'background', 'hidden',
  'collation', 'weights', 'default_language', 'language_override', 'textIndexVersion', '2dsphereIndexVersion',
  'bits', 'min', 'max', 'wildcardProjection', 'storageEngine', 'v', 'ns', 'dropDups', 'prepareUnique',
]);

function indexName(key: Document): string {
  return Object.entries(key).map(([k, v]) => `${k}_${String(v)}`).join('_');
}

function validateIndexSpec(raw: unknown): IndexSpec {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw typeMismatch('createIndexes.indexes', raw, 'object');
  const spec = raw as Document;
  const key = spec.key;
  if (!key || typeof key !== 'object' || Array.isArray(key) || Object.keys(key as Document).length === 0) {
    throw new CommandError(Code.CannotCreateIndex, "Index specification must contain a non-empty 'key' object");
  }
  for (const [field, dir] of Object.entries(key as Document)) {
    const ok = dir === 1 || dir === -1 || (typeof dir === 'number' && dir !== 0) || ['text', '2dsphere', '2d', 'hashed'].includes(dir as string);
    if (!ok) throw new CommandError(Code.CannotCreateIndex, `Values in the index key pattern can't be 0 or an unknown type: ${field}: ${String(dir)}`);
  }
  for (const k of Object.keys(spec)) {
    if (!INDEX_OPTIONS.has(k)) throw new CommandError(Code.InvalidIndexSpecificationOption, `The field '${k}' is not valid for an index specification.`);
  }
  if (spec.expireAfterSeconds !== undefined && (typeof spec.expireAfterSeconds !== 'number' || spec.expireAfterSeconds < 0)) {
    throw new CommandError(Code.CannotCreateIndex, 'TTL index \'expireAfterSeconds\' option must be a non-negative number');
  }
  const name = typeof spec.name === 'string' && spec.name.length > 0 ? spec.name : indexName(key as Document);
  const out: IndexSpec = { v: 2, key: key as Document, name };
  for (const [k, v] of Object.entries(spec)) {
    if (k === 'key' || k === 'name' || k === 'v' || k === 'ns' || k === 'background') continue;
    out[k] = v;
  }
  return out;
}

function sameIndexOptions(a: Document, b: Document): boolean {
  const strip = (s: Document): string => {
    const { name: _n, v: _v, background: _b, ...rest } = s;
    return keyOf(rest);
  };
  return strip(a) === strip(b);
}

export function createIndexesCommand(ctx: CommandContext): CommandResult {
  const name = collectionArg(ctx);
  validateNamespace(ctx.db, name);
  const indexes = optionalArray(ctx, 'indexes');
  if (!indexes || indexes.length === 0) throw new CommandError(Code.BadValue, 'Must specify at least one index to create');
  const specs = indexes.map(validateIndexSpec);
  const { engine } = ctx.server;
  const existed = engine.collection(ctx.db, name) !== undefined;
  const coll = engine.ensureCollection(ctx.db, name);
  refuseOnView(coll);
  const numIndexesBefore = coll.indexes.size;
  for (const spec of specs) {
    const sameName = coll.indexes.get(spec.name);
    const sameKey = [...coll.indexes.values()].find((i) => keyOf(i.spec.key) === keyOf(spec.key));
    if (sameName) {
      if (keyOf(sameName.spec.key) !== keyOf(spec.key)) {
        throw new CommandError(
          Code.IndexKeySpecsConflict,
          `An existing index has the same name as the requested index. When index names are not specified, they are auto generated and can cause conflicts. Please refer to our documentation. Requested index: ${JSON.stringify(spec)}, existing index: ${JSON.stringify(sameName.spec)}`,
        );
      }
      if (!sameIndexOptions(sameName.spec, spec)) {
        throw new CommandError(
          Code.IndexOptionsConflict,
          `An equivalent index already exists with the same name but different options. Requested index: ${JSON.stringify(spec)}, existing index: ${JSON.stringify(sameName.spec)}`,
        );
      }
      continue;
    }
    if (sameKey) {
      throw new CommandError(Code.IndexOptionsConflict, `Index already exists with a different name: ${sameKey.name}`);
    }
    ctx.operationTime = engine.createIndex(coll, spec).ts;
  }
  const reply: Document = {
    numIndexesBefore,
    numIndexesAfter: coll.indexes.size,
    createdCollectionAutomatically: !existed,
  };
  if (numIndexesBefore === coll.indexes.size) reply.note = 'all indexes already exist';
  if (!ctx.operationTime) ctx.operationTime = engine.lastWrite.ts;
  return reply;
}

export function listIndexesCommand(ctx: CommandContext): CommandResult {
  const name = collectionArg(ctx);
  const coll = ctx.server.engine.collection(ctx.db, name);
  if (!coll) throw new CommandError(Code.NamespaceNotFound, `ns does not exist: ${ctx.db}.${name}`);
  const specs = [...coll.indexes.values()].map((i) => ({ ...i.spec }));
  return cursorOf(ctx, `${ctx.db}.${name}`, specs);
}

export function dropIndexesCommand(ctx: CommandContext): CommandResult {
  const name = collectionArg(ctx);
  const { engine } = ctx.server;
  const coll = engine.collection(ctx.db, name);
  if (!coll) throw new CommandError(Code.NamespaceNotFound, `ns not found ${ctx.db}.${name}`);
  const nIndexesWas = coll.indexes.size;
  const index = ctx.cmd.index;
  let names: string[];
  if (index === '*') {
    names = [...coll.indexes.keys()].filter((n) => n !== '_id_');
  } else if (typeof index === 'string') {
    names = [index];
  } else if (Array.isArray(index)) {
    names = index.map(String);
  } else if (index && typeof index === 'object') {
    const match = [...coll.indexes.values()].filter((i) => keyOf(i.spec.key) === keyOf(index));
    if (match.length === 0) throw new CommandError(Code.IndexNotFound, `can't find index with key: ${JSON.stringify(index)}`);
    names = match.map((i) => i.name);
  } else {
    throw typeMismatch('dropIndexes.index', index, 'string');
  }
  for (const n of names) {
    if (n === '_id_') throw new CommandError(Code.InvalidOptions, 'cannot drop _id index');
    if (!coll.indexes.has(n)) throw new CommandError(Code.IndexNotFound, `index not found with name [${n}]`);
  }
  for (const n of names) ctx.operationTime = engine.dropIndex(coll, n).ts;
  return { nIndexesWas };
}

function cursorOf(ctx: CommandContext, ns: string, docs: Document[]): CursorReply {
  const cursorOpt = optionalDocument(ctx, 'cursor');
  const batchSize = typeof cursorOpt?.batchSize === 'number' ? cursorOpt.batchSize : DEFAULT_FIRST_BATCH;
  const cursor = new ResultCursor(ctx.server.cursors.newId(), ns, docs);
  const out = new BatchWriter(true);
  const batch = cursor.next(batchSize, out);
  if (!batch.exhausted) ctx.server.cursors.add(cursor, ctx.lsid);
  return new CursorReply(ns, batch.exhausted ? 0n : cursor.id, out);
}

export function listCollectionsCommand(ctx: CommandContext): CommandResult {
  const filter = optionalDocument(ctx, 'filter') ?? {};
  const nameOnly = optionalBool(ctx, 'nameOnly') ?? false;
  const { engine } = ctx.server;
  const docs: Document[] = engine.catalog.collections(ctx.db).map((c) =>
    isView(c)
      ? nameOnly
        ? { name: c.name, type: 'view' }
        : { name: c.name, type: 'view', options: c.options, info: { readOnly: true } }
      : nameOnly
      ? { name: c.name, type: 'collection' }
      : {
          name: c.name,
          type: 'collection',
          options: c.options,
          info: { readOnly: false, uuid: new Binary(Buffer.from(c.uuid.buffer), Binary.SUBTYPE_UUID) },
          idIndex: { v: 2, key: { _id: 1 }, name: '_id_' },
        },
  );
  if (ctx.db === 'local' && isReplicaSet(ctx)) {
    docs.push(
      nameOnly
        ? { name: 'oplog.rs', type: 'collection' }
        : { name: 'oplog.rs', type: 'collection', options: { capped: true, size: engine.oplog.maxEntries * 1024, autoIndexId: false }, info: { readOnly: false } },
    );
  }
  const matched = Object.keys(filter).length > 0 ? findDocuments(docs, { filter }) : docs;
  return cursorOf(ctx, `${ctx.db}.$cmd.listCollections`, matched);
}

export function listDatabasesCommand(ctx: CommandContext): CommandResult {
  requireAdmin(ctx);
  const filter = optionalDocument(ctx, 'filter') ?? {};
  const nameOnly = optionalBool(ctx, 'nameOnly') ?? false;
  const { engine } = ctx.server;
  const sizes = new Map<string, number>();
  for (const c of engine.catalog.all()) sizes.set(c.db, (sizes.get(c.db) ?? 0) + c.dataSize);
  for (const internal of ['admin', 'config', 'local']) if (!sizes.has(internal)) sizes.set(internal, 0);
  let databases: Document[] = [...sizes.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, size]) => (nameOnly ? { name } : { name, sizeOnDisk: Math.max(4096, Math.ceil(size / 4096) * 4096), empty: false }));
  if (Object.keys(filter).length > 0) databases = findDocuments(databases, { filter });
  const reply: Document = { databases };
  if (!nameOnly) reply.totalSize = databases.reduce((s, d) => s + (d.sizeOnDisk as number), 0);
  if (!nameOnly) reply.totalSizeMb = Math.floor((reply.totalSize as number) / (1024 * 1024));
  return reply;
}
