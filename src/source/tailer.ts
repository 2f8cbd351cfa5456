/**
 * The capture loop: change stream → hourly spool → checkpoint in `jobs`.
 *
 * - Each event's document is encoded as one JSON line and appended to the spool file of the
 *   hour its timestamp falls in (src/hours/event-time.ts, src/hours/hour-clock.ts). Events
 *   arrive as BSON bytes from the change-stream client chosen for the deployment
 *   (stream-client.ts); an insert's line is written from its document's bytes straight into the
 *   spool (src/spool/bson-lines.ts), other events and documents that writer does not map are
 *   decoded and encoded (src/spool/json-lines.ts).
 * - A checkpoint flushes the spool (its gzip members written + fsync) and then saves the resume
 *   token read in the same tick as the spool buffers were taken, and the durable offsets. One
 *   starts on a schedule (checkpoint-schedule.ts: every `checkpointIntervalMs`, and when the
 *   stream goes quiet) and whenever more than `maxPendingBytes` wait in memory. Reading the
 *   stream waits when twice `maxPendingBytes` wait, or when more than MAX_COMPRESSING slabs of
 *   lines are being compressed, so memory stays bounded. While the raw stream's next batch is
 *   on its way (read-ahead), reading lets the event loop turn every READ_AHEAD_TURN_EVERY events
 *   so that its reply comes off the socket meanwhile (raw-change-stream.ts).
 * - An idle stream's resume token advances (postBatchResumeToken) and is checkpointed too; on a
 *   server without postBatchResumeToken (the driver's client then) it stays at the last event's.
 * - Which change-stream client reads the events is chosen from what the server advertises
 *   (stream-client.ts) and logged with the reason; a raw stream whose first batch shows no
 *   postBatchResumeToken is reopened at the same position with the driver's.
 * - Before a flush creates a spool file, the last checkpoint is saved again listing it (at
 *   offset 0): every file in open/ is covered by the checkpoint, and one it does not cover is
 *   not this capture's (the spool keeps and reports it at the next start).
 * - Closing an hour: its file is detached, checkpointed as `closing`, then moved to sealed/.
 *   A file stays listed as closing until its move succeeded (later closes add to the list);
 *   a failed move stops capture (exit code 4) before any later checkpoint.
 * - History lost (the token fell off the oplog): the gap is repaired from a query
 *   (gap-repair.ts), then the stream restarts from the cluster time taken before it.
 * - Capture by query (captureMode, capture-mode.ts): on a server without change streams the
 *   events come from a QueryStream (query-stream.ts) instead, read and checkpointed the same way;
 *   its position is the last (timestamp, `_id`) read. Switching between the two modes with a
 *   checkpoint of the other kind rebuilds from the checkpoint's hour, like --reset-from.
 * - First start (no checkpoint): the current hour is archived from its start. A checkpoint is
 *   saved first (position: the cluster time read now; `pendingRepair`: first-hour, from the
 *   hour's start), then the hour's documents written so far are rebuilt from a query
 *   (gap-repair.ts), and the stream starts at the cluster time read before that query, with the
 *   dedupe window. `since` is that hour's start. A crash at any point repeats the query at the
 *   next start, skipping what the spool holds, until the repair's checkpoint clears the marker.
 * - Takeover from another host (host-takeover.ts): the checkpoint was saved on another host and
 *   spool files it lists are not on this one: the lost hours are rebuilt from a query before the
 *   stream opens, skipping what their delivered parts hold.
 * - MongoDB unreachable (mongo-errors.ts: a network error, server selection timing out, no
 *   primary): capture waits it out, reopening the stream at its position with capped exponential
 *   backoff (src/retry.ts), forever unless `mongoRetry.giveUpAfterMs` is set; the outage is
 *   recorded in `mongo` (mongo-outage.ts) for readiness, metrics and alerts. Nothing is lost or
 *   repeated: the stream resumes after the last event it returned.
 * - Fenced (DESIGN invariant 8, src/ledger/fence.ts): with `fencing`, the checkpoint is claimed
 *   at start (stamped with the lease epoch in the same update that reads it) and every save is
 *   refused once a newer owner stamped it. A refusal (FENCED) stops capture at once (done()
 *   rejects with it; `run` exits 3), from whichever path met it: scheduled or backpressure
 *   checkpoints, the listing of new files, the closing of hours. When the checkpoint's previous
 *   owner is not provably dead, the spool does not reuse its files (src/spool/spool.ts).
 */
import type { ChangeStreamDocument, Collection, Db, Document, MongoClient, ResumeToken } from 'mongodb';
import { EJSON, Timestamp } from 'bson';
import { CronLogError } from '../errors.js';
import type { CaptureCheckpoint, DedupeWindow, PendingRepair, StreamPosition } from '../ledger/checkpoints.js';
import { CheckpointStore, positionSeconds } from '../ledger/checkpoints.js';
import type { CheckpointOwner } from '../ledger/checkpoints.js';
import type { FenceHolder } from '../ledger/fence.js';
import { isFenced } from '../ledger/fence.js';
import { processAlive } from '../spool/local-process.js';
import { hostname } from 'node:os';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { BsonLineWriter } from '../spool/bson-lines.js';
import type { DecodeOptions, JsonMode, LineEncoder } from '../spool/json-lines.js';
import { decodeOptionsFor, lineEncoder } from '../spool/json-lines.js';
import { Spool } from '../spool/spool.js';
import { fileKey, spoolLayout } from '../spool/spool-files.js';
import type { SpoolFileId } from '../spool/spool-files.js';
import type { SpoolFileState } from '../spool/spool.js';
import { HourClock } from '../hours/hour-clock.js';
import { clusterTimeNow, tokenClusterTime } from './cluster-time.js';
import type { IdKey } from '../spool/document-ids.js';
import type { KeyBudget } from '../spool/key-files.js';
import { removeKeyDirectoriesOfDeadProcesses } from '../spool/key-files.js';
import { idKeyOf } from '../spool/document-ids.js';
import type { ChangeEvent } from './change-event.js';
import { eventTimeReader, rawEventTimeReader } from '../hours/event-time.js';
import type { Logger } from '../log.js';
import { silentLogger } from '../log.js';
import type { CaptureMode, CaptureOperation } from '../config/index.js';
import { CheckpointSchedule } from './checkpoint-schedule.js';
import type { Dedupe, GapRepairCapture, RepairReason } from './gap-repair.js';
import { archivedIdsProbe, firstRebuiltHour, gapStart, repairGap } from './gap-repair.js';
import type { TakeoverArchive } from './host-takeover.js';
import { detectTakeover, rebuildLostHours } from './host-takeover.js';
import { throwUnlessHistoryLost } from './resume-policy.js';
import { isMongoUnavailable, mongoServers } from './mongo-errors.js';
import type { MongoOutage } from './mongo-outage.js';
import { MongoOutageTracker } from './mongo-outage.js';
import type { RetryPolicy } from '../retry.js';
import { isAbortError, raceAbort, retryPolicy, throwIfAborted, withRetry } from '../retry.js';
import type { CaptureStream, StreamClient, StreamClientChoice } from './stream-client.js';
import { CHANGE_STREAM_BATCH_SIZE, NO_PBRT_CHOICE, chooseStreamClient, openCaptureStream } from './stream-client.js';
import { NoPostBatchResumeTokenError, RawChangeStream } from './raw-change-stream.js';
import { chooseCaptureMode, serverHello } from './capture-mode.js';
import { isQueryPosition, queryPositionBefore, QueryStream } from './query-stream.js';

export interface TailerOptions {
  client: MongoClient;
  database: string;
  collection: string;
  jobsCollection: string;
  spoolDirectory: string;
  timestampField: string;
  timezone: string;
  jsonMode: JsonMode;
  gzipLevel: number;
  /** gzip level of spool members while capture outruns compression (see spool/pending-lines.ts); default: gzipLevel. */
  gzipBurstLevel?: number;
  checkpointIntervalMs: number;
  captureOperations: readonly CaptureOperation[];
  /** Flush early when this many bytes wait in memory (default 8 MiB). */
  maxPendingBytes?: number;
  /** Longest a getMore waits for new events (default 1000 ms). */
  maxAwaitTimeMS?: number;
  /** Discard the checkpointed position and rebuild from a query from this instant on. */
  resetFrom?: Date;
  /** Which change-stream client reads events (default: chosen at start, see stream-client.ts). */
  streamClient?: StreamClient;
  /** Change stream or capture by query (default auto: see capture-mode.ts). */
  captureMode?: CaptureMode;
  /** Capture by query: read documents once their timestamp is this old (ms; default 5000). */
  querySettleMs?: number;
  /** Capture by query: wait between queries once caught up (ms; default 1000). */
  queryPollIntervalMs?: number;
  /** Waiting out a MongoDB outage (see the header); default: MONGO_RETRY_DEFAULTS, forever. */
  mongoRetry?: MongoRetryOptions;
  /**
   * The archive a takeover from another host reads and records in (host-takeover.ts). Without
   * it, spool files lost with another host stop the start (SPOOL_CORRUPT) as on the same host.
   */
  archive?: TakeoverArchive;
  /** The namespace lease's fence (once acquired): checkpoint saves carry its epoch (see the header). */
  fencing?: FenceHolder;
  /**
   * Internal (tests, benchmarks): the `_id` keys a gap repair or a dedupe window holds in memory
   * (default ID_KEYS_IN_MEMORY; beyond, temp files under `spoolDirectory`: gap-repair.ts).
   */
  keyBudget?: KeyBudget;
  log?: Logger;
}

export interface MongoRetryOptions {
  /** First backoff delay (ms). */
  baseDelayMs?: number;
  /** Cap of a backoff delay (ms). */
  maxDelayMs?: number;
  /** Stop capture (MONGO_UNAVAILABLE) once MongoDB has been unreachable this long; default: never. */
  giveUpAfterMs?: number;
}

export const MONGO_RETRY_DEFAULTS = { baseDelayMs: 500, maxDelayMs: 10_000 } as const;

export interface TailerStats {
  /** Cluster time of the stream position (last event, or the idle resume token). */
  clusterTime: Date | undefined;
  captured: number;
  duplicatesSkipped: number;
  repaired: number;
  checkpoints: number;
  lastEventAt: Date | undefined;
  lastCheckpointAt: Date | undefined;
  streamOpen: boolean;
  /** The MongoDB outage capture is waiting out, if any. */
  mongoOutage: MongoOutage | undefined;
  /** MongoDB outages so far. */
  mongoOutages: number;
  /** Spool gzip members compressed at the burst level (capture catching up or outrunning compression) so far. */
  gzipBurstMembers: number;
}

const TERMINAL_OPS = new Set(['drop', 'rename', 'dropDatabase', 'invalidate']);

/**
 * Whether the process that wrote a checkpoint is certainly not running: it ran on this host and
 * its pid is gone. Another host, a live pid (or this very process) or no record: it may be.
 */
function provablyDead(owner: CheckpointOwner): boolean {
  return owner.host === hostname() && owner.pid !== undefined && owner.pid !== process.pid && !processAlive(owner.pid);
}

/** A write, rename or integrity failure of the spool: capture must stop (exit code 4). */
function isSpoolFailure(err: unknown): err is CronLogError {
  return err instanceof CronLogError && (err.code === 'SPOOL_IO' || err.code === 'SPOOL_CORRUPT');
}

/** Slabs (~1 MiB of lines each) being compressed at once before reading waits for them. */
const MAX_COMPRESSING = 4;

/**
 * How long a stop waits for its checkpoint writes (the final one, or one in flight) before it
 * asks whether MongoDB answers at all: a `ping` given STOP_PING_MS. No answer: the writes are
 * given up (the driver would wait for server selection, 15 s by default, past the shutdown
 * grace). An answer: MongoDB is there, only slow, and the stop keeps waiting for them.
 */
const STOP_SAVE_WAIT_MS = 1000;
const STOP_PING_MS = 2500;

export class Tailer {
  readonly options: Required<Pick<TailerOptions, 'maxPendingBytes' | 'maxAwaitTimeMS'>> & TailerOptions;
  readonly spool: Spool;
  readonly checkpoints: CheckpointStore;
  readonly clock: HourClock;
  /** Whether MongoDB is reachable, as capture last saw it. */
  readonly mongo: MongoOutageTracker;
  private readonly mongoRetry: RetryPolicy;
  private readonly giveUpAfterMs: number;
  /** Aborted when capture stops: cuts a backoff wait short. */
  private readonly stopController = new AbortController();
  /**
   * Aborted by a stop that finds MongoDB unreachable (at once when an outage is known; else when
   * a ping after STOP_SAVE_WAIT_MS gets no answer): a checkpoint write waiting for server
   * selection (up to serverSelectionTimeoutMS, 15 s by default) is given up, so a stop is
   * prompt. The spool is flushed all the same; the next start resumes from the last checkpoint
   * saved and cuts the spool back to it.
   */
  private readonly savesGivenUp = new AbortController();

  /** Whether a stop gave up waiting for MongoDB (its last checkpoint writes were not saved). */
  get gaveUpOnMongo(): boolean {
    return this.savesGivenUp.signal.aborted;
  }
  private readonly db: Db;
  private readonly coll: Collection<Document>;
  private readonly log: Logger;
  private readonly encode: LineEncoder;
  private readonly idKey: (id: unknown) => IdKey;
  private readonly readTime: ReturnType<typeof eventTimeReader>;
  private readonly readRawTime: ReturnType<typeof rawEventTimeReader>;
  /** Writes inserted documents' lines from their BSON (analytics mode); undefined in ejson mode. */
  private readonly bsonWriter: BsonLineWriter | undefined;
  private readonly decodeOptions: DecodeOptions;
  private stream: CaptureStream | QueryStream | undefined;
  private streamClient: StreamClient = 'raw';
  /** The server's maxWireVersion, when its hello said. */
  private maxWireVersion: number | undefined;
  /** Whether capture reads by query (chosen at start). */
  private byQuery = false;
  private position: StreamPosition | undefined;
  private savedPositionJson = '';
  private savedSpoolJson = '';
  /** What the checkpoint in `jobs` holds now (loaded or last saved by this tailer). */
  private saved: Omit<CaptureCheckpoint, 'updatedAt'> | undefined;
  private dedupe: Dedupe | undefined;
  private checkpointChain: Promise<void> = Promise.resolve();
  private checkpointsRunning = 0;
  private readonly schedule: CheckpointSchedule;
  /** Events read (archived or skipped) when the last checkpoint took its lines. */
  private eventsAtCheckpoint = 0;
  private stopping = false;
  private running: Promise<void> | undefined;
  private fatal: unknown;
  /** Cluster time of the last event handled (seconds, increment); -1 before any. */
  private clusterSeconds = -1;
  private clusterIncrement = 0;
  /** Cluster time of the stream position, for stats (seconds; -1 when unknown). */
  private positionSeconds = -1;
  private lastEventMs = -1;
  /** The last resume token read from an open stream (covers every event handled). */
  private observedToken: ResumeToken | undefined;
  private loadedAt: Date | undefined;
  /** Hours closed for sealing → their last local part (late events go to the next one). */
  private readonly closedHours = new Map<number, number>();
  /** Files detached for sealing, recorded until their move to sealed/ is done. */
  private closing: SpoolFileState[] = [];
  private since = 0;
  /** A repair from a query the stream waits for (recorded in every checkpoint until it is done). */
  private pendingRepair: PendingRepair | undefined;
  private readonly statsValue: Omit<TailerStats, 'gzipBurstMembers'> = {
    clusterTime: undefined,
    captured: 0,
    duplicatesSkipped: 0,
    repaired: 0,
    checkpoints: 0,
    lastEventAt: undefined,
    lastCheckpointAt: undefined,
    streamOpen: false,
    mongoOutage: undefined,
    mongoOutages: 0,
  };

  constructor(options: TailerOptions) {
    this.options = { maxPendingBytes: 8 * 1024 * 1024, maxAwaitTimeMS: 1000, ...options };
    this.db = options.client.db(options.database);
    this.coll = this.db.collection(options.collection);
    this.log = options.log ?? silentLogger;
    const namespace = `${options.database}.${options.collection}`;
    this.spool = new Spool({
      layout: spoolLayout(options.spoolDirectory, namespace),
      gzipLevel: options.gzipLevel,
      gzipBurstLevel: options.gzipBurstLevel,
      timestampField: options.timestampField,
      beforeCreate: (files) => this.listNewFiles(files),
      checkOwner: async () => {
        await options.fencing?.check();
      },
      onKept: (k) => this.log.warn('spool file found at a name capture creates: kept, not delivered', { file: k.file, keptAs: k.keptAs, reason: k.reason }),
    });
    this.checkpoints = new CheckpointStore(this.db.collection(options.jobsCollection), namespace, options.fencing);
    this.clock = new HourClock(options.timezone);
    this.mongo = new MongoOutageTracker(mongoServers(options.client), this.log);
    const retry = { ...MONGO_RETRY_DEFAULTS, ...options.mongoRetry };
    this.mongoRetry = retryPolicy(Infinity, { baseDelayMs: retry.baseDelayMs, maxDelayMs: retry.maxDelayMs });
    this.giveUpAfterMs = retry.giveUpAfterMs ?? Infinity;
    this.encode = lineEncoder(options.jsonMode);
    this.idKey = idKeyOf(options.jsonMode);
    this.readTime = eventTimeReader(options.timestampField);
    this.readRawTime = rawEventTimeReader(options.timestampField);
    this.bsonWriter = options.jsonMode === 'analytics' ? new BsonLineWriter() : undefined;
    this.decodeOptions = decodeOptionsFor(options.jsonMode);
    this.schedule = new CheckpointSchedule({
      intervalMs: options.checkpointIntervalMs,
      checkpoint: () => this.checkpointInBackground(),
      eventsRead: () => this.eventsRead(),
      eventsCheckpointed: () => this.eventsAtCheckpoint,
      mayCheckpoint: () => !this.stopping && this.checkpointsRunning === 0,
    });
  }

  stats(): Readonly<TailerStats> {
    return {
      ...this.statsValue,
      clusterTime: this.positionSeconds < 0 ? undefined : new Date(this.positionSeconds * 1000),
      lastEventAt: this.lastEventMs < 0 ? undefined : new Date(this.lastEventMs),
      mongoOutage: this.mongo.outage,
      mongoOutages: this.mongo.outages,
      gzipBurstMembers: this.spool.burstMembers,
    };
  }

  /**
   * Loads the checkpoint and recovers the spool without opening the change stream (what the
   * `seal` command needs to close due hours while no `run` is active). Returns whether a
   * checkpoint existed.
   */
  async recover(): Promise<boolean> {
    if (this.recovered) {
      // A start retried after MongoDB went away mid-repair: the repair is still to complete.
      await this.completePendingRepair();
      return this.hadCheckpoint;
    }
    const { checkpoint: cp, previous } = await this.checkpoints.claim();
    // Temp directories of a repair, backfill or purge killed on this host (their pid is gone).
    const leftovers = await removeKeyDirectoriesOfDeadProcesses(this.options.spoolDirectory);
    if (leftovers.length > 0) this.log.info('removed the temp directories of processes killed on this host', { directories: leftovers });
    let state = cp?.spool;
    this.pendingRepair = cp?.pendingRepair;
    if (cp && cp.pendingRepair === undefined) {
      const takeover = await detectTakeover(cp, this.spool.layout, this.options.archive, this.log);
      if (takeover) {
        state = takeover.state;
        this.pendingRepair = takeover.repair;
      }
    }
    const previousOwnerMayWrite = cp !== undefined && !provablyDead(previous);
    if (previousOwnerMayWrite && state !== undefined && state.files.length + (state.closing?.length ?? 0) > 0) {
      this.log.info('the previous owner of the spool may still be running: its files are replaced by copies of their checkpointed bytes', {
        host: previous.host,
        pid: previous.pid,
        epoch: previous.epoch,
      });
    }
    const { kept } = await this.spool.open(state, { previousOwnerMayWrite });
    for (const k of kept) {
      this.log.warn('spool file not covered by the checkpoint: kept, not delivered; its documents may be missing from the archive: check its hour with reconcile --deep (and reconcile --repair if documents are missing), then remove it', {
        file: k.file,
        keptAs: k.keptAs,
        reason: k.reason,
      });
    }
    // Spool.open finished the moves of the files the checkpoint lists as closing.
    this.saved = cp;
    this.position = cp?.position;
    this.loadedAt = cp?.updatedAt;
    for (const c of cp?.closedHours ?? []) this.closedHours.set(c.hour, c.lastPart);
    this.since = cp?.since ?? this.clock.slotOf(Date.now()).start;
    if (cp?.dedupe) await this.armDedupe(cp.dedupe);
    this.recovered = true;
    this.hadCheckpoint = cp !== undefined;
    await this.completePendingRepair();
    return this.hadCheckpoint;
  }

  /**
   * Completes the repair the checkpoint marks as pending (a first start's hour, a takeover): the
   * marker is saved first, and cleared by the repair's own checkpoint (see the header).
   */
  private async completePendingRepair(): Promise<void> {
    const p = this.pendingRepair;
    if (p === undefined) return;
    await this.saveCheckpoint();
    if (p.reason === 'first-hour') {
      await this.repair(p.from, 'first-hour');
      return;
    }
    const archive = this.options.archive;
    if (!archive) throw new CronLogError('INTERNAL', 'a takeover repair needs the archive');
    await rebuildLostHours(this.repairCapture(), archive, p);
  }

  private recovered = false;
  private hadCheckpoint = false;

  /** Starts capturing; resolves once the spool is recovered and the stream is about to open. */
  async start(): Promise<void> {
    if (this.running) throw new CronLogError('INTERNAL', 'tailer already started');
    // One hello, sent while the spool recovers (a load-balanced connection needs none).
    const hello = this.options.client.options.loadBalanced ? Promise.resolve({}) : serverHello(this.db);
    hello.catch(() => undefined); // awaited below; a failure surfaces there
    const hadCheckpoint = await this.recover();
    const mode = await chooseCaptureMode(this.options.captureMode ?? 'auto', this.options.client, hello);
    this.byQuery = mode.mode === 'query';
    this.log.info(this.byQuery ? 'capture by query' : 'capture by change stream', { reason: mode.reason });
    if (this.byQuery) {
      const ops = this.options.captureOperations.filter((op) => op !== 'insert');
      if (ops.length > 0) this.log.warn('capture by query archives inserts only: these captureOperations are not captured', { captureOperations: ops });
      await this.positionQuery(hadCheckpoint);
      this.schedule.start();
      this.running = this.loop().catch((err: unknown) => this.fail(err));
      return;
    }
    const choice: StreamClientChoice = this.options.streamClient
      ? { kind: this.options.streamClient, reason: 'set by the caller' }
      : await chooseStreamClient(this.options.client, hello);
    this.useStreamClient(choice);
    if (this.options.resetFrom) {
      await this.repair(this.options.resetFrom.getTime(), 'reset');
    } else if (this.position?.kind === 'query') {
      // The checkpoint is capture by query's: rebuild from its hour, then follow the stream.
      await this.repair(gapStart(this.spool, this.position, this.loadedAt, this.clock), 'capture-mode');
    } else if (this.saved === undefined) {
      // First start: the current hour from its start (see the header). The position and the
      // marker are saved before anything is read, so a crash repeats the hour's query.
      this.position = { kind: 'time', startAtOperationTime: await clusterTimeNow(this.db) };
      this.since = this.clock.slotOf(Date.now()).start;
      this.pendingRepair = { reason: 'first-hour', from: this.since };
      await this.completePendingRepair();
    }
    this.schedule.start();
    this.running = this.loop().catch((err: unknown) => this.fail(err));
  }

  private useStreamClient(choice: StreamClientChoice): void {
    this.streamClient = choice.kind;
    if (choice.maxWireVersion !== undefined) this.maxWireVersion = choice.maxWireVersion;
    const client = choice.kind === 'raw' ? 'the raw change stream' : "the driver's change stream";
    this.log.info(`capture reads its change stream with ${client}: ${choice.reason}`, { streamClient: choice.kind, reason: choice.reason });
  }

  /**
   * Capture by query: the position to start from. A first start reads from the start of the
   * current hour (the first hour is complete); --reset-from, or a checkpoint of a change stream,
   * from that hour on (restartQuery).
   */
  private async positionQuery(hadCheckpoint: boolean): Promise<void> {
    if (this.options.resetFrom) {
      await this.restartQuery(this.options.resetFrom.getTime(), 'reset');
    } else if (!hadCheckpoint) {
      this.position = queryPositionBefore(this.since);
      await this.saveCheckpoint();
    } else if (this.position?.kind !== 'query') {
      await this.restartQuery(gapStart(this.spool, this.position, this.loadedAt, this.clock), 'capture-mode');
    }
  }

  /**
   * Capture by query from the hour of `fromMs` on (after the last hour closed for sealing): the
   * query reads that hour again, and documents already in the spool are skipped (the dedupe
   * window, until the query passes the present).
   */
  private async restartQuery(fromMs: number, reason: RepairReason): Promise<void> {
    const fromHour = firstRebuiltHour(this.repairCapture(), fromMs);
    const ids = await archivedIdsProbe(this.spool, fromHour, this.keyBudget);
    const window = { until: new Timestamp({ t: Math.ceil(Date.now() / 1000), i: 0 }), fromHour };
    this.setDedupe({ window, ids });
    this.observedToken = undefined;
    this.position = queryPositionBefore(fromHour);
    await this.spool.flush();
    await this.saveCheckpoint(this.position, window);
    this.log.info('capture by query starts over from an hour', { reason, from: new Date(fromHour).toISOString(), alreadyInSpool: ids.size });
  }

  /** The `_id` budget of gap repairs and dedupe windows (see TailerOptions.keyBudget). */
  private get keyBudget(): KeyBudget {
    return { directory: this.options.spoolDirectory, ...this.options.keyBudget };
  }

  /** Replaces the dedupe window (undefined: none), freeing the ids of the one it replaces. */
  private setDedupe(dedupe: Dedupe | undefined): void {
    const old = this.dedupe;
    this.dedupe = dedupe;
    if (old !== undefined && old.ids !== dedupe?.ids) {
      old.ids.close().catch((err: unknown) => this.log.warn('the ids of a dedupe window were not freed', { error: (err as Error).message }));
    }
  }

  /**
   * Capture by query: the instant before which the saved checkpoint has read every document the
   * query will ever read (documents of earlier hours written from now on are late: the seal
   * run's late pass finds them). Undefined for a change stream.
   */
  get queryCapturedThrough(): number | undefined {
    const p = this.saved?.position;
    return p?.kind === 'query' ? p.ts.getTime() : undefined;
  }

  private checkpointInBackground(): void {
    // At most one waiting behind the running one: while MongoDB is unreachable a checkpoint
    // waits for server selection, and the interval must not pile them up meanwhile.
    if (this.checkpointsRunning > 1) return;
    void this.checkpoint().catch((err: unknown) => {
      // A spool write failure stops capture; a failed checkpoint write to MongoDB only
      // delays the checkpoint (the next interval retries; nothing is lost meanwhile).
      if (isSpoolFailure(err)) this.fail(err);
      else if (isFenced(err)) return; // capture stopped (checkpoint() failed it)
      else if (this.gaveUpOnMongo && isAbortError(err)) return; // stopping: see stop()
      else if (this.mongo.outage !== undefined && isMongoUnavailable(err)) this.log.debug('checkpoint not saved while MongoDB is unreachable', { error: (err as Error).message });
      else this.log.warn('checkpoint not saved; retrying at the next interval', { error: (err as Error).message });
    });
  }

  /** Events read so far (archived or skipped as duplicates). */
  private eventsRead(): number {
    return this.statsValue.captured + this.statsValue.duplicatesSkipped;
  }

  /** Resolves when capture ends: after stop(), or rejects with the error that stopped it. */
  async done(): Promise<void> {
    await this.running;
    if (this.fatal !== undefined) throw this.fatal;
  }

  /** Stops capture with `err` (done() rejects with it). */
  fail(err: unknown): void {
    if (this.fatal === undefined) this.fatal = err;
    this.stopping = true;
    this.stopController.abort();
    void this.stream?.close().catch(() => undefined);
  }

  /**
   * Follows the change stream until capture stops. While MongoDB is unreachable, each attempt to
   * reopen the stream is retried after a capped exponential backoff (withRetry, retries forever);
   * the backoff starts over once the stream has opened again.
   */
  private async loop(): Promise<void> {
    while (!this.stopping) {
      try {
        await withRetry(() => this.follow(), this.mongoRetry, {
          isRetryable: (err) => isMongoUnavailable(err) && !this.stopping && this.mongo.downMs() < this.giveUpAfterMs,
          signal: this.stopController.signal,
          onRetry: ({ error, delayMs }) => void this.mongo.unavailable(error, delayMs),
        });
      } catch (err) {
        if (this.stopping) return;
        if (isMongoUnavailable(err)) throw this.mongo.gaveUp(err);
        throw err;
      }
    }
  }

  /**
   * One change stream: opens it at the capture position and archives its events until it ends
   * or fails. Resolves when the server ended it, or when MongoDB went away after it had opened
   * (an outage begins: the caller opens it again at once, then backs off). Rejects when it could
   * not open, or with the error that stops capture.
   */
  private async follow(): Promise<void> {
    const stream = this.openStream();
    this.stream = stream;
    let failure: unknown;
    let opened = false;
    try {
      reading: for (;;) {
        // An event the stream returned has moved its resume token: always archive it, even
        // when stopping, so a checkpoint never covers an event that is not in the spool.
        for (let ev = stream.read(); ev !== undefined; ev = stream.read()) {
          this.handleEvent(ev);
          if (this.stopping) break reading;
          // The next batch's reply comes off the socket while this one is handled (raw-change-stream.ts).
          if (stream instanceof RawChangeStream && stream.turnDue()) await nextTurn();
          if (this.spool.pendingBytes >= this.options.maxPendingBytes) await this.relieve();
          // Compression keeps up or reading waits: uncompressed lines stay within a few MiB.
          if (this.spool.compressing > MAX_COMPRESSING) await this.spool.compressed(MAX_COMPRESSING);
        }
        if (this.stopping) break;
        // The server ended the stream (no event said why): open it again from its position.
        if (!(await stream.fetch())) break;
        // A full batch: the server holds more than a batch, capture is catching up.
        if (stream instanceof RawChangeStream) this.spool.catchingUp = stream.behind;
        if (!opened) {
          opened = true;
          this.mongo.available();
          this.logOpened();
        }
        this.statsValue.streamOpen = true;
      }
    } catch (err) {
      failure = err;
    }
    this.statsValue.streamOpen = false;
    this.spool.catchingUp = false;
    const unavailable = failure !== undefined && !this.stopping && isMongoUnavailable(failure);
    if (unavailable && opened) this.mongo.unavailable(failure);
    // The token covers exactly the events returned (an interrupted fetch does not move it).
    const t = stream.resumeToken;
    if (t !== undefined && t !== null) this.observedToken = t;
    this.stream = undefined;
    await stream.close().catch(() => undefined);
    // Checkpoint what this stream delivered (a later checkpoint must not read a closed
    // stream: after a repair the position is a cluster time).
    await this.checkpoint().catch(() => undefined);
    if (this.stopping || failure === undefined) return;
    if (unavailable) {
      if (opened) return;
      throw failure;
    }
    // MongoDB answered (with an error): it is reachable.
    this.mongo.available();
    if (failure instanceof NoPostBatchResumeTokenError && this.streamClient === 'raw') {
      // No event was handed out: the caller reopens at the same position with the driver.
      this.useStreamClient(NO_PBRT_CHOICE);
      return;
    }
    throwUnlessHistoryLost(failure);
    this.log.warn('change stream history lost: the resume point is no longer in the oplog; repairing the gap from a query', {
      code: (failure as { code?: number }).code,
    });
    await this.repair(gapStart(this.spool, this.position, this.loadedAt, this.clock), 'history-lost');
  }

  private openStream(): CaptureStream | QueryStream {
    if (this.byQuery && this.position?.kind === 'query') {
      return new QueryStream({
        collection: this.coll,
        timestampField: this.options.timestampField,
        position: this.position,
        settleMs: this.options.querySettleMs ?? 5000,
        pollIntervalMs: this.options.queryPollIntervalMs ?? 1000,
        batchSize: CHANGE_STREAM_BATCH_SIZE,
      });
    }
    return openCaptureStream({
      kind: this.streamClient,
      client: this.options.client,
      db: this.db,
      collection: this.coll,
      captureOperations: this.options.captureOperations,
      position: this.position,
      maxAwaitTimeMS: this.options.maxAwaitTimeMS,
      maxWireVersion: this.maxWireVersion,
      decode: this.decodeOptions,
    });
  }

  /**
   * One change event as bytes. An insert (analytics mode, no duplicate check running) has its
   * line written straight from its fullDocument's BSON; any other event, or a document the BSON
   * writer leaves to the encoder, is decoded (as the driver would) and handled by `handle`.
   */
  private handleEvent(ev: ChangeEvent): void {
    this.statsValue.streamOpen = true;
    const writer = this.bsonWriter;
    if (writer !== undefined && ev.operationType === 'insert' && ev.fullDocumentAt >= 0 && this.dedupe === undefined) {
      const ms = this.readRawTime(ev.src, ev.fullDocumentAt, ev.clusterSeconds, ev.wallMs);
      if (this.spool.appendBson(this.fileFor(this.clock.slotOf(ms).start), ev.src, ev.fullDocumentAt, writer)) {
        this.counted(ev.clusterSeconds, ev.clusterIncrement);
        return;
      }
    }
    this.handle(ev.decode(this.decodeOptions) as ChangeStreamDocument<Document>);
  }

  /** Counts one archived event at this cluster time (seconds -1: the event had none). */
  private counted(seconds: number, increment: number): void {
    this.statsValue.captured++;
    this.lastEventMs = Date.now();
    if (seconds >= 0) {
      this.clusterSeconds = seconds;
      this.clusterIncrement = increment;
      this.positionSeconds = seconds;
    }
  }

  private handle(ev: ChangeStreamDocument<Document>): void {
    const op = ev.operationType;
    if (TERMINAL_OPS.has(op)) {
      throw new CronLogError(
        'COLLECTION_MISSING',
        `the watched collection ${this.options.database}.${this.options.collection} was ${op === 'rename' ? 'renamed' : 'dropped'} ` +
          `(change event "${op}"); capture stopped. Once the collection exists again, restart with --reset-from TIME to archive from that time on`,
      );
    }
    const clusterTime = 'clusterTime' in ev ? (ev.clusterTime as Timestamp | undefined) : undefined;
    const wallTime = 'wallTime' in ev ? (ev.wallTime as Date | undefined) : undefined;
    let doc: Record<string, unknown>;
    let timeDoc: Record<string, unknown>;
    if (op === 'insert') {
      doc = ev.fullDocument as Record<string, unknown>;
      timeDoc = doc;
      const w = this.dedupe;
      if (w) {
        if (clusterTime !== undefined && clusterTime.comp(w.window.until) > 0) {
          this.setDedupe(undefined);
        } else if (w.ids.has(this.idKey(doc._id))) {
          this.statsValue.duplicatesSkipped++;
          return;
        }
      }
    } else {
      // Non-insert operations (when enabled) are archived as change records in the hour of
      // the operation itself.
      const e = ev as unknown as Record<string, unknown>;
      doc = { operationType: op, documentKey: e.documentKey, clusterTime, wallTime, fullDocument: e.fullDocument, updateDescription: e.updateDescription };
      timeDoc = {};
    }
    const { ms } = op === 'insert' ? this.readTime(timeDoc, clusterTime, wallTime) : this.readTime({}, clusterTime, wallTime);
    const slot = this.clock.slotOf(ms);
    this.spool.append(this.fileFor(slot.start), this.encode(doc), doc);
    this.counted(clusterTime === undefined ? -1 : clusterTime.getHighBitsUnsigned(), clusterTime === undefined ? 0 : clusterTime.getLowBitsUnsigned());
  }

  /**
   * Backpressure. Past `maxPendingBytes` a checkpoint starts (it takes the pending lines at
   * once) and reading goes on while it writes; past twice that, reading waits for it. Memory
   * stays under about 2 × maxPendingBytes plus one driver batch.
   */
  private async relieve(): Promise<void> {
    if (!this.relieving) {
      const run = this.checkpoint();
      this.relieving = run;
      run.then(
        () => {
          if (this.relieving === run) this.relieving = undefined;
        },
        (err: unknown) => {
          if (this.relieving === run) this.relieving = undefined;
          // The spool was flushed; only the checkpoint's write to MongoDB waits for it to be back.
          if (this.gaveUpOnMongo && isAbortError(err)) return; // stopping: see stop()
          if (isMongoUnavailable(err)) this.log.warn('checkpoint not saved: MongoDB is unreachable; retrying at the next interval', { error: (err as Error).message });
          else this.fail(err);
        },
      );
    }
    if (this.spool.pendingBytes >= 2 * this.options.maxPendingBytes) await this.relieving?.catch(() => undefined);
  }

  private relieving: Promise<void> | undefined;

  /** The spool file for an hour: part 1, or the next late part once the hour was closed. */
  private fileFor(hour: number): SpoolFileId {
    const last = this.closedHours.get(hour);
    return { hour, part: last === undefined ? 1 : last + 1 };
  }

  /** First hour captured (UTC ms): hours from here on are sealed even when empty. */
  get firstHour(): number {
    return this.since;
  }

  /**
   * Closes every open spool file whose hour ended before `dueBefore` and moves it to sealed/.
   * From the moment this is called, events of those hours go to a new late part. Crash-safe:
   * the closed files' final offsets are checkpointed (as `closing`) before they move, and a
   * file stays listed as closing until it moved: a move left pending (its checkpoint could not
   * be saved) is retried here. A failed move stops capture (exit code 4): the spool is broken,
   * so no later checkpoint is saved, and the next start finishes the move.
   */
  closeDueHours(dueBefore: number): Promise<SpoolFileState[]> {
    const run = this.checkpointChain.then(async () => {
      // (An hour ends at its slot's end: 30 minutes after its start for the half hour after a
      // 30-minute DST shift.)
      const due = this.spool.openFiles().filter((f) => this.clock.slotOf(f.hour).end <= dueBefore);
      if (due.length === 0 && this.closing.length === 0) return [];
      for (const f of due) this.closedHours.set(f.hour, Math.max(f.part, this.closedHours.get(f.hour) ?? 0));
      const position = this.currentPosition();
      const dedupe = this.dedupe?.window;
      await this.spool.flush();
      const closed: SpoolFileState[] = [];
      for (const f of due) {
        const state = await this.spool.detach(f);
        if (state) closed.push(state);
      }
      this.closing = [...this.closing, ...closed];
      await this.saveCheckpoint(position, dedupe);
      await this.movePending();
      await this.saveCheckpoint(position, dedupe);
      return closed;
    });
    this.checkpointChain = run.then(
      () => undefined,
      (err: unknown) => {
        if (isSpoolFailure(err) || isFenced(err)) this.fail(err);
      },
    );
    return run;
  }

  /** Moves every file listed as closing to sealed/, each unlisted once it moved. */
  private async movePending(): Promise<void> {
    for (const f of [...this.closing]) {
      await this.spool.moveToSealed(f);
      this.closing = this.closing.filter((c) => fileKey(c) !== fileKey(f));
    }
  }

  /**
   * Flushes the spool and saves a checkpoint. Serialized; the token is read in the same tick
   * as the spool takes its pending buffers, so the checkpoint covers exactly the flushed lines.
   */
  checkpoint(): Promise<void> {
    this.checkpointsRunning++;
    const run = this.checkpointChain.then(async () => {
      const position = this.currentPosition();
      const dedupe = this.dedupe?.window;
      this.eventsAtCheckpoint = this.eventsRead();
      await this.spool.flush();
      if (position) await this.saveCheckpoint(position, dedupe);
    });
    this.checkpointChain = run.catch((err: unknown) => {
      // Fenced out: capture stops at once, whichever caller asked for this checkpoint.
      if (isFenced(err)) this.fail(err);
    });
    void this.checkpointChain.then(() => this.checkpointsRunning--);
    return run;
  }

  /** The stream's position now (read in the same tick as the spool buffers are taken). */
  private currentPosition(): StreamPosition | undefined {
    const live = this.stream?.resumeToken;
    if (live !== undefined && live !== null) {
      this.observedToken = live;
      this.statsValue.streamOpen = true;
    }
    const token = this.observedToken;
    if (isQueryPosition(token)) {
      this.position = token;
      this.positionSeconds = positionSeconds(token) ?? this.positionSeconds;
    } else if (token !== undefined && token !== null) {
      const previous = this.position;
      const fromToken = tokenClusterTime(token);
      const lastEvent = this.clusterSeconds < 0 ? undefined : new Timestamp({ t: this.clusterSeconds, i: this.clusterIncrement });
      const clusterTime = fromToken ?? lastEvent ?? (previous?.kind === 'token' ? previous.clusterTime : previous?.kind === 'time' ? previous.startAtOperationTime : undefined);
      if (clusterTime) this.positionSeconds = clusterTime.getHighBitsUnsigned();
      this.position = { kind: 'token', token, ...(clusterTime ? { clusterTime } : {}) };
    }
    return this.position;
  }

  private async saveCheckpoint(position = this.position, dedupe = this.dedupe?.window): Promise<void> {
    if (!position) return;
    const spool = { ...this.spool.state(), closing: this.closing };
    const weekAgo = Date.now() - 7 * 86_400_000;
    for (const hour of this.closedHours.keys()) if (hour < weekAgo) this.closedHours.delete(hour);
    const closedHours = [...this.closedHours].map(([hour, lastPart]) => ({ hour, lastPart }));
    const pendingRepair = this.pendingRepair;
    const posJson = EJSON.stringify({ position, dedupe: dedupe ?? null, pendingRepair: pendingRepair ?? null });
    const spoolJson = JSON.stringify({ spool, closedHours });
    if (posJson === this.savedPositionJson && spoolJson === this.savedSpoolJson) return;
    const cp: Omit<CaptureCheckpoint, 'updatedAt'> = { position, spool, dedupe, closedHours, since: this.since, ...(pendingRepair ? { pendingRepair } : {}) };
    throwIfAborted(this.savesGivenUp.signal);
    await raceAbort(this.checkpoints.save(cp), this.savesGivenUp.signal);
    this.saved = cp;
    this.savedPositionJson = posJson;
    this.savedSpoolJson = spoolJson;
    this.statsValue.checkpoints++;
    this.statsValue.lastCheckpointAt = new Date();
    if (this.startLines === 'opened') {
      this.startLines = 'checkpointed';
      this.log.info('first checkpoint since the stream opened saved', { processUptimeMs: Math.round(performance.now()), captured: this.statsValue.captured });
    }
  }

  /**
   * The start-up lines (the `startup` benchmark reads them): the first stream this process
   * opened, then the first checkpoint saved after it, each with the process's uptime.
   */
  private startLines: 'none' | 'opened' | 'checkpointed' = 'none';

  private logOpened(): void {
    if (this.startLines !== 'none') return;
    this.startLines = 'opened';
    const what = this.byQuery ? 'capture by query: first query answered' : 'change stream open';
    this.log.info(what, { processUptimeMs: Math.round(performance.now()), streamClient: this.byQuery ? 'query' : this.streamClient });
  }

  /**
   * The spool's `beforeCreate`: saves the checkpoint in `jobs` again (same position, same
   * offsets) with the files a flush is about to create added at offset 0, so that every file in
   * open/ is one the checkpoint covers. Runs inside a flush, hence within the checkpoint chain.
   * Without a checkpoint yet, or when the save fails, the files are created all the same (the
   * flush has taken their lines): should the process stop before the next checkpoint, the next
   * start keeps and reports them, and the stream delivers their events again.
   */
  private async listNewFiles(files: SpoolFileState[]): Promise<void> {
    const saved = this.saved;
    if (!saved) return;
    const listed = new Set([...saved.spool.files, ...(saved.spool.closing ?? [])].map(fileKey));
    const added = files.filter((f) => !listed.has(fileKey(f))).map((f) => ({ hour: f.hour, part: f.part, offset: 0, lines: 0 }));
    if (added.length === 0) return;
    const spool = { ...saved.spool, files: [...saved.spool.files, ...added].sort((a, b) => a.hour - b.hour || a.part - b.part) };
    const cp = { ...saved, spool };
    try {
      throwIfAborted(this.savesGivenUp.signal);
      await raceAbort(this.checkpoints.save(cp), this.savesGivenUp.signal);
      this.saved = cp;
      this.savedSpoolJson = '';
    } catch (err) {
      // Fenced out: the flush must not create them (see src/spool/spool.ts).
      if (isFenced(err)) throw err;
      this.log.warn('new spool files not listed in the checkpoint before their creation', {
        files: added.map((f) => new Date(f.hour).toISOString() + (f.part === 1 ? '' : ` part ${f.part}`)),
        error: (err as Error).message,
      });
    }
  }

  private async armDedupe(window: DedupeWindow): Promise<void> {
    const ids = await archivedIdsProbe(this.spool, window.fromHour, this.keyBudget);
    this.setDedupe({ window, ids });
  }

  /**
   * Rebuilds everything from the hour of `fromMs` on from a query, skipping documents already in
   * the spool, then positions the stream at the cluster time read before the query (gap-repair.ts).
   */
  private async repair(fromMs: number, reason: RepairReason): Promise<void> {
    await repairGap(this.repairCapture(), fromMs, reason);
  }

  /** What a gap repair writes into: this tailer's spool, checkpoints and stream position. */
  private repairCapture(): GapRepairCapture {
    return {
      db: this.db,
      collection: this.coll,
      spool: this.spool,
      clock: this.clock,
      log: this.log,
      timestampField: this.options.timestampField,
      jsonMode: this.options.jsonMode,
      idKey: this.idKey,
      maxPendingBytes: this.options.maxPendingBytes,
      keyBudget: this.keyBudget,
      closedHours: () => this.closedHours.keys(),
      append: (doc) => {
        const { ms } = this.readTime(doc, undefined, undefined);
        const hour = this.clock.slotOf(ms).start;
        this.spool.append(this.fileFor(hour), this.encode(doc), doc);
        return hour;
      },
      checkpoint: () => this.checkpoint(),
      resumeAt: (startAt, dedupe, written) => {
        // In the checkpoint chain: no other flush or checkpoint runs meanwhile.
        const run = this.checkpointChain.then(async () => {
          this.statsValue.repaired += written;
          this.setDedupe(dedupe);
          // The repair is done: its checkpoint no longer marks it pending.
          this.pendingRepair = undefined;
          this.observedToken = undefined;
          this.clusterSeconds = -1;
          this.position = { kind: 'time', startAtOperationTime: startAt };
          await this.spool.flush();
          await this.saveCheckpoint(this.position, dedupe.window);
        });
        this.checkpointChain = run.catch(() => undefined);
        return run;
      },
    };
  }

  /** Stops reading, flushes, takes a final checkpoint. Idempotent. */
  async stop(): Promise<void> {
    this.schedule.stop();
    let giveUpTimer: NodeJS.Timeout | undefined;
    if (!this.stopRequested) {
      this.stopRequested = true;
      const giveUp = (): void => this.savesGivenUp.abort(new CronLogError('ABORTED', 'checkpoint write given up: capture stopped and MongoDB did not answer'));
      if (this.mongo.outage !== undefined) giveUp();
      else giveUpTimer = setTimeout(() => void this.giveUpUnlessAnswered(giveUp), STOP_SAVE_WAIT_MS).unref();
    }
    if (!this.stopping) {
      this.stopping = true;
      this.stopController.abort();
      await this.stream?.close().catch(() => undefined);
    }
    try {
      await this.stopCapture();
    } finally {
      clearTimeout(giveUpTimer);
    }
  }

  private stopRequested = false;

  /** Gives the checkpoint writes up when MongoDB does not answer a ping (see STOP_SAVE_WAIT_MS). */
  private async giveUpUnlessAnswered(giveUp: () => void): Promise<void> {
    const answered = await this.db.command({ ping: 1 }, { signal: AbortSignal.timeout(STOP_PING_MS) }).then(
      () => true,
      () => false,
    );
    if (!answered) giveUp();
  }

  private async stopCapture(): Promise<void> {
    await this.running;
    if (this.fatal === undefined && this.mongo.outage === undefined && !this.gaveUpOnMongo) {
      try {
        await this.checkpoint();
      } catch (err) {
        // The spool was flushed; only the write to MongoDB was given up.
        if (!(this.gaveUpOnMongo && isAbortError(err))) throw err;
        this.log.warn('final checkpoint not saved: MongoDB did not answer; the next start resumes from the last saved checkpoint', {
          server: this.mongo.server,
        });
      }
    } else {
      await this.checkpointChain;
      // MongoDB unreachable: the spool is made durable; the checkpoint stays where it was saved
      // last (the next start reads the events after it again, and cuts the spool back to it).
      if (this.fatal === undefined && this.running !== undefined) {
        await this.spool.flush();
        this.log.warn('final checkpoint not saved: MongoDB is unreachable; the next start resumes from the last saved checkpoint', {
          server: this.mongo.server,
        });
      }
    }
    await this.spool.close();
    this.setDedupe(undefined);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}
