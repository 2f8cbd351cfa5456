/**
 * The library API: `createArchiver(config)` wires the data path of one watched collection:
 * change stream → spool → seal → deliver → reconcile, with every step recorded in the ledger.
 * `start()` begins capture and the seal schedule; `sealNow()` runs one seal pass; resources
 * close idempotently (`close()`, `await using`).
 *
 * MongoDB unreachable (at start or later) is waited out, retrying with capped backoff
 * (`mongoRetry.*`): `/readyz` says why, `cronlog_mongo_up` is 0, a webhook goes out past
 * `mongoRetry.notifyAfterSeconds`, scheduled seal runs are skipped until it is back, and the
 * outage is recorded in `logs` once it ends (`status` lists it).
 *
 * With `purge.after` (PURGE_AFTER), each scheduled seal run is followed by a purge pass
 * (src/ops/purge/): the documents of hours that ended that long ago and are proven archived are
 * deleted from MongoDB. It runs beside the schedule (one pass at a time; a seal run never waits
 * for it), under the run's fence and the purge lease; a pass that finds another purge running
 * skips its turn. `purgeNow()` runs one pass.
 *
 * A standby (`config.standby`, `run --standby`) waits for the namespace lease instead of failing
 * with LEASE_HELD (ledger/take-lease.ts): meanwhile it captures nothing and runs no seal
 * schedule, `/readyz` answers 200 naming the holder it waits for, `cronlog_role` says standby;
 * once it holds the lease it starts like any `run`.
 */
import type { ScheduledTask } from 'node-cron';
import type { MongoClient } from 'mongodb';
import type { SharedContext } from './archive-context.js';
import { openSharedContext } from './archive-context.js';
import type { Config, ConfigInput } from './config/index.js';
import { parseConfig } from './config/index.js';
import { CronLogError, isCronLogError } from './errors.js';
import { isFenced } from './ledger/fence.js';
import { Lease } from './ledger/lease.js';
import type { LeaseHolder } from './ledger/lease-holder.js';
import { describeWaitingFor, takeLease } from './ledger/take-lease.js';
import type { HttpServerHandle } from './observe/http-server.js';
import { startHttpServer } from './observe/http-server.js';
import { createLogger } from './observe/logger.js';
import type { Role } from './observe/metrics.js';
import { Metrics, captureReadiness, instrumentDestination, spoolSample, standbyReadiness } from './observe/metrics.js';
import { alertMongoOutages } from './observe/mongo-outage-alerts.js';
import { SampleRing } from './observe/sample-ring.js';
import { dashboardRoutes } from './ops/dashboard/routes.js';
import { createNotifier, purgeReportEvents, sealReportEvents } from './observe/webhook.js';
import { parseDuration } from './config/duration.js';
import type { PurgeReport } from './ops/purge/purge.js';
import { purgeHours } from './ops/purge/purge.js';
import { scheduleSeal } from './ops/seal-schedule.js';
import { oplogWindow } from './source/oplog-window.js';
import { reconcileRecentHours } from './reconcile/recent-hours.js';
import { addLateParts } from './reconcile/late-parts.js';
import type { ArchiveContext } from './seal/context.js';
import { deliveredIds } from './seal/delivered-ids.js';
import type { SealReport } from './seal/report.js';
import { Sealer } from './seal/sealer.js';
import type { Logger } from './log.js';
import { connectFailure, createMongoClient } from './source/mongo-client.js';
import { describeMongoError, isMongoUnavailable, mongoFailure } from './source/mongo-errors.js';
import type { TakeoverArchive } from './source/host-takeover.js';
import type { MongoOutage } from './source/mongo-outage.js';
import type { TailerStats } from './source/tailer.js';
import { MONGO_RETRY_DEFAULTS, Tailer } from './source/tailer.js';
import { COMPACT_CHECK_MS, OldGarbage, majorCollection } from './source/old-garbage.js';
import { retryPolicy, sleep, throwIfAborted, withRetry } from './retry.js';

export interface ArchiverOptions {
  /** A connected client to use instead of connecting to `config.dbUri` (not closed by close()). */
  client?: MongoClient;
  log?: Logger;
  /** Rebuild from a query from this instant on instead of resuming (see README: --reset-from). */
  resetFrom?: Date;
  /** Run the seal schedule (default true). */
  schedule?: boolean;
  /** Lifetime of the namespace lease, renewed every third of it (default: `config.leaseTtlSeconds`). */
  leaseTtlMs?: number;
  /**
   * Ask V8 for a full collection when the used heap has grown 4 MiB since the last one, checked
   * every 10 s (source/old-garbage.ts; default true): keeps a slowly allocating process from
   * holding minutes of garbage. False leaves collections to V8 alone (e.g. an embedding
   * application that manages its own heap).
   */
  compactHeap?: boolean;
}

/** /readyz answers 503 when capture lags more than this behind the cluster. */
export const READY_MAX_LAG_SECONDS = 300;
/** How often the oplog headroom of the checkpoint is checked (webhook `oplog-headroom`). */
const HEADROOM_CHECK_MS = 5 * 60_000;

export interface ArchiverStats {
  capture: TailerStats;
  /** Durable compressed bytes of the open spool files, and bytes waiting for the next flush. */
  spool: { openBytes: number; pendingBytes: number };
  seal: { runs: number; hoursDelivered: number; failures: number; lastRunAt: Date | undefined; lastReport: SealReport | undefined };
}

export interface Archiver {
  readonly config: Config;
  /** Recovers the spool, opens the change stream, starts the seal schedule. */
  start(): Promise<void>;
  /** Resolves when capture stops; rejects with the error that stopped it. */
  done(): Promise<void>;
  /** Seals, delivers and reconciles every due hour now. */
  sealNow(now?: number): Promise<SealReport>;
  /** One purge pass now (needs `purge.after`): hours that ended before `now - purge.after`. */
  purgeNow(now?: number): Promise<PurgeReport>;
  /** Prometheus metrics of this archiver. */
  readonly metrics: Metrics;
  /** URL of the metrics/health server when `metricsPort` is set and started. */
  readonly metricsUrl: string | undefined;
  /** `standby` while it waits for the lease (`config.standby`), `active` once it holds it; undefined before. */
  readonly role: Role | undefined;
  stats(): ArchiverStats;
  /** Stops the schedule and capture: flushes, checkpoints, closes. Idempotent. */
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

function isConfig(value: Config | ConfigInput): value is Config {
  return Object.isFrozen(value) && typeof (value as Config).database === 'string';
}

/** How long close() waits for the lease to be released (MongoDB may be unreachable). */
const LEASE_RELEASE_WAIT_MS = 2000;

/**
 * What a takeover from another host reads and records in (src/source/host-takeover.ts): the
 * ledger's hour records, the `_id`s of the delivered parts, the operation log.
 */
export function takeoverArchive(ctx: ArchiveContext): TakeoverArchive {
  return {
    hourRecords: (from, to) => ctx.ledger.range(from, to),
    updateHour: (hour, fields) => ctx.ledger.update(ctx.clock.slotAt(hour), fields),
    deliveredIds: (hour, into) => deliveredIds(ctx, ctx.clock.slotAt(hour), into),
    record: (rec) => ctx.operations.record(rec),
  };
}

/** The capture of `config`; with `ctx`, it can take over from another host (src/source/host-takeover.ts). */
export function tailerFor(config: Config, client: MongoClient, log: Logger, resetFrom?: Date, ctx?: ArchiveContext): Tailer {
  const giveUp = config.mongoRetry.giveUpAfterSeconds;
  return new Tailer({
    client,
    database: config.database,
    collection: config.collections.apiLogsCollectionName,
    jobsCollection: config.collections.jobsCollectionName,
    spoolDirectory: config.spoolDirectory,
    timestampField: config.timestampField,
    timezone: config.timezone,
    jsonMode: config.jsonMode,
    gzipLevel: config.gzipLevel,
    gzipBurstLevel: config.gzipBurstLevel,
    checkpointIntervalMs: config.checkpointIntervalMs,
    captureOperations: config.captureOperations,
    captureMode: config.captureMode,
    querySettleMs: config.querySettleSeconds * 1000,
    queryPollIntervalMs: config.queryPollIntervalMs,
    mongoRetry: { maxDelayMs: config.mongoRetry.maxDelayMs, ...(giveUp === undefined ? {} : { giveUpAfterMs: giveUp * 1000 }) },
    log,
    ...(resetFrom ? { resetFrom } : {}),
    ...(ctx ? { archive: takeoverArchive(ctx), ...(ctx.fencing ? { fencing: ctx.fencing } : {}) } : {}),
  });
}

/**
 * The sealer of a tailer's spool; every seal run ends with the reconcile of the recent hours
 * (src/reconcile/recent-hours.ts), whose verdicts are the report's `reconciled`. With capture by
 * query, the late pass (src/reconcile/late-parts.ts) comes first: late documents of recent hours
 * are delivered as late parts, so those hours reconcile `ok`.
 */
export function sealerFor(ctx: SharedContext, tailer: Tailer, log: Logger): Sealer {
  return new Sealer(ctx, {
    spool: tailer.spool,
    sealGraceSeconds: ctx.config.sealGraceSeconds,
    closeDueHours: (dueBefore) => tailer.closeDueHours(dueBefore),
    firstHour: () => tailer.firstHour,
    reconcile: async (now) => {
      await addLatePartsOfQueryCapture(ctx, tailer, now, log);
      return reconcileRecentHours(ctx, now);
    },
    log,
  });
}

/** Capture by query: the late pass of the seal run at `now` (nothing for a change stream). */
async function addLatePartsOfQueryCapture(ctx: SharedContext, tailer: Tailer, now: number, log: Logger): Promise<void> {
  if (tailer.queryCapturedThrough === undefined) return;
  // The position capture has reached, saved: the pass only repairs hours the checkpoint has passed.
  await tailer.checkpoint().catch((err: unknown) => {
    if (isFenced(err)) throw err;
    log.warn('checkpoint before the late pass not saved', { error: (err as Error).message });
  });
  const capturedThrough = tailer.queryCapturedThrough;
  if (capturedThrough === undefined) return;
  // The hours are delivered whatever happens here: a failed pass is tried again by the next run.
  await addLateParts(ctx, { now, capturedThrough, spool: tailer.spool, log }).catch((err: unknown) => {
    if (isFenced(err)) throw err;
    log.warn('late pass failed; the next seal run looks for late documents again', { error: (err as Error).message });
  });
}

export async function createArchiver(input: Config | ConfigInput, options: ArchiverOptions = {}): Promise<Archiver> {
  const config = isConfig(input) ? input : parseConfig(input);
  const log = options.log ?? createLogger(config.logging, { name: 'archiver' });
  // Not connected here: start() waits for MongoDB when it cannot be reached.
  const client = options.client ?? createMongoClient(config.dbUri);
  const ownsClient = options.client === undefined;
  let ctx: SharedContext;
  try {
    ctx = openSharedContext(config, client, log);
  } catch (err) {
    if (ownsClient) await client.close().catch(() => undefined);
    throw err;
  }
  const tailer = tailerFor(config, client, log, options.resetFrom, ctx);
  /**
   * The archiver's metrics, built on first use (prom-client is loaded then, src/observe/metrics.ts):
   * at start with `metricsPort`, else when a seal run, a purge pass, a put or `archiver.metrics`
   * first needs them, never before the stream opens.
   */
  let metricsValue: Metrics | undefined;
  const metrics = (): Metrics => {
    if (metricsValue === undefined) {
      metricsValue = new Metrics({ namespace: ctx.namespace, defaultMetrics: true });
      metricsValue.setCaptureSampler(() => ({ ...tailer.stats(), ...spoolSample(tailer.spool) }));
      metricsValue.setRole(role);
    }
    return metricsValue;
  };
  const notifier = createNotifier(config.webhookUrl, log, { namespace: ctx.namespace });
  const alerts = alertMongoOutages(tailer.mongo, notifier, config.mongoRetry.notifyAfterSeconds * 1000);
  tailer.mongo.subscribe({ ended: (outage, downMs) => void recordOutage(outage, downMs) });
  /** Aborted by close(): ends start()'s wait for MongoDB. */
  const closed = new AbortController();
  const sealer = sealerFor({ ...ctx, destination: instrumentDestination(ctx.destination, { observeDelivery: (d) => metrics().observeDelivery(d) }) }, tailer, log);
  let http: HttpServerHandle | undefined;
  /** The last hour of lag, events/s and spool bytes, for the dashboard's sparklines. */
  const samples = new SampleRing();
  let headroomTimer: NodeJS.Timeout | undefined;
  let compactTimer: NodeJS.Timeout | undefined;
  const leaseTtlMs = options.leaseTtlMs ?? config.leaseTtlSeconds * 1000;
  const lease = new Lease(ctx.jobs, ctx.namespace, 'run', leaseTtlMs, ctx.fencing);
  /** Set once this process holds the lease: only then does close() stop capture and release it. */
  let holdsLease = false;
  let role: Role | undefined;
  /** Whom a standby waits for (what /readyz says). */
  let waitingFor: LeaseHolder | undefined;
  const setRole = (r: Role): void => {
    role = r;
    metricsValue?.setRole(r);
  };
  lease.onLost = (err) => {
    log.error(err.message);
    tailer.fail(err);
  };
  const purgeAfterMs = config.purge.after === undefined ? undefined : parseDuration(config.purge.after);
  /** The purge pass in flight (one at a time), and what stops it at close(). */
  let purging: Promise<void> | undefined;
  const purgeStop = new AbortController();
  const sealStats: ArchiverStats['seal'] = { runs: 0, hoursDelivered: 0, failures: 0, lastRunAt: undefined, lastReport: undefined };
  let task: ScheduledTask | undefined;
  let started = false;
  let startup: Promise<void> | undefined;
  let closing: Promise<void> | undefined;

  /** Records an outage that ended in `logs` (what `status` lists under recent failures). */
  async function recordOutage(outage: MongoOutage, downMs: number): Promise<void> {
    await ctx.operations
      .record({
        op: 'mongo-outage',
        outcome: 'error',
        durationMs: Math.round(downMs),
        error: `MongoDB at ${outage.server} was unreachable for ${Math.round(downMs / 1000)}s from ${outage.since.toISOString()}: ${outage.error}`,
        details: { since: outage.since, until: new Date(outage.since.getTime() + downMs), failures: outage.failures },
      })
      .catch((err: unknown) => log.warn('the MongoDB outage could not be recorded in the logs collection', { error: describeMongoError(err) }));
  }

  /**
   * Runs a start-up step; while MongoDB cannot be reached, tries it again with capped backoff
   * (like capture), until `mongoRetry.giveUpAfterSeconds` or close().
   */
  async function whenMongoAnswers<T>(step: () => Promise<T>): Promise<T> {
    const giveUpMs = (config.mongoRetry.giveUpAfterSeconds ?? Infinity) * 1000;
    const policy = retryPolicy(Infinity, { baseDelayMs: MONGO_RETRY_DEFAULTS.baseDelayMs, maxDelayMs: config.mongoRetry.maxDelayMs });
    try {
      const { value } = await withRetry(step, policy, {
        isRetryable: (err) => isMongoUnavailable(err) && tailer.mongo.downMs() < giveUpMs,
        signal: closed.signal,
        onRetry: ({ error, delayMs }) => void tailer.mongo.unavailable(error, delayMs),
      });
      return value;
    } catch (err) {
      if (isMongoUnavailable(err) && !closed.signal.aborted) throw tailer.mongo.gaveUp(err);
      throw err;
    }
  }

  async function checkHeadroom(): Promise<void> {
    const w = await oplogWindow(client);
    const ct = tailer.stats().clusterTime;
    if (!w || !ct || !w.full) return;
    const headroom = Math.round(ct.getTime() / 1000 - w.first.getHighBitsUnsigned());
    metrics().setOplogHeadroom(headroom);
    if (headroom < Math.max(3600, w.seconds * 0.25)) {
      log.warn('the checkpoint nears the end of the oplog window', { headroomSeconds: headroom, windowSeconds: w.seconds });
      void notifier.notify({ kind: 'oplog-headroom', headroomSeconds: headroom, windowSeconds: w.seconds });
    }
  }

  async function sealNow(now?: number): Promise<SealReport> {
    const t0 = performance.now();
    let report: SealReport;
    try {
      report = await sealer.sealDue(now);
    } catch (err) {
      metrics().observeSealError(performance.now() - t0);
      // Fenced out: capture stops too (run exits 3); nothing more is written.
      if (isFenced(err)) tailer.fail(err);
      throw err;
    }
    metrics().observeSeal(report, performance.now() - t0);
    for (const e of sealReportEvents(report)) void notifier.notify(e);
    sealStats.runs++;
    sealStats.lastRunAt = new Date();
    sealStats.lastReport = report;
    sealStats.failures += report.failed;
    sealStats.hoursDelivered += report.hours.filter((h) => h.status !== 'failed').length;
    if (report.hours.length > 0 || report.failed > 0) {
      log.info('seal run finished', {
        hours: report.hours.map((h) => `${h.hour}:${h.status}:${h.count}`),
        failed: report.failed,
        reconciled: report.reconciled.map((r) => `${r.hour}:${r.status}`),
        ...(report.reconcileError === undefined ? {} : { reconcileError: report.reconcileError }),
      });
    }
    return report;
  }

  async function purgeNow(now = Date.now()): Promise<PurgeReport> {
    if (purgeAfterMs === undefined) throw new CronLogError('USAGE', 'purgeNow() needs purge.after (PURGE_AFTER), e.g. "30d"');
    const report = await purgeHours(ctx, {
      before: now - purgeAfterMs,
      batchSize: config.purge.batchSize,
      maxDocumentsPerSecond: config.purge.maxDocumentsPerSecond,
      leaseTtlMs,
      command: 'run',
      spoolDirectory: config.spoolDirectory,
      signal: purgeStop.signal,
    });
    metrics().observePurge(report);
    for (const e of purgeReportEvents(report)) void notifier.notify(e);
    if (report.hours.length > 0) {
      log.info('purge pass finished', {
        before: report.before,
        purged: report.purged,
        deleted: report.deleted,
        skipped: report.hours.filter((h) => h.action === 'skipped').map((h) => `${h.hour}:${h.reason ?? ''}`),
      });
    }
    return report;
  }

  /** Starts a purge pass beside the schedule, unless one is in flight (fails softly, like a seal run). */
  function scheduledPurge(): void {
    if (purgeAfterMs === undefined || purging !== undefined || purgeStop.signal.aborted) return;
    purging = purgeNow()
      .then(
        () => undefined,
        (err: unknown) => {
          if (isFenced(err)) {
            log.error(err.message);
            tailer.fail(err);
          } else if (isCronLogError(err) && err.code === 'LEASE_HELD') {
            log.info('purge pass skipped: another purge of the namespace is running', { error: err.message });
          } else if (!(isCronLogError(err) && err.code === 'ABORTED')) {
            log.warn('purge pass failed; the next seal run starts another', { error: describeMongoError(err) });
          }
        },
      )
      .finally(() => {
        purging = undefined;
      });
  }

  /**
   * A seal run of the schedule. It fails softly: while MongoDB is unreachable it is skipped (it
   * would close hours it cannot record), and any failure is logged; the next run retries.
   */
  async function scheduledSeal(): Promise<void> {
    const outage = tailer.mongo.outage;
    if (outage !== undefined) {
      log.warn('seal run skipped: MongoDB is unreachable; the next scheduled run seals what is due', { server: outage.server, since: outage.since.toISOString() });
      return;
    }
    try {
      await sealNow();
    } catch (err) {
      if (isFenced(err)) {
        log.error(err.message);
        return;
      } else if (isMongoUnavailable(err)) {
        log.warn('seal run failed: MongoDB is unreachable; the next scheduled run retries it', { server: tailer.mongo.server, error: describeMongoError(err) });
      } else {
        log.error('seal run failed', { error: (err as Error).message });
      }
    }
    scheduledPurge();
  }

  /** start(): listens for /metrics, then waits for MongoDB to take the lease, start capture and the schedule. */
  async function startUp(): Promise<void> {
    // Listening first: while start-up waits for MongoDB, /readyz says so.
    if (config.metricsPort !== undefined) {
      samples.start(() => ({ ...tailer.stats(), ...spoolSample(tailer.spool) }));
      http = await startHttpServer({
        port: config.metricsPort,
        metrics: metrics(),
        routes: [
          dashboardRoutes({
            ctx,
            client,
            token: config.dashboardToken,
            log,
            live: () => ({ role, samples: samples.list(), sampleIntervalMs: samples.intervalMs, nextScheduledRun: task?.getNextRun() ?? null }),
          }),
        ],
        ready: () =>
          role === 'standby'
            ? standbyReadiness(tailer.stats(), describeWaitingFor(waitingFor), { maxLagSeconds: READY_MAX_LAG_SECONDS })
            : captureReadiness(tailer.stats(), { maxLagSeconds: READY_MAX_LAG_SECONDS }),
      });
      log.info('metrics endpoint listening', { url: http.url, dashboard: `${http.url}/` });
    }
    // An explicit connect: after a failed implicit one the driver's topology stays closed.
    await whenMongoAnswers(async () => {
      try {
        await client.connect();
      } catch (err) {
        // Waited for when unreachable; anything else (authentication, TLS) ends start-up.
        throw isMongoUnavailable(err) ? err : connectFailure(config.dbUri, err);
      }
    });
    if (config.standby) setRole('standby');
    await takeLease({
      lease,
      jobs: ctx.jobs,
      namespace: ctx.namespace,
      standby: config.standby,
      ttlMs: leaseTtlMs,
      signal: closed.signal,
      log,
      attempt: async (step) => {
        const result = await whenMongoAnswers(step);
        // A standby waits for MongoDB as well as for the lease: an outage it saw is over.
        tailer.mongo.available();
        return result;
      },
      onStandby: (holder) => (waitingFor = holder),
    });
    holdsLease = true;
    setRole('active');
    // The ledger's indexes (none unique: they only speed up its reads) are built while capture
    // starts: neither waits for the other.
    const indexes = whenMongoAnswers(() => Promise.all([ctx.ledger.ensureIndexes(), ctx.operations.ensureIndexes()]));
    indexes.catch(() => undefined); // awaited below; a failure surfaces there
    await Promise.all([indexes, whenMongoAnswers(() => tailer.start())]);
    // close() during the last step: nothing more starts.
    throwIfAborted(closed.signal);
    if (options.schedule !== false) {
      task = scheduleSeal(config.sealSchedule, scheduledSeal, {
        timezone: config.timezone,
        name: `seal:${ctx.namespace}`,
        log: log.child({ component: 'seal-schedule' }),
      });
    }
    headroomTimer = setInterval(() => void checkHeadroom().catch(() => undefined), HEADROOM_CHECK_MS);
    headroomTimer.unref();
    if (options.compactHeap !== false) {
      const oldGarbage = new OldGarbage(majorCollection());
      compactTimer = setInterval(() => oldGarbage.check(), COMPACT_CHECK_MS);
      compactTimer.unref();
    }
    log.info('archiver started', {
      namespace: ctx.namespace,
      spool: tailer.spool.layout.root,
      destination: ctx.destination.describe(),
      sealSchedule: config.sealSchedule,
    });
  }

  const archiver: Archiver = {
    config,
    get metrics() {
      return metrics();
    },
    get metricsUrl() {
      return http?.url;
    },
    get role() {
      return role;
    },
    start() {
      if (started) return Promise.reject(new CronLogError('INTERNAL', 'archiver already started'));
      started = true;
      // A MongoDB error says so, naming the server (no driver error reaches the caller raw).
      startup = startUp().catch((err: unknown) => {
        throw mongoFailure(err, tailer.mongo.server, 'start-up') ?? err;
      });
      return startup;
    },
    async done() {
      await tailer.done().catch((err: unknown) => {
        throw mongoFailure(err, tailer.mongo.server, 'capture') ?? err;
      });
    },
    sealNow,
    purgeNow,
    stats() {
      const sample = spoolSample(tailer.spool);
      return { capture: tailer.stats(), spool: { openBytes: sample.openSpoolBytes, pendingBytes: sample.pendingBytes }, seal: { ...sealStats } };
    },
    close() {
      closing ??= (async () => {
        closed.abort(new CronLogError('ABORTED', 'the archiver was closed while it started'));
        alerts.close();
        try {
          // A start-up step in flight (waiting for MongoDB at most serverSelectionTimeoutMS) ends first.
          await startup?.catch(() => undefined);
          if (headroomTimer) clearInterval(headroomTimer);
          if (compactTimer) clearInterval(compactTimer);
          if (task) await task.destroy();
          purgeStop.abort(new CronLogError('ABORTED', 'the archiver was closed during a purge pass'));
          await purging;
          await sealer.idle();
          // A standby never touched the spool: there is nothing to stop.
          if (holdsLease) await tailer.stop();
        } finally {
          samples.stop();
          await http?.close().catch(() => undefined);
          metricsValue?.close();
          // Bounded: with MongoDB unreachable the lease simply expires. Not tried at all when
          // capture just found MongoDB unreachable (a stop is prompt during an outage).
          const mongoAway = tailer.mongo.outage !== undefined || tailer.gaveUpOnMongo;
          if (holdsLease && !mongoAway) await Promise.race([lease.release(), sleep(LEASE_RELEASE_WAIT_MS)]);
          await ctx.close().catch(() => undefined);
          if (ownsClient) await client.close().catch(() => undefined);
        }
      })();
      return closing;
    },
    async [Symbol.asyncDispose]() {
      await archiver.close();
    },
  };
  return archiver;
}
