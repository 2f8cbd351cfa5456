/**
 * Document commands: insert, update, delete, findAndModify, find, getMore, killCursors, count,
 * distinct. Writes go through the engine (one oplog entry per changed document); reads use
 * mingo for filter, sort and projection.
 */
import { BSON, Long, ObjectId } from 'bson';
import type { Document } from 'bson';
import { encodeElement, withIdFirst } from '../bson-raw.js';
import { ChangeStreamCursor } from '../change-stream.js';
import { toTimestamp } from '../clock.js';
import { BatchWriter, DEFAULT_FIRST_BATCH, ResultCursor, cursorIdFrom } from '../cursors.js';
import type { Batch } from '../cursors.js';
import { validateNamespace } from '../engine.js';
import { Code, CommandError, serverErrorLabels, typeMismatch } from '../errors.js';
import { isIdOnly, storedIdsLazily } from '../id-listing.js';
import { documentsToExamine, isNaturalHint, objectsOf, settleIndexes } from '../index-scan.js';
import { rawRangeFilterOf, rawReaderOf } from '../raw-range-filter.js';
import type { ScanStats } from '../index-scan.js';
import { keyOf } from '../keys.js';
import { oplogDocuments, oplogRange } from '../oplog-view.js';
import { compileFilter, findDocuments, findDocumentsLazily } from '../query.js';
import type { QueryOptions } from '../query.js';
import { valuesAtPath } from '../storage.js';
import type { Collection } from '../storage.js';
import { StoredDoc } from '../stored-doc.js';
import { isView, refuseOnView, viewDocuments } from '../views.js';
import { applyUpdate, describeUpdate, idFirst, updateKind, upsertDocument } from '../update.js';
import type { UpdateContext } from '../update.js';
import {
  CursorReply,
  collectionArg,
  isReplicaSet,
  optionalArray,
  optionalBool,
  optionalDocument,
  optionalNumber,
} from './context.js';
import type { CommandContext, CommandResult } from './context.js';
import { ELECTION_ID } from './handshake.js';

const MAX_BSON_SIZE = 16 * 1024 * 1024;
const MAX_WRITE_BATCH = 100_000;

function queryOptions(ctx: CommandContext): QueryOptions {
  const opts: QueryOptions = {};
  const collation = optionalDocument(ctx, 'collation');
  if (collation) opts.collation = collation;
  const vars = optionalDocument(ctx, 'let');
  if (vars) opts.variables = vars;
  return opts;
}

/** An encoded document to store: `_id` first (added when missing), read without a full decode. */
function storedFromRaw(raw: Buffer): StoredDoc {
  if (raw.length > MAX_BSON_SIZE) {
    throw new CommandError(Code.BSONObjectTooLarge, `object to insert too large. size in bytes: ${raw.length}, max size: ${MAX_BSON_SIZE}`);
  }
  const normalized = withIdFirst(raw, () => encodeElement('_id', new ObjectId()));
  if (!normalized) throw new CommandError(Code.InvalidBSON, 'invalid BSON document in insert');
  const type = normalized[4];
  if (type === 0x04) throw new CommandError(Code.BadValue, "The '_id' value cannot be of type array");
  if (type === 0x0b) throw new CommandError(Code.BadValue, "can't use a regex for _id");
  if (type === 0x06) throw new CommandError(Code.BadValue, "can't use a undefined for _id");
  const stored = StoredDoc.fromStoredRaw(Buffer.isBuffer(normalized) ? normalized : Buffer.from(normalized));
  if (!stored) throw new CommandError(Code.InvalidBSON, 'invalid BSON document in insert');
  return stored;
}

function storedFromObject(doc: Document): StoredDoc {
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) throw typeMismatch('insert.documents', doc, 'object');
  const id = doc._id;
  if (Array.isArray(id)) throw new CommandError(Code.BadValue, "The '_id' value cannot be of type array");
  if (id instanceof RegExp || (id as { _bsontype?: string } | null)?._bsontype === 'BSONRegExp') {
    throw new CommandError(Code.BadValue, "can't use a regex for _id");
  }
  if ('_id' in doc && id === undefined) throw new CommandError(Code.BadValue, "can't use a undefined for _id");
  const withId = id === undefined ? { _id: new ObjectId(), ...doc } : idFirst(doc);
  return StoredDoc.fromObject(withId);
}

interface WriteError {
  index: number;
  code: number;
  codeName?: string;
  errmsg: string;
  [k: string]: unknown;
}

function toWriteError(index: number, err: unknown): WriteError {
  if (!(err instanceof CommandError)) throw err;
  return { index, code: err.code, ...(err.extra ?? {}), errmsg: err.message };
}

function writeReply(ctx: CommandContext, fields: Document, writeErrors: WriteError[]): Document {
  const reply: Document = { ...fields };
  if (writeErrors.length > 0) reply.writeErrors = writeErrors;
  if (isReplicaSet(ctx)) {
    const last = ctx.server.engine.lastWrite;
    reply.electionId = ELECTION_ID;
    reply.opTime = { ts: toTimestamp(ctx.operationTime ?? last.ts), t: Long.fromNumber(1) };
  }
  return reply;
}

/** The write statements of an insert/update/delete: a document sequence or an array. */
function statements(ctx: CommandContext, field: string): { count: number; get(i: number): Document | Buffer } {
  const seq = ctx.sequences.get(field);
  const arr = seq ? undefined : optionalArray(ctx, field);
  if (!seq && !arr) {
    throw new CommandError(40414, `BSON field '${ctx.name}.${field}' is missing but a required field`, { codeName: 'IDLFailedToParse' });
  }
  const count = seq ? seq.length : arr!.length;
  if (count === 0 || count > MAX_WRITE_BATCH) {
    throw new CommandError(Code.InvalidLength, `Write batch sizes must be between 1 and ${MAX_WRITE_BATCH}. Got ${count} operations.`);
  }
  return { count, get: (i) => (seq ? seq[i]! : (arr![i] as Document)) };
}

function asDocument(ctx: CommandContext, field: string, value: Document | Buffer): Document {
  // (only insert documents arrive encoded; see wire.ts deserializeCommand)
  if (Buffer.isBuffer(value)) return BSON.deserialize(value);
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw typeMismatch(`${ctx.name}.${field}`, value, 'object');
  return value;
}

export function insertCommand(ctx: CommandContext): CommandResult {
  const name = collectionArg(ctx);
  validateNamespace(ctx.db, name);
  const { engine } = ctx.server;
  const ordered = optionalBool(ctx, 'ordered') ?? true;
  const stmts = statements(ctx, 'documents');
  const writeErrors: WriteError[] = [];
  let n = 0;
  let coll: Collection | undefined;
  for (let i = 0; i < stmts.count; i++) {
    try {
      const item = stmts.get(i);
      const doc = Buffer.isBuffer(item) ? storedFromRaw(item) : storedFromObject(item);
      coll ??= engine.ensureCollection(ctx.db, name);
      ctx.operationTime = engine.insert(coll, doc).ts;
      n++;
    } catch (err) {
      writeErrors.push(toWriteError(i, err));
      if (ordered) break;
    }
  }
  ctx.server.opcounters.insert += n;
  return writeReply(ctx, { n }, writeErrors);
}

/** `{ _id: <value> }` filters are answered from the `_id` index. */
function idEquality(filter: Document): { value: unknown } | undefined {
  const keys = Object.keys(filter);
  if (keys.length !== 1 || keys[0] !== '_id') return undefined;
  const v = filter._id;
  if (v instanceof RegExp) return undefined;
  if (v !== null && typeof v === 'object' && !Array.isArray(v) && !(v as { _bsontype?: string })._bsontype && !(v instanceof Date)) {
    const ks = Object.keys(v);
    if (ks.length === 1 && ks[0] === '$eq') return { value: (v as Document).$eq };
    if (ks.some((k) => k.startsWith('$'))) return undefined;
  }
  if (Array.isArray(v)) return undefined;
  return { value: v };
}

/**
 * Documents matching a filter, in natural order or by `sort`; `limit` 0 means all. Indexes
 * narrow the documents examined (index-scan.ts); `hint` `{ $natural: ±1 }` scans them all.
 */
export function matchingDocs(
  coll: Collection,
  filter: Document,
  opts: { limit?: number; sort?: Document; query?: QueryOptions; hint?: unknown; stats?: ScanStats },
): StoredDoc[] {
  const eq = idEquality(filter);
  if (eq) {
    const d = coll.docs.get(keyOf(eq.value));
    if (opts.stats) {
      opts.stats.scanned++;
      if (d) opts.stats.scannedObjects++;
    }
    return d ? [d] : [];
  }
  const test = compileFilter(filter, opts.query);
  // Range and `_id` `$in` clauses tested on the stored bytes first (raw-range-filter.ts): the
  // purge's deletes by `_id` and hour decoded every document they removed.
  const raw = opts.query?.collation === undefined ? rawRangeFilterOf(filter) : undefined;
  const reader = raw ? rawReaderOf(raw).reader : undefined;
  const matches = (d: StoredDoc): boolean => {
    if (raw && reader && d.loadFields(reader)) {
      const m = raw.test(reader);
      if (m === false) return false;
      if (m === true && raw.complete) return true;
    }
    return test(d.view());
  };
  const limit = opts.limit ?? 0;
  const sort = opts.sort && Object.keys(opts.sort).length > 0 ? opts.sort : undefined;
  const out: StoredDoc[] = [];
  const examined = documentsToExamine(coll, filter, { collation: opts.query?.collation, natural: isNaturalHint(opts.hint), stats: opts.stats });
  for (const d of examined) {
    if (!matches(d)) continue;
    out.push(d);
    if (!sort && limit > 0 && out.length >= limit) break;
  }
  if (!sort) return out;
  const objs = out.map((d) => d.view());
  const byObj = new Map<object, StoredDoc>(objs.map((o, i) => [o, out[i]!]));
  const sorted = findDocuments(objs, { sort, ...(limit > 0 ? { limit } : {}) }, opts.query);
  return sorted.map((o) => byObj.get(o)!);
}

function updateContext(ctx: CommandContext, arrayFilters: unknown, query: QueryOptions): UpdateContext {
  const uc: UpdateContext = { now: () => toTimestamp(ctx.server.engine.clock.peekNext()), inserting: false, query };
  if (arrayFilters !== undefined) {
    if (!Array.isArray(arrayFilters)) throw typeMismatch(`${ctx.name}.arrayFilters`, arrayFilters, 'array');
    uc.arrayFilters = arrayFilters as Document[];
  }
  return uc;
}

interface UpdateOutcome {
  matched: number;
  modified: number;
  upsertedId?: unknown;
}

function runUpdate(ctx: CommandContext, name: string, spec: Document): UpdateOutcome {
  const { engine } = ctx.server;
  const filter = spec.q;
  if (filter === null || typeof filter !== 'object' || Array.isArray(filter)) throw typeMismatch('q', filter, 'object');
  const update = spec.u as Document | Document[];
  const kind = updateKind(update);
  const multi = spec.multi === true;
  if (multi && kind === 'replacement') {
    throw new CommandError(Code.FailedToParse, 'multi update is not supported for replacement-style update');
  }
  const query: QueryOptions = { ...queryOptions(ctx) };
  if (spec.collation) query.collation = spec.collation as Document;
  if (spec.c) query.variables = { ...query.variables, ...(spec.c as Document) };
  const uc = updateContext(ctx, spec.arrayFilters, query);
  const coll = engine.collection(ctx.db, name);
  if (coll) refuseOnView(coll);
  const sort = spec.sort as Document | undefined;
  const docs = coll
    ? matchingDocs(coll, filter as Document, { limit: multi ? 0 : 1, query, hint: spec.hint, stats: ctx.server.queryExecutor, ...(sort ? { sort } : {}) })
    : [];
  const outcome: UpdateOutcome = { matched: 0, modified: 0 };
  for (const doc of docs) {
    const before = doc.obj;
    const applied = applyUpdate(before, update, uc);
    outcome.matched++;
    if (!applied.changed) continue;
    const next = StoredDoc.updatedFrom(applied.doc, doc);
    const desc = kind === 'replacement' ? undefined : describeUpdate(before, applied.doc, applied);
    ctx.operationTime = engine.update(coll!, doc, next, desc).ts;
    outcome.modified++;
  }
  if (docs.length === 0 && spec.upsert === true) {
    const created = upsertDocument(filter as Document, update, uc);
    const target = engine.ensureCollection(ctx.db, name);
    ctx.operationTime = engine.insert(target, StoredDoc.fromObject(created)).ts;
    outcome.upsertedId = created._id;
  }
  return outcome;
}

export function updateCommand(ctx: CommandContext): CommandResult {
  const name = collectionArg(ctx);
  validateNamespace(ctx.db, name);
  const ordered = optionalBool(ctx, 'ordered') ?? true;
  const stmts = statements(ctx, 'updates');
  const writeErrors: WriteError[] = [];
  const upserted: Document[] = [];
  let n = 0;
  let nModified = 0;
  for (let i = 0; i < stmts.count; i++) {
    try {
      const spec = asDocument(ctx, 'updates', stmts.get(i));
      const r = runUpdate(ctx, name, spec);
      n += r.matched;
      nModified += r.modified;
      if (r.upsertedId !== undefined) {
        n++;
        upserted.push({ index: i, _id: r.upsertedId });
      }
    } catch (err) {
      writeErrors.push(toWriteError(i, err));
      if (ordered) break;
    }
  }
  ctx.server.opcounters.update += stmts.count;
  const fields: Document = { n, nModified };
  if (upserted.length > 0) fields.upserted = upserted;
  return writeReply(ctx, fields, writeErrors);
}

export function deleteCommand(ctx: CommandContext): CommandResult {
  const name = collectionArg(ctx);
  validateNamespace(ctx.db, name);
  const { engine } = ctx.server;
  const ordered = optionalBool(ctx, 'ordered') ?? true;
  const stmts = statements(ctx, 'deletes');
  const writeErrors: WriteError[] = [];
  let n = 0;
  for (let i = 0; i < stmts.count; i++) {
    try {
      const spec = asDocument(ctx, 'deletes', stmts.get(i));
      const filter = spec.q;
      if (filter === null || typeof filter !== 'object' || Array.isArray(filter)) throw typeMismatch('q', filter, 'object');
      const limit = Number(spec.limit ?? 0);
      if (limit !== 0 && limit !== 1) {
        throw new CommandError(Code.FailedToParse, `The limit field in delete objects must be 0 or 1. Got ${limit}`);
      }
      const query = queryOptions(ctx);
      if (spec.collation) query.collation = spec.collation as Document;
      const coll = engine.collection(ctx.db, name);
      if (!coll) continue;
      refuseOnView(coll);
      for (const doc of matchingDocs(coll, filter as Document, { limit, query, hint: spec.hint, stats: ctx.server.queryExecutor })) {
        ctx.operationTime = engine.remove(coll, doc).ts;
        n++;
      }
    } catch (err) {
      writeErrors.push(toWriteError(i, err));
      if (ordered) break;
    }
  }
  ctx.server.opcounters.delete += stmts.count;
  return writeReply(ctx, { n }, writeErrors);
}

function project(doc: Document | null, fields: Document | undefined, query: QueryOptions): Document | null {
  if (!doc || !fields || Object.keys(fields).length === 0) return doc;
  return findDocuments([doc], { projection: fields }, query)[0] ?? null;
}

export function findAndModifyCommand(ctx: CommandContext): CommandResult {
  const name = collectionArg(ctx);
  validateNamespace(ctx.db, name);
  const { engine } = ctx.server;
  const filter = optionalDocument(ctx, 'query') ?? {};
  const sort = optionalDocument(ctx, 'sort');
  const remove = optionalBool(ctx, 'remove') ?? false;
  const returnNew = optionalBool(ctx, 'new') ?? false;
  const upsert = optionalBool(ctx, 'upsert') ?? false;
  const fields = optionalDocument(ctx, 'fields');
  const update = ctx.cmd.update as Document | Document[] | undefined;
  if (remove && update !== undefined) throw new CommandError(Code.FailedToParse, 'Cannot specify both an update and remove=true');
  if (!remove && update === undefined) throw new CommandError(Code.FailedToParse, 'Either an update or remove=true must be specified');
  if (remove && upsert) throw new CommandError(Code.FailedToParse, 'Cannot specify both upsert=true and remove=true ');
  if (remove && returnNew) {
    throw new CommandError(Code.FailedToParse, "Cannot specify both new=true and remove=true; 'remove' always returns the deleted document");
  }
  const query = queryOptions(ctx);
  const coll = engine.collection(ctx.db, name);
  if (coll) refuseOnView(coll);
  const found = coll
    ? matchingDocs(coll, filter, { limit: 1, query, hint: ctx.cmd.hint, stats: ctx.server.queryExecutor, ...(sort ? { sort } : {}) })[0]
    : undefined;
  if (remove) {
    ctx.server.opcounters.delete++;
    if (!found) return { lastErrorObject: { n: 0 }, value: null };
    ctx.operationTime = engine.remove(coll!, found).ts;
    return { lastErrorObject: { n: 1 }, value: project(found.obj, fields, query) };
  }
  ctx.server.opcounters.update++;
  const kind = updateKind(update);
  const uc = updateContext(ctx, ctx.cmd.arrayFilters, query);
  if (found) {
    const applied = applyUpdate(found.obj, update!, uc);
    let after = found.obj;
    if (applied.changed) {
      const next = StoredDoc.updatedFrom(applied.doc, found);
      const desc = kind === 'replacement' ? undefined : describeUpdate(found.obj, applied.doc, applied);
      ctx.operationTime = engine.update(coll!, found, next, desc).ts;
      after = next.obj;
    }
    return {
      lastErrorObject: { n: 1, updatedExisting: true },
      value: project(returnNew ? after : found.obj, fields, query),
    };
  }
  if (!upsert) return { lastErrorObject: { n: 0, updatedExisting: false }, value: null };
  const created = upsertDocument(filter, update!, uc);
  const target = engine.ensureCollection(ctx.db, name);
  const stored = StoredDoc.fromObject(created);
  ctx.operationTime = engine.insert(target, stored).ts;
  return {
    lastErrorObject: { n: 1, updatedExisting: false, upserted: created._id },
    value: returnNew ? project(stored.obj, fields, query) : null,
  };
}

function nonNegative(ctx: CommandContext, field: string): number | undefined {
  const v = optionalNumber(ctx, field);
  if (v !== undefined && v < 0) {
    throw new CommandError(51024, `BSON field '${field}' value must be >= 0, actual value '${v}'`);
  }
  return v;
}

/** `{ $natural: ±1 }` in sort or hint: the scan direction; other sort keys are kept. */
function naturalOrder(sort: Document | undefined, hint: unknown): { reverse: boolean; natural: boolean; sort: Document | undefined } {
  let reverse = false;
  let natural = false;
  let rest = sort;
  if (sort && '$natural' in sort) {
    natural = true;
    reverse = Number(sort.$natural) < 0;
    rest = { ...sort };
    delete rest.$natural;
    if (Object.keys(rest).length === 0) rest = undefined;
  }
  if (hint && typeof hint === 'object' && '$natural' in (hint as Document)) reverse = Number((hint as Document).$natural) < 0;
  return { reverse, natural, sort: rest };
}

export async function findCommand(ctx: CommandContext): Promise<CommandResult> {
  const name = collectionArg(ctx);
  const ns = `${ctx.db}.${name}`;
  const { engine } = ctx.server;
  const filter = optionalDocument(ctx, 'filter') ?? {};
  const projection = optionalDocument(ctx, 'projection');
  const skip = nonNegative(ctx, 'skip') ?? 0;
  const limit = nonNegative(ctx, 'limit') ?? 0;
  const batchSize = nonNegative(ctx, 'batchSize');
  const singleBatch = optionalBool(ctx, 'singleBatch') ?? false;
  const natural = naturalOrder(optionalDocument(ctx, 'sort'), ctx.cmd.hint);
  const query = queryOptions(ctx);
  ctx.server.opcounters.query++;
  const isOplog = ctx.db === 'local' && name === 'oplog.rs' && isReplicaSet(ctx);
  if (optionalBool(ctx, 'tailable')) {
    throw new CommandError(
      isOplog ? Code.CommandNotSupported : Code.BadValue,
      isOplog ? 'tailable cursors on the oplog are not supported by the emulator; use a change stream' : 'error processing query: tailable cursor requested on non capped collection',
    );
  }
  let results: Document[] | Iterator<Document | Uint8Array>;
  if (isOplog) {
    const range = oplogRange(engine.oplog, filter);
    const source = oplogDocuments(engine.oplog, range.from, range.to, natural.reverse);
    const spec = { filter: range.rest, skip, limit, ...(projection ? { projection } : {}), ...(natural.sort ? { sort: natural.sort } : {}) };
    results = Object.keys(range.rest).length === 0 && !natural.sort && !projection
      ? takeRange(source, skip, limit)
      : findDocuments(source, spec, query);
  } else {
    const coll = engine.collection(ctx.db, name);
    if (!coll) {
      results = [];
    } else if (isView(coll)) {
      const spec = { filter, skip, limit, ...(projection ? { projection } : {}), ...(natural.sort ? { sort: natural.sort } : {}) };
      results = findDocuments(viewDocuments(engine.catalog, coll, query), spec, query);
    } else {
      const eq = !natural.sort && !projection && skip === 0 ? idEquality(filter) : undefined;
      if (eq) {
        const d = coll.docs.get(keyOf(eq.value));
        ctx.server.queryExecutor.scanned++;
        if (d) ctx.server.queryExecutor.scannedObjects++;
        results = d ? [d.view()] : [];
      } else {
        // A `$natural` sort or hint asks for a collection scan.
        // An `_id` listing by a range filter is tested on the stored bytes (id-listing.ts).
        const idListing = !natural.sort && isIdOnly(projection) && query.collation === undefined && rawRangeFilterOf(filter) !== undefined;
        const scan = { collation: query.collation, natural: natural.natural || isNaturalHint(ctx.cmd.hint), stats: ctx.server.queryExecutor, denseScan: idListing };
        await settleIndexes(coll, filter, scan);
        const examined = documentsToExamine(coll, filter, scan);
        if (natural.sort) {
          let source: Iterable<Document> = objectsOf(examined);
          if (natural.reverse) source = [...source].reverse();
          results = findDocuments(source, { filter, skip, limit, ...(projection ? { projection } : {}), sort: natural.sort }, query);
        } else {
          // No sort: the documents examined are fixed now (as a list of stored documents) and
          // decoded, filtered and projected batch by batch as the cursor is read.
          // An `_id` listing by a collection scan reads the collection as the cursor is read
          // instead (listing ten million documents first held the server ~0.8 s); like mongod's
          // yielding reads, a write made meanwhile may or may not be seen.
          const lazy = idListing && !natural.reverse && !Array.isArray(examined);
          const docs = lazy || Array.isArray(examined) ? examined : Array.from(examined);
          if (natural.reverse) (docs as StoredDoc[]).reverse();
          const ids = idListing ? storedIdsLazily(docs, filter, { skip, limit }, query) : undefined;
          results = ids ?? findDocumentsLazily(objectsOf(docs), { filter, skip, limit, ...(projection ? { projection } : {}) }, query);
        }
      }
    }
  }
  const cursor = new ResultCursor(ctx.server.cursors.newId(), ns, results);
  const out = new BatchWriter(true);
  const batch = cursor.next(batchSize ?? DEFAULT_FIRST_BATCH, out);
  const open = !batch.exhausted && !singleBatch;
  if (open) ctx.server.cursors.add(cursor, ctx.lsid);
  return new CursorReply(ns, open ? cursor.id : 0n, out);
}

function takeRange(source: Iterable<Document>, skip: number, limit: number): Document[] {
  const out: Document[] = [];
  let i = 0;
  for (const d of source) {
    if (i++ < skip) continue;
    out.push(d);
    if (limit > 0 && out.length >= limit) break;
  }
  return out;
}

/** How long an awaitData getMore waits when the client gives no maxTimeMS (mongod: 1 second). */
const DEFAULT_AWAIT_MS = 1000;

/** As mongod: a cursor opened in a session is continued in that session only, and the reverse. */
function checkCursorSession(id: bigint, cursorLsid: string | undefined, lsid: string | undefined): void {
  if (cursorLsid === lsid) return;
  if (lsid === undefined) {
    throw new CommandError(50737, `Cannot run getMore on cursor ${id}, which was created in session ${cursorLsid}, without an lsid`);
  }
  if (cursorLsid === undefined) {
    throw new CommandError(50736, `Cannot run getMore on cursor ${id}, which was not created in a session, in session ${lsid}`);
  }
  throw new CommandError(50738, `Cannot run getMore on cursor ${id}, which was created in session ${cursorLsid}, in session ${lsid}`);
}

export async function getMoreCommand(ctx: CommandContext): Promise<CommandResult> {
  const id = cursorIdFrom(ctx.cmd.getMore);
  if (id === undefined) throw typeMismatch('getMore.getMore', ctx.cmd.getMore, 'long');
  const collection = ctx.cmd.collection;
  if (typeof collection !== 'string') throw typeMismatch('getMore.collection', collection, 'string');
  const { cursors, engine } = ctx.server;
  const cursor = cursors.get(id);
  if (!cursor) throw new CommandError(Code.CursorNotFound, `cursor id ${id} not found`);
  const ns = `${ctx.db}.${collection}`;
  if (cursor.ns !== ns) {
    throw new CommandError(Code.Unauthorized, `Requested getMore on namespace '${ns}', but cursor belongs to a different namespace ${cursor.ns}`);
  }
  checkCursorSession(id, cursor.lsid, ctx.lsid);
  if (cursor.busy) throw new CommandError(Code.CursorInUse, `cursor id ${id} is already in use`);
  const injected = ctx.server.failPoints.getMoreFailure();
  if (injected !== undefined) {
    // The cursor is checked out: the error is labelled as a real failure of this getMore, and
    // the cursor is gone, as mongod deletes a cursor whose getMore failed.
    cursors.kill(id);
    throw new CommandError(injected, "Hit the 'failGetMoreAfterCursorCheckout' failpoint", {
      labels: serverErrorLabels({
        code: injected,
        commandName: 'getMore',
        isRetryableWrite: false,
        isChangeStream: cursor instanceof ChangeStreamCursor,
        hasWriteConcernError: false,
      }),
    });
  }
  const batchSize = nonNegative(ctx, 'batchSize') ?? 0;
  ctx.server.opcounters.getmore++;
  cursor.busy = true;
  const out = new BatchWriter(false);
  let batch: Batch;
  try {
    if (cursor instanceof ChangeStreamCursor) {
      const maxTime = optionalNumber(ctx, 'maxTimeMS') || DEFAULT_AWAIT_MS;
      const deadline = Date.now() + maxTime;
      const signal = AbortSignal.any([cursor.abort.signal, ctx.conn.closed, ctx.server.closing]);
      for (;;) {
        batch = cursor.fetch(engine, batchSize > 0 ? batchSize : Infinity, out);
        if (out.count > 0 || batch.exhausted) break;
        const remaining = deadline - Date.now();
        if (remaining <= 0 || signal.aborted) break;
        await engine.oplog.waitForEntries(cursor.nextSeq, remaining, signal);
        if (cursor.abort.signal.aborted) throw new CommandError(Code.CursorKilled, `cursor id ${id} was killed`);
        if (ctx.server.closing.aborted) throw new CommandError(11600, 'interrupted at shutdown');
      }
    } else if (cursor instanceof ResultCursor) {
      batch = cursor.next(batchSize, out);
    } else {
      throw new CommandError(Code.InternalError, 'unknown cursor type');
    }
  } finally {
    cursor.busy = false;
    cursor.lastUsed = Date.now();
  }
  if (batch.exhausted) cursors.forget(id);
  return new CursorReply(ns, batch.exhausted ? 0n : id, out, batch.postBatchResumeToken);
}

export function killCursorsCommand(ctx: CommandContext): CommandResult {
  const name = collectionArg(ctx);
  const ns = `${ctx.db}.${name}`;
  const ids = optionalArray(ctx, 'cursors');
  if (!ids) throw new CommandError(40414, "BSON field 'killCursors.cursors' is missing but a required field", { codeName: 'IDLFailedToParse' });
  const killed: Long[] = [];
  const notFound: Long[] = [];
  for (const raw of ids) {
    const id = cursorIdFrom(raw);
    if (id === undefined) throw typeMismatch('killCursors.cursors', raw, 'long');
    const c = ctx.server.cursors.get(id);
    if (c && c.ns === ns) {
      ctx.server.cursors.kill(id);
      killed.push(Long.fromBigInt(id));
    } else {
      notFound.push(Long.fromBigInt(id));
    }
  }
  return { cursorsKilled: killed, cursorsNotFound: notFound, cursorsAlive: [], cursorsUnknown: [] };
}

export function countCommand(ctx: CommandContext): CommandResult {
  const name = collectionArg(ctx);
  const filter = optionalDocument(ctx, 'query') ?? {};
  const skip = nonNegative(ctx, 'skip') ?? 0;
  const limit = Math.abs(optionalNumber(ctx, 'limit') ?? 0);
  ctx.server.opcounters.command++;
  const { engine } = ctx.server;
  let n: number;
  if (ctx.db === 'local' && name === 'oplog.rs' && isReplicaSet(ctx)) {
    const range = oplogRange(engine.oplog, filter);
    n = Object.keys(range.rest).length === 0
      ? range.to - range.from
      : findDocuments(oplogDocuments(engine.oplog, range.from, range.to, false), { filter: range.rest }, queryOptions(ctx)).length;
  } else {
    const coll = engine.collection(ctx.db, name);
    if (!coll) n = 0;
    else if (isView(coll)) n = findDocuments(viewDocuments(engine.catalog, coll, queryOptions(ctx)), { filter }, queryOptions(ctx)).length;
    else if (Object.keys(filter).length === 0) n = coll.docs.size;
    else n = matchingDocs(coll, filter, { query: queryOptions(ctx), hint: ctx.cmd.hint, stats: ctx.server.queryExecutor }).length;
  }
  n = Math.max(0, n - skip);
  if (limit > 0) n = Math.min(n, limit);
  return { n };
}

export function distinctCommand(ctx: CommandContext): CommandResult {
  const name = collectionArg(ctx);
  const key = ctx.cmd.key;
  if (typeof key !== 'string') throw typeMismatch('distinct.key', key, 'string');
  const filter = optionalDocument(ctx, 'query') ?? {};
  const coll = ctx.server.engine.collection(ctx.db, name);
  const values: unknown[] = [];
  const seen = new Set<string>();
  if (coll) {
    for (const doc of matchingDocs(coll, filter, { query: queryOptions(ctx), stats: ctx.server.queryExecutor })) {
      for (const v of valuesAtPath(doc.view(), key)) {
        if (v === undefined) continue;
        const k = keyOf(v);
        if (seen.has(k)) continue;
        seen.add(k);
        values.push(v);
      }
    }
  }
  return { values };
}
