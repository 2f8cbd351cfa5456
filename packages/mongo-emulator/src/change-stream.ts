/**
 * Change streams: `$changeStream` options, the events each oplog entry produces for a stream
 * (collection, database or whole deployment), their encoding, resume positions and
 * postBatchResumeToken. Semantics follow the MongoDB manual and the change streams
 * specification (mongodb/specifications source/change-streams/change-streams.md).
 *
 * A cursor keeps the sequence number of the next oplog entry to read, so a getMore costs the
 * number of new entries, not the oplog length. Events are encoded straight from the stored
 * bytes of the documents; only a user pipeline after `$changeStream` decodes them, except for
 * `$match` conditions on operationType and ns, which are tested on the oplog entry
 * (change-stream-match.ts).
 */
import { BSON, UUID } from 'bson';
import type { Document } from 'bson';
import type { BsonWriter } from './bson-raw.js';
import { formatTs, fromTimestamp, toTimestamp } from './clock.js';
import type { Ts } from './clock.js';
import type { Batch, BatchWriter, ServerCursor } from './cursors.js';
import { MAX_BATCH_BYTES } from './cursors.js';
import type { Engine } from './engine.js';
import { Code, CommandError, typeMismatch } from './errors.js';
import { splitMatch } from './change-stream-match.js';
import type { MetaPredicate } from './change-stream-match.js';
import type { OplogEntry } from './oplog.js';
import { Pipeline, compileFilter, isPipelineStage } from './query.js';
import { disambiguatedPaths } from './update.js';
import { EVENT_TOKEN, eventToken, highWaterMarkToken, parseResumeToken } from './resume-token.js';
import type { ResumeTokenData } from './resume-token.js';

export type StreamScope =
  | { kind: 'collection'; db: string; coll: string }
  | { kind: 'database'; db: string }
  | { kind: 'cluster' };

export interface ChangeStreamOptions {
  fullDocument: 'default' | 'updateLookup' | 'whenAvailable' | 'required';
  fullDocumentBeforeChange: 'off' | 'whenAvailable' | 'required';
  showExpandedEvents: boolean;
  resumeAfter?: ResumeTokenData;
  startAfter?: ResumeTokenData;
  startAtOperationTime?: Ts;
}

const KNOWN_OPTIONS = new Set([
  'resumeAfter', 'startAfter', 'startAtOperationTime', 'fullDocument', 'fullDocumentBeforeChange',
  'allChangesForCluster', 'showExpandedEvents', 'showSystemEvents', 'showMigrationEvents',
  'allowToRunOnConfigDB', 'allowToRunOnSystemNS', 'showRawUpdateDescription',
]);

/** Stages a change stream pipeline may contain after `$changeStream`. */
const ALLOWED_STAGES = new Set(['$match', '$project', '$addFields', '$set', '$unset', '$replaceRoot', '$replaceWith', '$redact']);

const INTERNAL_DBS = new Set(['admin', 'config', 'local']);

export function parseChangeStreamStage(
  spec: unknown,
  db: string,
  aggregateTarget: unknown,
): { scope: StreamScope; options: ChangeStreamOptions } {
  if (spec === null || typeof spec !== 'object' || Array.isArray(spec)) throw typeMismatch('$changeStream', spec, 'object');
  const s = spec as Document;
  for (const k of Object.keys(s)) {
    if (!KNOWN_OPTIONS.has(k)) throw new CommandError(Code.Location40415, `BSON field '$changeStream.${k}' is an unknown field.`);
  }
  const options: ChangeStreamOptions = { fullDocument: 'default', fullDocumentBeforeChange: 'off', showExpandedEvents: false };
  if (s.fullDocument !== undefined) {
    if (typeof s.fullDocument !== 'string') throw typeMismatch('$changeStream.fullDocument', s.fullDocument, 'string');
    if (!['default', 'updateLookup', 'whenAvailable', 'required'].includes(s.fullDocument)) {
      throw new CommandError(Code.BadValue, `Enumeration value '${s.fullDocument}' for field '$changeStream.fullDocument' is not a valid value.`);
    }
    options.fullDocument = s.fullDocument as ChangeStreamOptions['fullDocument'];
  }
  if (s.fullDocumentBeforeChange !== undefined) {
    if (!['off', 'whenAvailable', 'required'].includes(s.fullDocumentBeforeChange as string)) {
      throw new CommandError(
        Code.BadValue,
        `Enumeration value '${String(s.fullDocumentBeforeChange)}' for field '$changeStream.fullDocumentBeforeChange' is not a valid value.`,
      );
    }
    options.fullDocumentBeforeChange = s.fullDocumentBeforeChange as ChangeStreamOptions['fullDocumentBeforeChange'];
  }
  if (s.showExpandedEvents !== undefined) options.showExpandedEvents = s.showExpandedEvents === true;
  const resumeOptions = ['resumeAfter', 'startAfter', 'startAtOperationTime'].filter((k) => s[k] !== undefined);
  if (resumeOptions.length > 1) {
    throw new CommandError(Code.Location40674, 'Only one type of resume option is allowed, but multiple were found.');
  }
  for (const k of ['resumeAfter', 'startAfter'] as const) {
    if (s[k] === undefined) continue;
    if (s[k] === null || typeof s[k] !== 'object' || Array.isArray(s[k])) throw typeMismatch(`$changeStream.${k}`, s[k], 'object');
    options[k] = parseResumeToken(s[k]);
  }
  if (s.startAtOperationTime !== undefined) {
    const ts = fromTimestamp(s.startAtOperationTime);
    if (ts === undefined) throw typeMismatch('$changeStream.startAtOperationTime', s.startAtOperationTime, 'timestamp');
    options.startAtOperationTime = ts;
  }

  const cluster = s.allChangesForCluster === true;
  let scope: StreamScope;
  if (aggregateTarget === 1 || aggregateTarget === 1.0) {
    if (cluster) {
      if (db !== 'admin') {
        throw new CommandError(Code.InvalidNamespace, "A $changeStream with 'allChangesForCluster:true' may only be opened on the 'admin' database, and with no collection name");
      }
      scope = { kind: 'cluster' };
    } else {
      if (INTERNAL_DBS.has(db)) throw new CommandError(Code.InvalidNamespace, `$changeStream may not be opened on the internal ${db} database`);
      scope = { kind: 'database', db };
    }
  } else if (typeof aggregateTarget === 'string') {
    if (cluster) {
      throw new CommandError(Code.InvalidNamespace, "A $changeStream with 'allChangesForCluster:true' may only be opened on the 'admin' database, and with no collection name");
    }
    if (INTERNAL_DBS.has(db)) throw new CommandError(Code.InvalidNamespace, `$changeStream may not be opened on the internal ${db} database`);
    if (aggregateTarget.startsWith('system.')) {
      throw new CommandError(Code.InvalidNamespace, `$changeStream may not be opened on the internal ${db}.${aggregateTarget} collection`);
    }
    scope = { kind: 'collection', db, coll: aggregateTarget };
  } else {
    throw new CommandError(Code.FailedToParse, "Invalid command format: the 'aggregate' field must specify a collection name or 1");
  }
  return { scope, options };
}

export function validateChangeStreamPipeline(stages: Document[]): void {
  for (const stage of stages) {
    const name = Object.keys(stage)[0] ?? '';
    if (name === '$changeStream') {
      throw new CommandError(Code.Location40602, '$changeStream is only valid as the first stage in a pipeline');
    }
    if (!isPipelineStage(name)) throw new CommandError(Code.Location40324, `Unrecognized pipeline stage name: '${name}'`);
    if (!ALLOWED_STAGES.has(name)) {
      throw new CommandError(Code.IllegalOperation, `${name} is not permitted in a $changeStream pipeline`);
    }
  }
}

type EventKind =
  | 'insert' | 'update' | 'replace' | 'delete' | 'drop' | 'rename' | 'dropDatabase' | 'invalidate'
  | 'create' | 'createIndexes' | 'dropIndexes' | 'modify';

interface PendingEvent {
  entry: OplogEntry;
  kind: EventKind;
  token: string;
}

function inScope(scope: StreamScope, db: string, coll: string): boolean {
  switch (scope.kind) {
    case 'collection':
      return db === scope.db && coll === scope.coll;
    case 'database':
      return db === scope.db && !coll.startsWith('system.');
    case 'cluster':
      return !INTERNAL_DBS.has(db) && !coll.startsWith('system.');
  }
}

function documentEvent(entry: OplogEntry, kind: EventKind): PendingEvent {
  return { entry, kind, token: eventToken(entry.ts, entry.uuidPart, { operationType: kind, documentKey: { _id: entry.id } }) };
}

function commandEvent(entry: OplogEntry, kind: EventKind, description: Document, fromInvalidate = false): PendingEvent {
  return {
    entry,
    kind: fromInvalidate ? 'invalidate' : kind,
    token: eventToken(entry.ts, entry.uuidPart, { operationType: kind, operationDescription: description }, fromInvalidate),
  };
}

/** The events an oplog entry produces for a stream, in order. */
export function eventsFor(entry: OplogEntry, scope: StreamScope, expanded: boolean): PendingEvent[] {
  switch (entry.op) {
    case 'i':
      return inScope(scope, entry.db, entry.coll) ? [documentEvent(entry, 'insert')] : [];
    case 'u':
      return inScope(scope, entry.db, entry.coll) ? [documentEvent(entry, entry.replace ? 'replace' : 'update')] : [];
    case 'd':
      return inScope(scope, entry.db, entry.coll) ? [documentEvent(entry, 'delete')] : [];
    case 'n':
      return [];
    case 'c':
      break;
  }
  const cmd = entry.cmd!;
  switch (cmd.kind) {
    case 'drop':
      if (!inScope(scope, entry.db, entry.coll)) return [];
      return scope.kind === 'collection'
        ? [commandEvent(entry, 'drop', {}), commandEvent(entry, 'drop', {}, true)]
        : [commandEvent(entry, 'drop', {})];
    case 'rename': {
      const to = { db: cmd.toDb, coll: cmd.toColl };
      if (inScope(scope, entry.db, entry.coll)) {
        return scope.kind === 'collection'
          ? [commandEvent(entry, 'rename', { to }), commandEvent(entry, 'rename', { to }, true)]
          : [commandEvent(entry, 'rename', { to })];
      }
      if (scope.kind !== 'collection' && inScope(scope, cmd.toDb, cmd.toColl)) return [commandEvent(entry, 'rename', { to })];
      return [];
    }
    case 'dropDatabase':
      if (scope.kind === 'database' && scope.db === entry.db) {
        return [commandEvent(entry, 'dropDatabase', {}), commandEvent(entry, 'dropDatabase', {}, true)];
      }
      if (scope.kind === 'cluster' && !INTERNAL_DBS.has(entry.db)) return [commandEvent(entry, 'dropDatabase', {})];
      return [];
    case 'create':
      return expanded && inScope(scope, entry.db, entry.coll) ? [commandEvent(entry, 'create', {})] : [];
    case 'createIndexes':
      return expanded && inScope(scope, entry.db, entry.coll) ? [commandEvent(entry, 'createIndexes', { indexes: [cmd.spec] })] : [];
    case 'dropIndexes':
      return expanded && inScope(scope, entry.db, entry.coll) ? [commandEvent(entry, 'dropIndexes', { indexes: [cmd.spec] })] : [];
    case 'collMod':
      return expanded && inScope(scope, entry.db, entry.coll) ? [commandEvent(entry, 'modify', cmd.options)] : [];
    case 'noop':
      return [];
  }
}

/** Encoded document values of one event, computed once and used by both encodings. */
interface EventImages {
  fullDocument?: Uint8Array | null;
  fullDocumentBeforeChange?: Uint8Array | null;
}

export class ChangeStreamCursor implements ServerCursor {
  readonly id: bigint;
  readonly ns: string;
  readonly isChangeStream = true;
  lastUsed = Date.now();
  busy = false;
  readonly abort = new AbortController();
  readonly scope: StreamScope;
  readonly options: ChangeStreamOptions;
  /** Conditions of the leading `$match` stages on operationType and ns, tested before the event is built. */
  readonly #meta: MetaPredicate[] = [];
  /** The other conditions of the leading `$match` stages, tested on the event object. */
  readonly #filters: ((event: Document) => boolean)[] = [];
  /** The rest of the user pipeline, run per event. */
  readonly #pipeline: Pipeline | undefined;
  /** Sequence number of the next oplog entry to read. */
  nextSeq: number;
  /** Events before this cluster time are not delivered (startAtOperationTime, high-water marks). */
  #minTs: Ts;
  /** Within the entry at `ts`, events whose token sorts at or before `hex` were delivered. */
  #skip: { ts: Ts; hex: string } | undefined;
  #lastToken: string | undefined;

  constructor(
    engine: Engine,
    init: { id: bigint; ns: string; scope: StreamScope; options: ChangeStreamOptions; pipeline: Document[] },
  ) {
    this.id = init.id;
    this.ns = init.ns;
    this.scope = init.scope;
    this.options = init.options;
    validateChangeStreamPipeline(init.pipeline);
    let i = 0;
    for (; i < init.pipeline.length; i++) {
      const stage = init.pipeline[i]!;
      if (Object.keys(stage)[0] !== '$match') break;
      const filter = stage.$match;
      if (!filter || typeof filter !== 'object' || Array.isArray(filter)) throw typeMismatch('$match', filter, 'object');
      // consecutive $match stages and the top-level conditions of each are all ANDed
      const { meta, rest } = splitMatch(filter as Document);
      this.#meta.push(...meta);
      if (rest) this.#filters.push(compileFilter(rest));
    }
    const rest = init.pipeline.slice(i);
    this.#pipeline = rest.length > 0 ? new Pipeline(rest) : undefined;
    const oplog = engine.oplog;
    const token = init.options.resumeAfter ?? init.options.startAfter;
    const firstTs = oplog.first?.ts ?? 0n;
    const historyLost = (): CommandError =>
      new CommandError(
        Code.ChangeStreamHistoryLost,
        'Resume of change stream was not possible, as the resume point may no longer be in the oplog.',
      );
    if (token) {
      if (token.ts < firstTs) throw historyLost();
      if (token.tokenType !== EVENT_TOKEN) {
        this.nextSeq = oplog.seqAtOrAfter(token.ts);
        this.#minTs = token.ts;
      } else {
        if (token.fromInvalidate && init.options.resumeAfter) {
          throw new CommandError(
            Code.InvalidResumeToken,
            "Attempting to resume a change stream using 'resumeAfter' is not allowed from an invalidate notification.",
          );
        }
        const entry = oplog.entryAt(token.ts);
        const found = entry && eventsFor(entry, this.scope, this.options.showExpandedEvents).some((e) => e.token === token.hex);
        if (!entry || !found) {
          throw new CommandError(
            Code.ChangeStreamFatalError,
            `cannot resume stream; the resume token was not found. {_data: "${token.hex}"}`,
          );
        }
        if (token.fromInvalidate) {
          this.nextSeq = entry.seq + 1;
          this.#minTs = token.ts + 1n;
        } else {
          this.nextSeq = entry.seq;
          this.#minTs = token.ts;
          this.#skip = { ts: token.ts, hex: token.hex };
        }
      }
    } else if (init.options.startAtOperationTime !== undefined) {
      const at = init.options.startAtOperationTime;
      if (at < firstTs) throw historyLost();
      this.nextSeq = oplog.seqAtOrAfter(at);
      this.#minTs = at;
    } else {
      this.nextSeq = oplog.endSeq;
      this.#minTs = 0n;
    }
  }

  /**
   * Appends the events of new oplog entries to `out`, at most `maxEvents` of them. Scanning
   * stops at the end of the oplog, when the batch is full, or after `maxScan` entries.
   */
  fetch(engine: Engine, maxEvents: number, out: BatchWriter, maxScan = 200_000): Batch {
    const oplog = engine.oplog;
    if (this.nextSeq < oplog.startSeq) {
      throw new CommandError(
        Code.CappedPositionLost,
        `CollectionScan died due to position in capped collection being deleted. Last seen record id: RecordId(${this.nextSeq})`,
      );
    }
    const expanded = this.options.showExpandedEvents;
    let scanned = 0;
    let stop: 'end' | 'full' | 'scan' | 'invalidate' = 'end';
    outer: while (this.nextSeq < oplog.endSeq) {
      if (out.count >= maxEvents || out.bytes >= MAX_BATCH_BYTES) {
        stop = 'full';
        break;
      }
      if (scanned >= maxScan) {
        stop = 'scan';
        break;
      }
      const entry = oplog.at(this.nextSeq)!;
      scanned++;
      if (entry.ts < this.#minTs) {
        this.nextSeq++;
        continue;
      }
      const events = eventsFor(entry, this.scope, expanded);
      for (const ev of events) {
        if (this.#skip && entry.ts === this.#skip.ts && ev.token <= this.#skip.hex) continue;
        if (out.count >= maxEvents || !out.fits(estimatedSize(ev))) {
          // the batch filled up inside an entry: continue within it next time
          this.#skip = { ts: entry.ts, hex: this.#lastToken! };
          stop = 'full';
          break outer;
        }
        this.#render(engine, ev, out);
        this.#lastToken = ev.token;
        if (ev.kind === 'invalidate') {
          this.nextSeq = entry.seq + 1;
          stop = 'invalidate';
          break outer;
        }
      }
      this.#skip = undefined;
      this.nextSeq++;
    }
    let pbrt: string;
    if (stop === 'invalidate') pbrt = this.#lastToken!;
    else if (stop === 'full') pbrt = this.#lastToken ?? this.#positionToken(engine);
    else pbrt = this.#positionToken(engine);
    return { exhausted: stop === 'invalidate', postBatchResumeToken: pbrt };
  }

  /** A token for the current read position: everything before it was delivered. */
  #positionToken(engine: Engine): string {
    if (this.#skip) return this.#skip.hex;
    const next = engine.oplog.at(this.nextSeq);
    const ts = next ? next.ts : engine.clock.peekNext();
    return highWaterMarkToken(ts > this.#minTs ? ts : this.#minTs);
  }

  /**
   * Appends the event to `out` unless the user pipeline filters it out. Conditions on the
   * metadata come first, before any image lookup (mongod rewrites them into its oplog scan).
   */
  #render(engine: Engine, ev: PendingEvent, out: BatchWriter): void {
    for (const test of this.#meta) if (!test(ev)) return;
    const images = this.#images(engine, ev);
    const expanded = this.options.showExpandedEvents;
    if (this.#filters.length === 0 && !this.#pipeline) {
      encodeEvent(out.startElement(), ev, images, expanded).end();
      return;
    }
    const obj = eventObject(ev, images, expanded);
    for (const test of this.#filters) if (!test(obj)) return;
    const result = this.#pipeline ? this.#pipeline.run([obj])[0] : obj;
    if (!result) return;
    const id = result._id as Document | undefined;
    if (!id || id._data !== ev.token || Object.keys(id).length !== 1) {
      throw new CommandError(
        Code.ChangeStreamFatalError,
        'Encountered an event whose _id field, which contains the resume token, was modified by the pipeline. Modifying the _id field of an event makes it impossible to resume the stream from that point. Only transformations that retain the unmodified _id field are allowed.',
      );
    }
    if (result === obj) encodeEvent(out.startElement(), ev, images, expanded).end();
    else out.addRaw(BSON.serialize(result));
  }

  #images(engine: Engine, ev: PendingEvent): EventImages {
    const { entry } = ev;
    const images: EventImages = {};
    const { fullDocument, fullDocumentBeforeChange } = this.options;
    if (ev.kind === 'insert' || ev.kind === 'replace') {
      images.fullDocument = entry.doc!.raw;
    } else if (ev.kind === 'update') {
      if (fullDocument === 'updateLookup') {
        const coll = engine.catalog.get(entry.db, entry.coll);
        const sameCollection = coll && Buffer.compare(coll.uuid.buffer, entry.uuid!) === 0;
        const current = sameCollection ? coll.docs.get(entry.doc!.idKey) : undefined;
        images.fullDocument = current ? current.raw : null;
      } else if (fullDocument === 'whenAvailable' || fullDocument === 'required') {
        // post-images exist for collections with changeStreamPreAndPostImages enabled
        if (entry.pre) images.fullDocument = entry.doc!.raw;
        else if (fullDocument === 'required') throw missingImage('post-image', entry);
        else images.fullDocument = null;
      }
    }
    if (fullDocumentBeforeChange !== 'off' && (ev.kind === 'update' || ev.kind === 'replace' || ev.kind === 'delete')) {
      if (entry.pre) images.fullDocumentBeforeChange = entry.pre.raw;
      else if (fullDocumentBeforeChange === 'required') throw missingImage('pre-image', entry);
      else images.fullDocumentBeforeChange = null;
    }
    return images;
  }
}

function missingImage(kind: string, entry: OplogEntry): CommandError {
  return new CommandError(
    47,
    `Change stream was configured to require a ${kind} for all update, delete and replace events, but the ${kind} was not found for event at ${formatTs(entry.ts)} in ${entry.db}.${entry.coll}`,
    { codeName: 'NoMatchingDocument' },
  );
}

function nsValue(entry: OplogEntry, kind: EventKind): Document {
  return kind === 'dropDatabase' ? { db: entry.db } : { db: entry.db, coll: entry.coll };
}

/** Room an event needs in a batch, roughly. */
function estimatedSize(ev: PendingEvent): number {
  return 512 + (ev.entry.doc ? ev.entry.doc.size : 0) + (ev.entry.pre ? ev.entry.pre.size : 0);
}

/** Writes the fields of an event, embedding the stored document bytes as they are. */
function encodeEvent(w: BsonWriter, ev: PendingEvent, images: EventImages, expanded: boolean): BsonWriter {
  const { entry, kind } = ev;
  w.startObject('_id').asciiString('_data', ev.token).end();
  w.asciiString('operationType', kind);
  w.timestamp('clusterTime', entry.ts);
  if (hasCollectionUuid(entry, kind, expanded)) w.value('collectionUUID', uuidValue(entry.uuid!));
  w.date('wallTime', entry.wall);
  if (kind === 'invalidate') return w;
  if (images.fullDocument !== undefined) {
    if (images.fullDocument === null) w.null('fullDocument');
    else w.rawDocument('fullDocument', images.fullDocument);
  }
  w.startObject('ns').string('db', entry.db);
  if (kind !== 'dropDatabase') w.string('coll', entry.coll);
  w.end();
  if (kind === 'insert' || kind === 'update' || kind === 'replace' || kind === 'delete') {
    w.startObject('documentKey');
    if (entry.doc) w.raw(entry.doc.idElement());
    else w.value('_id', entry.id);
    w.end();
  }
  if (kind === 'update') w.value('updateDescription', updateDescription(entry, expanded));
  if (kind === 'rename' && entry.cmd?.kind === 'rename') w.value('to', { db: entry.cmd.toDb, coll: entry.cmd.toColl });
  const description = expandedDescription(entry, kind, expanded);
  if (description) w.value('operationDescription', description);
  const stateBefore = stateBeforeChange(entry, kind, expanded);
  if (stateBefore) w.value('stateBeforeChange', stateBefore);
  if (images.fullDocumentBeforeChange !== undefined) {
    if (images.fullDocumentBeforeChange === null) w.null('fullDocumentBeforeChange');
    else w.rawDocument('fullDocumentBeforeChange', images.fullDocumentBeforeChange);
  }
  return w;
}

/** A view has no collection UUID: its create event (showExpandedEvents) has none either. */
function hasCollectionUuid(entry: OplogEntry, kind: EventKind, expanded: boolean): boolean {
  if (!expanded || !entry.uuid || kind === 'invalidate' || kind === 'dropDatabase') return false;
  return !(entry.cmd?.kind === 'create' && typeof entry.cmd.options.viewOn === 'string');
}

function uuidValue(bytes: Uint8Array): UUID {
  return new UUID(bytes);
}

function expandedDescription(entry: OplogEntry, kind: EventKind, expanded: boolean): Document | undefined {
  if (!expanded || !entry.cmd) return undefined;
  const cmd = entry.cmd;
  switch (kind) {
    case 'create':
      if (cmd.kind !== 'create') return undefined;
      // A view's create event describes the view (viewOn, pipeline); a collection's, its _id index and options.
      return typeof cmd.options.viewOn === 'string'
        ? { viewOn: cmd.options.viewOn, pipeline: cmd.options.pipeline ?? [] }
        : { idIndex: { v: 2, key: { _id: 1 }, name: '_id_' }, ...cmd.options };
    case 'createIndexes':
    case 'dropIndexes':
      return cmd.kind === 'createIndexes' || cmd.kind === 'dropIndexes' ? { indexes: [cmd.spec] } : undefined;
    case 'modify':
      return cmd.kind === 'collMod' ? cmd.options : undefined;
    case 'rename':
      if (cmd.kind !== 'rename') return undefined;
      // dropTarget: the UUID of the collection the rename replaced, only when it replaced one.
      return { to: { db: cmd.toDb, coll: cmd.toColl }, ...(cmd.dropTargetUuid ? { dropTarget: new UUID(cmd.dropTargetUuid) } : {}) };
    default:
      return undefined;
  }
}

/** An update event's `updateDescription`; with showExpandedEvents it has disambiguatedPaths (maybe empty). */
function updateDescription(entry: OplogEntry, expanded: boolean): Document {
  const desc = entry.update!;
  return expanded ? { ...desc, disambiguatedPaths: disambiguatedPaths(desc, entry.doc!.obj) } : desc;
}

/** A modify event's `stateBeforeChange`: the collection's options (and the index's) before it. */
function stateBeforeChange(entry: OplogEntry, kind: EventKind, expanded: boolean): Document | undefined {
  return expanded && kind === 'modify' && entry.cmd?.kind === 'collMod' ? entry.cmd.before : undefined;
}

/** The event as an object, for user pipelines; stored documents decode only when read. */
function eventObject(ev: PendingEvent, images: EventImages, expanded: boolean): Document {
  const { entry, kind } = ev;
  const obj: Document = {
    _id: { _data: ev.token },
    operationType: kind,
    clusterTime: toTimestamp(entry.ts),
  };
  if (hasCollectionUuid(entry, kind, expanded)) obj.collectionUUID = uuidValue(entry.uuid!);
  obj.wallTime = new Date(entry.wall);
  if (kind === 'invalidate') return obj;
  const lazy = (name: string, raw: Uint8Array | null | undefined): void => {
    if (raw === undefined) return;
    if (raw === null) {
      obj[name] = null;
      return;
    }
    let decoded: Document | undefined;
    Object.defineProperty(obj, name, {
      enumerable: true,
      configurable: true,
      get: () => (decoded ??= BSON.deserialize(raw)),
      set: (v: Document) => {
        decoded = v;
      },
    });
  };
  lazy('fullDocument', images.fullDocument);
  obj.ns = nsValue(entry, kind);
  if (kind === 'insert' || kind === 'update' || kind === 'replace' || kind === 'delete') obj.documentKey = { _id: entry.id };
  if (kind === 'update') obj.updateDescription = updateDescription(entry, expanded);
  if (kind === 'rename' && entry.cmd?.kind === 'rename') obj.to = { db: entry.cmd.toDb, coll: entry.cmd.toColl };
  const description = expandedDescription(entry, kind, expanded);
  if (description) obj.operationDescription = description;
  const stateBefore = stateBeforeChange(entry, kind, expanded);
  if (stateBefore) obj.stateBeforeChange = stateBefore;
  lazy('fullDocumentBeforeChange', images.fullDocumentBeforeChange);
  return obj;
}
