/**
 * A change stream whose events stay BSON bytes: the tailer reads what it needs from each event
 * (change-event.ts) and writes the inserted document's JSON line straight from its bytes
 * (spool/bson-lines.ts), instead of the driver decoding every event into objects.
 *
 * It runs the change stream's commands itself through the driver (`aggregate` with a
 * `$changeStream` stage, `getMore`, `killCursors`; `db.command` with `raw: true`, so the reply's
 * cursor document comes back as bytes), in one explicit session, on the primary, and follows the
 * change streams specification (mongodb/specifications, source/change-streams) where the driver's
 * ChangeStream would:
 *  - resume token: the `_id` of the last event returned, or the batch's postBatchResumeToken
 *    once every event of the batch was returned (and for an empty batch);
 *  - resume: after a resumable error (a network error, CursorNotFound, or a server error labelled
 *    ResumableChangeStreamError) on a getMore, the cursor is killed and the stream reopened once,
 *    after the resume token (or at the start time, or the first aggregate's operationTime, when
 *    no token was seen yet); the initial aggregate is retried once after a network error;
 *  - an event without `_id` is an error (the stream could not resume past it);
 *  - a first reply without postBatchResumeToken (a server that does not send it) fails with
 *    NoPostBatchResumeTokenError before any event is handed out: an idle stream's position could
 *    not advance; the tailer reopens at the same position with the driver's ChangeStream.
 * Read-ahead (option `readAhead`, the tailer's): once a batch with events has arrived, the getMore for the next one is sent at once,
 * so the server's reply (and its trip through the socket) overlaps the handling of this batch
 * rather than following it: at most one batch more in memory. Its error surfaces at the next
 * fetch, handled as above (the resume token then covers every event of the batch before it).
 * The batch's events are read synchronously, so the reply's bytes are taken off the socket only
 * when the reader lets the event loop turn: `turnDue` says when (every READ_AHEAD_TURN_EVERY
 * events while that reply has not arrived). Without the turns a reply of 500 events (~300 KB)
 * filled the socket's buffers, the server stopped sending it, and the next fetch waited for the
 * rest: the ceiling benchmark's archiver waited more than 1 ms on 290-297 of 300 fetches (2.7-4.6 s
 * in all per 150,000 events, at load 9-13 on 2 cores); with the turns on 29-52, 0.18-0.96 s
 * (bench/extmem/ceiling-alone.ts, rounds alternating without and with them in one process).
 * Each command selects its server: on a replica set that is the primary, which holds the cursor
 * (after a failover the getMore fails with CursorNotFound and the stream resumes on the new
 * primary). Behind mongos routers or a load balancer a command may reach another server than the
 * one holding the cursor: the tailer uses DriverChangeStream there (driver-change-stream.ts).
 */
import { BSON, Long, MongoNetworkError, MongoServerError, ReadPreference, Timestamp } from 'mongodb';
import type { ClientSession, Db, Document, MongoClient, ResumeToken } from 'mongodb';
import { CronLogError } from '../errors.js';
import { nextMember, readDocumentMembers } from '../bson/elements.js';
import type { Member } from '../bson/elements.js';
import { ChangeEvent } from './change-event.js';
import { YoungGarbage, minorCollection } from './young-garbage.js';
import type { MinorCollection } from './young-garbage.js';

/**
 * Events read between two turns of the event loop while a getMore sent ahead has not arrived
 * (see the header): a tenth of a batch of RAW_CHANGE_STREAM_BATCH_SIZE (1,000); a turn costs a few µs.
 */
export const READ_AHEAD_TURN_EVERY = 100;

/** What a change stream of the tailer reads (either client). */
export interface ChangeStreamSpec {
  /** Options of the `$changeStream` stage, without the resume point (fullDocument…). */
  changeStream: Document;
  /** Where to start: after this token, or at this cluster time (else: now). */
  resumeAfter?: ResumeToken;
  startAtOperationTime?: Timestamp;
  /** Stages after `$changeStream`. */
  pipeline: Document[];
  batchSize: number;
  /** How long a getMore waits for new events. */
  maxAwaitTimeMS: number;
}

export interface RawChangeStreamOptions extends ChangeStreamSpec {
  client: MongoClient;
  db: Db;
  collection: string;
  /** The server's maxWireVersion (from its hello): which resume rule applies (default: 4.4+'s). */
  maxWireVersion?: number;
  /** Send the next getMore as soon as a batch with events arrives (see the header; default false). */
  readAhead?: boolean;
  /**
   * The minor collections asked for between batches (young-garbage.ts): default V8's, when
   * its external memory grew by COLLECT_AFTER_GROWTH; null: none.
   */
  minorCollection?: MinorCollection | null;
  externalBytes?: () => number;
}

/** The server's change stream batches carry no postBatchResumeToken (see the header). */
export class NoPostBatchResumeTokenError extends CronLogError {
  constructor() {
    super(
      'CHANGE_STREAM_UNSUPPORTED',
      "the server's change stream batches carry no postBatchResumeToken, which the raw change stream relies on to track its position; read it with the driver's change stream instead",
    );
    this.name = 'NoPostBatchResumeTokenError';
  }
}

/**
 * The codes the change streams specification resumes after on servers before 4.4 (wire
 * version < 9), which label no error ResumableChangeStreamError: HostUnreachable,
 * HostNotFound, NetworkTimeout, ShutdownInProgress, PrimarySteppedDown, ExceededTimeLimit,
 * SocketException, NotWritablePrimary, InterruptedAtShutdown, InterruptedDueToReplStateChange,
 * NotPrimaryNoSecondaryOk, NotPrimaryOrSecondary, StaleShardVersion, StaleEpoch, StaleConfig,
 * RetryChangeStream, FailedToSatisfyReadPreference, CursorNotFound.
 */
const PRE_44_RESUMABLE_CODES = new Set([6, 7, 89, 91, 189, 262, 9001, 10107, 11600, 11602, 13435, 13436, 63, 150, 13388, 234, 133, 43]);

/**
 * Whether the stream may resume after `err` from a getMore (the driver's rule): a network
 * error; from servers 4.4+ (wire version 9+, or unknown) CursorNotFound or an error the server
 * labelled ResumableChangeStreamError; from older servers one of their resumable codes.
 */
export function isResumableChangeStreamError(err: unknown, maxWireVersion?: number): boolean {
  if (err instanceof MongoNetworkError) return true;
  if (!(err instanceof MongoServerError)) return false;
  if (maxWireVersion !== undefined && maxWireVersion < 9) return typeof err.code === 'number' && PRE_44_RESUMABLE_CODES.has(err.code);
  if (err.hasErrorLabel('NonResumableChangeStreamError')) return false;
  return err.code === 43 || err.hasErrorLabel('ResumableChangeStreamError');
}

export class RawChangeStream {
  private session: ClientSession | undefined;
  private cursorId: bigint | undefined;
  private closed = false;
  private readonly abort = new AbortController();
  /** The reply's cursor document, and where in it the batch's next event is. */
  private reply: Uint8Array | undefined;
  private next = 0;
  private batchEnd = 0;
  private postBatchToken = -1;
  /** The resume token: bytes and offset of its document, decoded when asked for. */
  private tokenSrc: Uint8Array | undefined;
  private tokenAt = 0;
  private tokenValue: ResumeToken | undefined;
  private startAt: Timestamp | undefined;
  /** The getMore sent ahead for the batch after the current one (readAhead). */
  private ahead: Promise<Document> | undefined;
  /** Whether that getMore's reply (or error) has arrived; events read since the last turn. */
  private aheadArrived = false;
  private sinceTurn = 0;
  /** Events read of the current batch; whether the batch before it was full. */
  private batchEvents = 0;
  private fullBatch = false;
  private readonly event = new ChangeEvent();
  private readonly member: Member = { type: 0, keyFrom: 0, keyTo: 0, value: 0 };
  private readonly young: YoungGarbage;

  constructor(private readonly options: RawChangeStreamOptions) {
    this.young = new YoungGarbage(options.minorCollection !== undefined ? options.minorCollection : minorCollection(), options.externalBytes);
    this.startAt = options.startAtOperationTime;
    if (options.resumeAfter !== undefined) this.tokenValue = options.resumeAfter;
  }

  /** The token to resume after every event returned so far (undefined before the first batch). */
  get resumeToken(): ResumeToken | undefined {
    if (this.tokenValue === undefined && this.tokenSrc !== undefined) {
      const size = new DataView(this.tokenSrc.buffer, this.tokenSrc.byteOffset + this.tokenAt, 4).getInt32(0, true);
      this.tokenValue = BSON.deserialize(this.tokenSrc.subarray(this.tokenAt, this.tokenAt + size), { promoteValues: false, promoteLongs: false }) as ResumeToken;
    }
    return this.tokenValue;
  }

  /**
   * The next event of the current batch, or undefined when the batch is used up (then call
   * `fetch`). The returned view is reused by the next call; the resume token covers it.
   */
  read(): ChangeEvent | undefined {
    const b = this.reply;
    if (b === undefined) return undefined;
    if (this.next >= this.batchEnd) {
      this.batchDone();
      return undefined;
    }
    const m = this.member;
    this.next = nextMember(b, this.next, m);
    if (m.type !== 0x03) throw new CronLogError('INTERNAL', `a change stream batch holds a BSON value of type ${m.type}, not a document`);
    const ev = this.event;
    this.batchEvents++;
    ev.read(b, m.value);
    if (ev.tokenAt < 0) {
      throw new CronLogError('INTERNAL', 'A change stream document has been received that lacks a resume token (_id); the pipeline must keep _id');
    }
    this.tokenSrc = b;
    this.tokenAt = ev.tokenAt;
    this.tokenValue = undefined;
    if (this.next >= this.batchEnd) this.batchDone();
    return ev;
  }

  /**
   * Whether the reader should let the event loop turn (`await setImmediate`) before reading on:
   * a getMore sent ahead has not arrived yet and READ_AHEAD_TURN_EVERY events were read since the
   * last turn (see the header). Counts the read it is asked after.
   */
  turnDue(): boolean {
    if (this.ahead === undefined || this.aheadArrived) return false;
    if (++this.sinceTurn < READ_AHEAD_TURN_EVERY) return false;
    this.sinceTurn = 0;
    return true;
  }

  /**
   * Whether the last batch read to its end held batchSize events: the server had more waiting
   * than one batch, so the reader is behind the source (the spool's burst level, pending-lines.ts).
   * A live stream's batches at the pace of the application's writes are far from full.
   */
  get behind(): boolean {
    return this.fullBatch;
  }

  /** Minor collections asked for so far (young-garbage.ts). */
  get minorCollections(): number {
    return this.young.collections;
  }

  /**
   * Every event of the batch was returned: the postBatchResumeToken covers them. The token's
   * bytes are copied out of the reply, so that nothing holds the reply's buffers (about twice
   * its size, see young-garbage.ts) once its batch is read.
   */
  private batchDone(): void {
    const reply = this.reply;
    if (reply !== undefined && this.postBatchToken >= 0) {
      this.tokenSrc = reply;
      this.tokenAt = this.postBatchToken;
      this.tokenValue = undefined;
    }
    if (reply !== undefined && this.tokenSrc === reply) {
      const size = new DataView(reply.buffer, reply.byteOffset + this.tokenAt, 4).getInt32(0, true);
      this.tokenSrc = Uint8Array.prototype.slice.call(reply, this.tokenAt, this.tokenAt + size);
      this.tokenAt = 0;
    }
    this.reply = undefined;
  }

  /**
   * Gets the next batch: opens the stream the first time, then a getMore (which waits up to
   * maxAwaitTimeMS for events). Returns false when the server ended the stream (cursor id 0).
   */
  async fetch(): Promise<boolean> {
    if (this.closed) throw new CronLogError('INTERNAL', 'the change stream is closed');
    if (this.reply !== undefined) throw new CronLogError('INTERNAL', 'fetch() before the batch was read');
    if (this.cursorId === undefined) {
      await this.open(true);
      return true;
    }
    if (this.cursorId === 0n) return false;
    // No reply read so far is referenced any more (batchDone): a good time for a scavenge.
    this.young.due();
    try {
      const ahead = this.ahead;
      this.ahead = undefined;
      this.take(await (ahead ?? this.getMore(this.cursorId)));
    } catch (err) {
      if (this.closed || !isResumableChangeStreamError(err, this.options.maxWireVersion)) throw err;
      await this.killCursor();
      await this.open(false);
    }
    return true;
  }

  private getMore(cursorId: bigint): Promise<Document> {
    return this.options.db.command(
      {
        getMore: Long.fromBigInt(cursorId),
        collection: this.options.collection,
        batchSize: this.options.batchSize,
        maxTimeMS: this.options.maxAwaitTimeMS,
      },
      this.commandOptions(),
    );
  }

  /**
   * After a batch with events, the next getMore is sent at once (see the header): its reply
   * travels while this batch is handled. Not after an empty batch (the caller fetches at once
   * then), nor once the server ended the cursor or the stream is closed.
   */
  private readAhead(): void {
    const id = this.cursorId;
    if (this.options.readAhead !== true || this.closed || id === undefined || id === 0n || this.reply === undefined) return;
    const ahead = this.getMore(id);
    const arrived = (): void => {
      if (this.ahead === ahead) this.aheadArrived = true;
    };
    // Awaited by the next fetch (which handles its error); never an unhandled rejection meanwhile.
    ahead.then(arrived, arrived);
    this.ahead = ahead;
    this.aheadArrived = false;
    this.sinceTurn = 0;
  }

  private commandOptions() {
    this.session ??= this.options.client.startSession({ causalConsistency: false });
    return { session: this.session, raw: true, readPreference: ReadPreference.primary, signal: this.abort.signal } as const;
  }

  /** Runs the aggregate that opens (or reopens) the stream at the current resume point. */
  private async open(first: boolean): Promise<void> {
    const token = this.resumeToken;
    const start = token !== undefined ? { resumeAfter: token } : this.startAt !== undefined ? { startAtOperationTime: this.startAt } : {};
    const command = {
      aggregate: this.options.collection,
      pipeline: [{ $changeStream: { ...this.options.changeStream, ...start } }, ...this.options.pipeline],
      cursor: { batchSize: this.options.batchSize },
    };
    let reply: Document;
    try {
      reply = await this.options.db.command(command, this.commandOptions());
    } catch (err) {
      // Like a retryable read: the first aggregate is tried once more after a network error.
      if (!first || this.closed || !(err instanceof MongoNetworkError)) throw err;
      reply = await this.options.db.command(command, this.commandOptions());
    }
    if (token === undefined && this.startAt === undefined && reply.operationTime instanceof Timestamp) this.startAt = reply.operationTime;
    this.take(reply);
    if (first && this.postBatchToken < 0) {
      // Nothing was handed out yet: the caller reopens at the same position with another client.
      this.reply = undefined;
      throw new NoPostBatchResumeTokenError();
    }
  }

  /** Takes a reply's cursor: its id, its batch, its postBatchResumeToken. */
  private take(reply: Document): void {
    const cursor = reply.cursor as unknown;
    if (!(cursor instanceof Uint8Array)) throw new CronLogError('INTERNAL', 'the server replied without a cursor document');
    const types: number[] = [];
    const members = readDocumentMembers(cursor, 0, ['id', 'firstBatch', 'nextBatch', 'postBatchResumeToken'], types);
    const [id = -1, first = -1, next = -1, pbrt = -1] = members;
    const batch = first >= 0 ? first : next;
    const batchType = first >= 0 ? types[1] : types[2];
    if (id < 0 || batch < 0 || batchType !== 0x04 || (types[0] !== 0x12 && types[0] !== 0x10)) {
      throw new CronLogError('INTERNAL', 'the server replied with a cursor document without an id or a batch');
    }
    const view = new DataView(cursor.buffer, cursor.byteOffset, cursor.byteLength);
    this.cursorId = types[0] === 0x12 ? view.getBigInt64(id, true) : BigInt(view.getInt32(id, true));
    const size = view.getInt32(batch, true);
    this.fullBatch = this.batchEvents >= this.options.batchSize;
    this.batchEvents = 0;
    this.reply = cursor;
    this.next = batch + 4;
    this.batchEnd = batch + size - 1;
    this.postBatchToken = pbrt >= 0 && types[3] === 0x03 ? pbrt : -1;
    if (this.next >= this.batchEnd) this.batchDone();
    else this.readAhead();
  }

  private async killCursor(): Promise<void> {
    const id = this.cursorId;
    this.cursorId = undefined;
    this.reply = undefined;
    // A getMore sent ahead is interrupted by close() (its signal), or has failed already.
    this.ahead = undefined;
    if (id === undefined || id === 0n) return;
    await this.options.db
      .command(
        { killCursors: this.options.collection, cursors: [Long.fromBigInt(id)] },
        { session: this.session, readPreference: ReadPreference.primary, signal: AbortSignal.timeout(2000) },
      )
      .catch(() => undefined);
  }

  /** Stops the stream: interrupts a waiting getMore, kills the cursor, ends the session. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.abort.abort();
    await this.killCursor();
    await this.session?.endSession().catch(() => undefined);
  }
}
