/**
 * The aggregate command: `$changeStream` pipelines open a change stream cursor; any other
 * pipeline runs through mingo over the collection (or `$documents` for `aggregate: 1`).
 * `$out` replaces the target collection; `$merge` is refused.
 */
import { ObjectId } from 'bson';
import type { Document } from 'bson';
import { ChangeStreamCursor, parseChangeStreamStage } from '../change-stream.js';
import { BatchWriter, DEFAULT_FIRST_BATCH, ResultCursor } from '../cursors.js';
import { validateNamespace } from '../engine.js';
import { Code, CommandError, typeMismatch } from '../errors.js';
import { documentsToExamine, isNaturalHint, objectsOf, settleIndexes } from '../index-scan.js';
import { oplogDocuments } from '../oplog-view.js';
import { keyOf } from '../keys.js';
import { keepsDocumentIds, typedLike } from '../number-types.js';
import { Pipeline } from '../query.js';
import { checkPipelineOperators } from '../server-version.js';
import { rawRangeFilterOf } from '../raw-range-filter.js';
import { runSliced, slicedPlan } from '../sliced-aggregate.js';
import type { StoredDoc } from '../stored-doc.js';
import type { QueryOptions } from '../query.js';
import { StoredDoc as Stored, rawOf } from '../stored-doc.js';
import type { Collection } from '../storage.js';
import { idFirst } from '../update.js';
import { isView, refuseOnView, viewDocuments } from '../views.js';
import { CursorReply, isReplicaSet, optionalArray, optionalBool, optionalDocument } from './context.js';
import type { CommandContext, CommandResult } from './context.js';

function batchSizeOf(ctx: CommandContext, cursorOpt: Document): number {
  const b = cursorOpt.batchSize;
  if (b === undefined) return DEFAULT_FIRST_BATCH;
  if (typeof b !== 'number' || b < 0) throw typeMismatch('aggregate.cursor.batchSize', b, 'long');
  return b;
}

export async function aggregateCommand(ctx: CommandContext): Promise<CommandResult> {
  const target = ctx.cmd.aggregate;
  const pipeline = optionalArray(ctx, 'pipeline');
  if (!pipeline) throw new CommandError(40414, "BSON field 'aggregate.pipeline' is missing but a required field", { codeName: 'IDLFailedToParse' });
  for (const stage of pipeline) {
    if (!stage || typeof stage !== 'object' || Array.isArray(stage)) {
      throw new CommandError(Code.TypeMismatch, 'Each element of the \'pipeline\' array must be an object');
    }
  }
  const stages = pipeline as Document[];
  checkPipelineOperators(ctx.server.config.serverVersion, stages);
  if (optionalBool(ctx, 'explain')) {
    throw new CommandError(Code.CommandNotSupported, 'explain is not supported by the cron-log-service MongoDB emulator');
  }
  const cursorOpt = optionalDocument(ctx, 'cursor');
  if (!cursorOpt) {
    throw new CommandError(Code.FailedToParse, "The 'cursor' option is required, except for aggregate with the explain argument");
  }
  const batchSize = batchSizeOf(ctx, cursorOpt);
  if (typeof target !== 'string' && target !== 1) {
    throw new CommandError(Code.FailedToParse, "Invalid command format: the 'aggregate' field must specify a collection name or 1");
  }
  const { engine, cursors } = ctx.server;
  const first = stages[0];
  if (first && '$changeStream' in first) {
    if (!isReplicaSet(ctx)) {
      throw new CommandError(Code.Location40573, 'The $changeStream stage is only supported on replica sets');
    }
    const { scope, options } = parseChangeStreamStage(first.$changeStream, ctx.db, target);
    const watched = scope.kind === 'collection' ? engine.collection(scope.db, scope.coll) : undefined;
    if (watched) refuseOnView(watched);
    const ns = scope.kind === 'collection' ? `${scope.db}.${scope.coll}` : `${ctx.db}.$cmd.aggregate`;
    const cursor = new ChangeStreamCursor(engine, { id: cursors.newId(), ns, scope, options, pipeline: stages.slice(1) });
    const out = new BatchWriter(true);
    const batch = cursor.fetch(engine, batchSize, out);
    if (!batch.exhausted) cursors.add(cursor, ctx.lsid);
    ctx.server.opcounters.command++;
    return new CursorReply(ns, batch.exhausted ? 0n : cursor.id, out, batch.postBatchResumeToken);
  }
  for (const [i, stage] of stages.entries()) {
    const name = Object.keys(stage)[0];
    if (name === '$changeStream') {
      throw new CommandError(Code.Location40602, '$changeStream is only valid as the first stage in a pipeline');
    }
    if (name === '$merge') {
      throw new CommandError(Code.CommandNotSupported, '$merge is not supported by the cron-log-service MongoDB emulator');
    }
    if (name === '$out' && i !== stages.length - 1) {
      throw new CommandError(40601, '$out can only be the final stage in the pipeline');
    }
    if (name === '$documents' && (i !== 0 || target !== 1)) {
      throw new CommandError(Code.InvalidNamespace, '$documents must be the first stage of an aggregate: 1 pipeline');
    }
  }
  const last = stages[stages.length - 1];
  const outTarget = last && '$out' in last ? last.$out : undefined;
  const runStages = outTarget === undefined ? stages : stages.slice(0, -1);

  const query: QueryOptions = {
    collectionResolver: (name: string) => [...(engine.collection(ctx.db, name)?.objects() ?? [])],
  };
  const collation = optionalDocument(ctx, 'collation');
  if (collation) query.collation = collation;
  const vars = optionalDocument(ctx, 'let');
  if (vars) query.variables = vars;
  const compiled = new Pipeline(runStages, query);

  let source: Iterable<Document>;
  /** A collection's documents, for a pipeline that runs in slices (sliced-aggregate.ts). */
  let stored: Iterable<StoredDoc> | undefined;
  let collection: Collection | undefined;
  let ns: string;
  if (typeof target === 'string') {
    ns = `${ctx.db}.${target}`;
    if (ctx.db === 'local' && target === 'oplog.rs' && isReplicaSet(ctx)) {
      source = oplogDocuments(engine.oplog, engine.oplog.startSeq, engine.oplog.endSeq, false);
    } else {
      // The leading `$match` may use an index; mingo still applies it to every candidate.
      const coll = engine.collection(ctx.db, target);
      const match = first && '$match' in first ? (first.$match as unknown) : undefined;
      const filter = match !== null && typeof match === 'object' && !Array.isArray(match) ? (match as Document) : {};
      if (coll && !isView(coll)) collection = coll;
      if (coll && !isView(coll)) {
        // A pipeline run in slices tests a leading range `$match` from the stored bytes.
        const denseScan = collation === undefined && slicedPlan(runStages) !== undefined && rawRangeFilterOf(filter) !== undefined;
        const scan = { collation, natural: isNaturalHint(ctx.cmd.hint), stats: ctx.server.queryExecutor, denseScan };
        await settleIndexes(coll, filter, scan);
        stored = documentsToExamine(coll, filter, scan);
      }
      source = coll && isView(coll) ? viewDocuments(engine.catalog, coll, query) : stored ? objectsOf(stored) : [];
    }
  } else {
    ns = `${ctx.db}.$cmd.aggregate`;
    const firstName = first ? Object.keys(first)[0] : undefined;
    if (firstName !== '$documents') {
      throw new CommandError(Code.InvalidNamespace, `${firstName ?? 'an empty pipeline'} is not supported on a collectionless aggregate by the emulator`);
    }
    source = [];
  }
  ctx.server.opcounters.command++;
  const sliced = stored ? slicedPlan(runStages) : undefined;
  const results = sliced && stored ? await runSliced(sliced, stored, query) : compiled.run(source);
  if (outTarget !== undefined) {
    writeOut(ctx, outTarget, results);
    return new CursorReply(ns, 0n, new BatchWriter(true));
  }
  // Reshaped documents keep the number types of the stored ones (number-types.ts).
  const typed = collection !== undefined && keepsDocumentIds(runStages) ? results.map((r) => typedReply(r, collection)) : results;
  const cursor = new ResultCursor(cursors.newId(), ns, typed);
  const out = new BatchWriter(true);
  const batch = cursor.next(batchSize, out);
  if (!batch.exhausted) cursors.add(cursor, ctx.lsid);
  return new CursorReply(ns, batch.exhausted ? 0n : cursor.id, out);
}

/** A result with the number types of the stored document it reshaped (its `_id`'s). */
function typedReply(result: Document, coll: Collection): Document {
  if (result._id === undefined || rawOf(result) !== undefined) return result;
  return typedLike(result, () => coll.docByIdKey(keyOf(result._id))?.raw);
}

/** `$out`: the results replace the target collection (which keeps its indexes). */
function writeOut(ctx: CommandContext, out: unknown, results: Document[]): void {
  let db = ctx.db;
  let name: string;
  if (typeof out === 'string') {
    name = out;
  } else if (out && typeof out === 'object' && typeof (out as Document).coll === 'string') {
    name = (out as Document).coll as string;
    if (typeof (out as Document).db === 'string') db = (out as Document).db as string;
  } else {
    throw typeMismatch('$out', out, 'string');
  }
  validateNamespace(db, name);
  const { engine } = ctx.server;
  const coll = engine.ensureCollection(db, name);
  const docs = results.map((d) => Stored.fromObject(idFirst(d._id === undefined ? { _id: new ObjectId(), ...d } : d)));
  const seen = new Set<string>();
  for (const d of docs) {
    if (seen.has(d.idKey)) throw coll.indexes.get('_id_')!.duplicateKeyError(coll.ns, { _id: d.id });
    seen.add(d.idKey);
  }
  for (const d of [...coll.docs.values()]) engine.remove(coll, d);
  for (const d of docs) engine.insert(coll, d);
  ctx.operationTime = engine.lastWrite.ts;
}
