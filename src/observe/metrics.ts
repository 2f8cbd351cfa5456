/**
 * Prometheus metrics of one archiver (prom-client). Every `Metrics` owns a private `Registry`
 * unless it is handed one: never prom-client's global registry, so tests and several archivers
 * in one process do not collide. Archivers that share a registry (one `/metrics` endpoint for
 * several watched collections) share the metric objects and differ by their `namespace` label.
 *
 * Inputs are what the data path already reports:
 *  - `observeCapture(sample)`: a sample of the tailer's cumulative stats (plus spool bytes
 *    and, when known, the cluster time of the stream position). Counters advance by the delta
 *    since the previous sample; totals that went down (a new Tailer) count as a counter reset.
 *    A sampler set with `setCaptureSampler` is also read at every scrape, so gauges are fresh.
 *  - `observeSeal(report, durationMs)` after each seal run (`observeSealError` when it threw).
 *  - `observePurge(report)` after each purge pass of `run` (PURGE_AFTER).
 *  - `setRole(role)`: `cronlog_role{role="active"|"standby"}`, 1 for the role held, 0 for the other
 *    (both 0 before a plain `run` holds the lease).
 *
 * Metrics declares the shapes it reads (`CaptureSample`, `SealRunSample`): the tailer's stats and
 * the seal report are such shapes, and this module imports neither.
 *  - `observeDelivery(...)` per destination `put`; `instrumentDestination` does it for you.
 *
 * prom-client is loaded by the first `Metrics` built, not with this module (its readiness and
 * sample helpers serve without it): with the @opentelemetry/api it requires, about 75 CommonJS
 * files, 25-40 ms of CPU and 2 MiB of RSS on Node 20 (measured: `import('prom-client')` after the
 * rest of an archiver's modules), which `run` paid before its stream opened (the `startup`
 * benchmark); the archiver builds its Metrics when first needed (src/archiver.ts).
 */
import { createRequire } from 'node:module';
import type * as PromClient from 'prom-client';
import type { Counter, Registry as RegistryType } from 'prom-client';

import type { Destination, PutInput, PutResult } from '../deliver/destination.js';
import { CronLogError } from '../errors.js';

/** What `observeCapture` reads: the tailer's cumulative stats plus optional spool and stream figures. */
export interface CaptureSample {
  /** Change events appended to the spool. */
  readonly captured: number;
  /** Change events skipped because their `_id` was already archived (after a repair). */
  readonly duplicatesSkipped: number;
  /** Documents written to the spool by a query repair. */
  readonly repaired: number;
  /** Checkpoints saved. */
  readonly checkpoints: number;
  readonly lastEventAt: Date | undefined;
  readonly lastCheckpointAt: Date | undefined;
  /** Whether the change stream is open and delivering. */
  readonly streamOpen: boolean;
  /**
   * Cluster time of the stream position: the last event read, or an idle stream's
   * (post-batch) resume token. When absent, capture lag falls back to the wall-clock time since
   * the tailer last made progress (last event or last checkpoint).
   */
  readonly clusterTime?: Date | undefined;
  /** Bytes appended to the spool but not yet flushed (`spool.pendingBytes`). */
  readonly pendingBytes?: number | undefined;
  /** Durable compressed bytes of the open (not yet sealed) spool files. */
  readonly openSpoolBytes?: number | undefined;
  /** The MongoDB outage capture is waiting out (absent or undefined: MongoDB is reachable). */
  readonly mongoOutage?: MongoOutageSample | undefined;
  /** MongoDB outages so far. */
  readonly mongoOutages?: number | undefined;
  /** Spool gzip members compressed at the burst level so far (GZIP_BURST_LEVEL). */
  readonly gzipBurstMembers?: number | undefined;
}

/** A MongoDB outage: the servers that cannot be reached, since when, the last error. */
export interface MongoOutageSample {
  readonly server: string;
  readonly since: Date;
  readonly error: string;
}

/** One destination `put`: its wall time and its attempts (1 = no retry). */
/** What `observePurge` reads of a purge pass's report (src/ops/purge/purge.ts). */
export interface PurgeRunSample {
  purged: number;
  skipped: number;
  deleted: number;
}

/** What `observeSeal` reads of a seal run's report. */
export interface SealRunSample {
  /** Every hour the run finished: `delivered` (with its document count), `empty` or `failed`. */
  readonly hours: ReadonlyArray<{ readonly status: string; readonly count: number }>;
  /** The reconcile verdicts after the run: `mismatch`, or another (ok, deleted-at-source, expired-at-source). */
  readonly reconciled: ReadonlyArray<{ readonly status: string }>;
  /** Hours whose delivery failed. */
  readonly failed: number;
  /** Set when the reconcile after the run failed (the hours keep their outcomes). */
  readonly reconcileError?: string;
}

export interface DeliveryObservation {
  durationMs: number;
  /** `PutResult.attempts` (or the failed put's error `attempts`); retries = attempts - 1. */
  attempts: number;
  ok: boolean;
  /** `data` for an hour's object (streamed from a spool file), `manifest` for in-memory bodies. */
  object?: 'data' | 'manifest';
}

export interface MetricsOptions {
  /** Value of the `namespace` label (`database.collection`). */
  namespace: string;
  /** Share a registry between archivers (one endpoint); default: a new private registry. */
  registry?: RegistryType;
  /** Also collect prom-client's default process/Node.js metrics into the registry (once per registry). */
  defaultMetrics?: boolean;
}

export interface Readiness {
  ready: boolean;
  /** Why not ready (present when `ready` is false). */
  reason?: string;
  [detail: string]: unknown;
}

export const METRIC_PREFIX = 'cronlog_';

const SEAL_BUCKETS = [0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600];
const DELIVERY_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800];

type Label = 'namespace';

export const ROLES = ['active', 'standby'] as const;
/** `active`: holds the namespace lease and captures; `standby`: waits for the lease. */
export type Role = (typeof ROLES)[number];

const require = createRequire(import.meta.url);
let promClientModule: typeof PromClient | undefined;

/** prom-client (CommonJS), loaded by the first call. */
function promClient(): typeof PromClient {
  promClientModule ??= require('prom-client') as typeof PromClient;
  return promClientModule;
}

function instrumentsFor(registry: RegistryType) {
  const { Counter, Gauge, Histogram } = promClient();
  const registers = [registry];
  const labelNames = ['namespace'] as const;
  const counter = (name: string, help: string) =>
    new Counter<Label>({ name: METRIC_PREFIX + name, help, labelNames, registers });
  const gauge = (name: string, help: string) => new Gauge<Label>({ name: METRIC_PREFIX + name, help, labelNames, registers });
  return {
    eventsCaptured: counter('events_captured_total', 'Change events appended to the spool.'),
    duplicatesSkipped: counter('duplicates_skipped_total', 'Change events skipped because their _id was already archived (after a repair).'),
    documentsRepaired: counter('documents_repaired_total', 'Documents written to the spool by a query repair (history lost or --reset-from).'),
    checkpoints: counter('checkpoints_total', 'Checkpoints (resume token + durable spool offsets) saved.'),
    captureLag: gauge('capture_lag_seconds', 'Now minus the cluster time of the stream position (falls back to the time since the last event or checkpoint).'),
    checkpointAge: gauge('checkpoint_age_seconds', 'Seconds since the last checkpoint was saved.'),
    spoolPendingBytes: gauge('spool_pending_bytes', 'Bytes appended to the spool and not yet flushed (gzip member + fsync).'),
    spoolOpenBytes: gauge('spool_open_bytes', 'Durable compressed bytes in open (not yet sealed) spool files.'),
    streamOpen: gauge('stream_open', '1 while the change stream is open and delivering, else 0.'),
    mongoUp: gauge('mongo_up', '0 while MongoDB cannot be reached (capture waits and retries), else 1.'),
    mongoUnavailable: gauge('mongo_unavailable_seconds', 'How long MongoDB has been unreachable (0 while it is reachable).'),
    mongoOutages: counter('mongo_outages_total', 'MongoDB outages capture waited out (or is waiting out).'),
    gzipBurstMembers: counter('spool_gzip_burst_members_total', 'Spool gzip members (about 1 MiB of lines each) compressed at GZIP_BURST_LEVEL because capture was catching up or outran compression.'),
    hoursSealed: counter('hours_sealed_total', 'Hours finished by a seal run: data hours delivered plus empty hours (manifest only).'),
    hoursDelivered: counter('hours_delivered_total', 'Hour objects delivered (a late part of an hour counts again).'),
    documentsArchived: counter('documents_archived_total', 'Documents in delivered hour objects.'),
    hoursVerified: counter('hours_verified_total', 'Reconcile verdicts that pass: ok (archived count equals MongoDB count), deleted-at-source or expired-at-source (MongoDB holds fewer, the archive keeps them).'),
    deliveryFailures: counter('delivery_failures_total', 'Hours whose delivery failed past its retries in a seal run (retried at the next run).'),
    uploadRetries: counter('upload_retries_total', 'Retries of destination puts (attempts - 1, summed).'),
    reconcileMismatches: counter('reconcile_mismatches_total', 'Reconcile verdicts "mismatch" (a persisting mismatch counts once per seal run).'),
    mismatchedHours: gauge('reconcile_mismatched_hours', 'Hours found mismatched by the last seal run.'),
    sealRunFailures: counter('seal_run_failures_total', 'Seal runs that threw before producing a report.'),
    reconcileFailures: counter('reconcile_failures_total', 'Seal runs whose reconcile could not compare the recent hours with MongoDB (their hours stay delivered, not verified; the next run retries).'),
    oplogHeadroom: gauge('oplog_headroom_seconds', 'Seconds between the oldest oplog entry and the capture position (checked every 5 minutes once the oplog is full; absent before): at 0 the resume token falls off the oplog and the gap is repaired from a query.'),
    lastSealRun: gauge('last_seal_run_timestamp_seconds', 'Unix time at which the last seal run finished with a report.'),
    documentsPurged: counter('documents_purged_total', 'Documents deleted from MongoDB by purge passes of `run` (PURGE_AFTER), each proven archived first.'),
    hoursPurged: counter('hours_purged_total', 'Hours purged from MongoDB by purge passes of `run` (an hour finished after an interruption counts again).'),
    purgeSkippedHours: gauge('purge_skipped_hours', 'Hours past PURGE_AFTER that the last purge pass skipped because they were not proven archived (see `logs`, op "purge").'),
    lastPurgeRun: gauge('last_purge_run_timestamp_seconds', 'Unix time at which the last purge pass of `run` finished.'),
    role: new Gauge<Label | 'role'>({
      name: `${METRIC_PREFIX}role`,
      help: 'The role of this process: 1 for the one it has (active: holds the namespace lease and captures; standby: waits for the lease), 0 for the other.',
      labelNames: ['namespace', 'role'] as const,
      registers,
    }),
    sealRunDuration: new Histogram<Label>({
      name: `${METRIC_PREFIX}seal_run_duration_seconds`,
      help: 'Duration of seal runs (close due hours, deliver, reconcile).',
      labelNames,
      buckets: SEAL_BUCKETS,
      registers,
    }),
    deliveryDuration: new Histogram<Label | 'outcome' | 'object'>({
      name: `${METRIC_PREFIX}delivery_duration_seconds`,
      help: 'Duration of destination puts (data objects and manifests), retries included.',
      labelNames: ['namespace', 'outcome', 'object'] as const,
      buckets: DELIVERY_BUCKETS,
      registers,
    }),
    /** Every Metrics bound to this registry, for scrape-time sampling. */
    members: new Set<Metrics>(),
    defaultMetrics: false,
  };
}

type Instruments = ReturnType<typeof instrumentsFor>;

const shared = new WeakMap<RegistryType, Instruments>();

const TOTALS = ['captured', 'duplicatesSkipped', 'repaired', 'checkpoints', 'mongoOutages', 'gzipBurstMembers'] as const;
type TotalKey = (typeof TOTALS)[number];

function finiteNonNegative(value: number | undefined): value is number {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0;
}

function time(value: Date | undefined): number | undefined {
  const t = value?.getTime();
  return t === undefined || Number.isNaN(t) ? undefined : t;
}

/**
 * Capture lag in seconds (≥ 0): now minus the sample's cluster time; without one, now minus the
 * later of the last event and the last checkpoint. `undefined` before anything happened.
 */
export function captureLagSeconds(sample: CaptureSample, now = Date.now()): number | undefined {
  let ref = time(sample.clusterTime);
  if (ref === undefined) {
    const event = time(sample.lastEventAt);
    const checkpoint = time(sample.lastCheckpointAt);
    if (event === undefined && checkpoint === undefined) return undefined;
    ref = Math.max(event ?? -Infinity, checkpoint ?? -Infinity);
  }
  return Math.max(0, (now - ref) / 1000);
}

/** Seconds the sample's MongoDB outage has lasted at `now` (0 without one). */
export function mongoUnavailableSeconds(sample: CaptureSample, now = Date.now()): number {
  const since = time(sample.mongoOutage?.since);
  return since === undefined ? 0 : Math.max(0, (now - since) / 1000);
}

/**
 * Readiness of capture: MongoDB is reachable, the change stream is open and the capture lag is
 * at most `maxLagSeconds`. Meant as the `ready` callback of the HTTP server.
 */
export function captureReadiness(sample: CaptureSample, options: { maxLagSeconds: number; now?: number }): Readiness {
  const now = options.now ?? Date.now();
  const lag = captureLagSeconds(sample, now);
  const details = { streamOpen: sample.streamOpen, lagSeconds: lag === undefined ? null : Math.round(lag * 1000) / 1000, maxLagSeconds: options.maxLagSeconds };
  const outage = sample.mongoOutage;
  if (outage !== undefined) {
    const down = mongoUnavailableSeconds(sample, now);
    return {
      ready: false,
      reason:
        `MongoDB at ${outage.server} is unreachable since ${outage.since.toISOString()} (${down.toFixed(1)}s): ${outage.error}; ` +
        'capture waits and resumes from its checkpoint when it is back',
      ...details,
      mongoUnavailableSeconds: Math.round(down * 1000) / 1000,
    };
  }
  if (!sample.streamOpen) return { ready: false, reason: 'the change stream is not open', ...details };
  if (lag === undefined) return { ready: false, reason: 'no event or checkpoint yet', ...details };
  if (lag > options.maxLagSeconds) {
    return { ready: false, reason: `capture lag ${lag.toFixed(1)}s exceeds ${options.maxLagSeconds}s`, ...details };
  }
  return { ready: true, ...details };
}

/**
 * Readiness of a standby (`run --standby` waiting for the lease): ready, saying whom it waits
 * for, so that a rollout of two replicas never stalls on the one that waits; not ready only while
 * MongoDB cannot be reached (it could not take over then), like capture.
 */
export function standbyReadiness(sample: CaptureSample, waitingFor: string, options: { maxLagSeconds: number; now?: number }): Readiness {
  if (sample.mongoOutage !== undefined) return { ...captureReadiness(sample, options), role: 'standby' };
  return { ready: true, role: 'standby', standby: `waiting for the lease held by ${waitingFor}` };
}

/** Spool figures for a `CaptureSample` from the tailer's spool (`tailer.spool`). */
export function spoolSample(spool: {
  readonly pendingBytes: number;
  openFiles(): ReadonlyArray<{ readonly offset: number }>;
}): { pendingBytes: number; openSpoolBytes: number } {
  return { pendingBytes: spool.pendingBytes, openSpoolBytes: spool.openFiles().reduce((n, f) => n + f.offset, 0) };
}

export class Metrics {
  readonly registry: RegistryType;
  readonly namespace: string;
  private readonly m: Instruments;
  private readonly labels: { namespace: string };
  private readonly last: Record<TotalKey, number> = { captured: 0, duplicatesSkipped: 0, repaired: 0, checkpoints: 0, mongoOutages: 0, gzipBurstMembers: 0 };
  private sampler: (() => CaptureSample | undefined) | undefined;

  constructor(options: MetricsOptions) {
    this.namespace = options.namespace;
    this.labels = { namespace: options.namespace };
    this.registry = options.registry ?? new (promClient().Registry)();
    let m = shared.get(this.registry);
    if (m === undefined) {
      m = instrumentsFor(this.registry);
      shared.set(this.registry, m);
    }
    for (const other of m.members) {
      if (other.namespace === options.namespace) {
        throw new CronLogError('INTERNAL', `metrics for namespace ${options.namespace} are already registered in this registry (close() the other Metrics first)`);
      }
    }
    this.m = m;
    if (options.defaultMetrics === true && !m.defaultMetrics) {
      promClient().collectDefaultMetrics({ register: this.registry });
      m.defaultMetrics = true;
    }
    m.members.add(this);
    // Every series exists from the start (0), so rate() and absent() work before the first event.
    for (const c of [
      m.eventsCaptured,
      m.duplicatesSkipped,
      m.documentsRepaired,
      m.checkpoints,
      m.mongoOutages,
      m.gzipBurstMembers,
      m.hoursSealed,
      m.hoursDelivered,
      m.documentsArchived,
      m.hoursVerified,
      m.deliveryFailures,
      m.uploadRetries,
      m.reconcileMismatches,
      m.sealRunFailures,
      m.reconcileFailures,
    ]) {
      c.inc(this.labels, 0);
    }
    m.streamOpen.set(this.labels, 0);
    m.mongoUp.set(this.labels, 1);
    m.mongoUnavailable.set(this.labels, 0);
    m.spoolPendingBytes.set(this.labels, 0);
    m.spoolOpenBytes.set(this.labels, 0);
    m.mismatchedHours.set(this.labels, 0);
    m.sealRunDuration.zero(this.labels);
    this.setRole(undefined);
  }

  /** The role this process has now (undefined: none yet, a plain `run` before it holds the lease). */
  setRole(role: Role | undefined): void {
    for (const r of ROLES) this.m.role.set({ ...this.labels, role: r }, r === role ? 1 : 0);
  }

  /** The oplog headroom of the capture position (see `cronlog_oplog_headroom_seconds`). */
  setOplogHeadroom(seconds: number): void {
    this.m.oplogHeadroom.set(this.labels, seconds);
  }

  /** `text/plain; version=0.0.4; charset=utf-8` (the registry's exposition format). */
  get contentType(): string {
    return this.registry.contentType;
  }

  /**
   * Records a sample of the capture stats. Counters advance by the growth of the cumulative
   * totals since the previous sample; a total lower than before (a new tailer) counts whole.
   */
  observeCapture(sample: CaptureSample, now = Date.now()): void {
    const { m, labels } = this;
    const counters: Record<TotalKey, Counter<Label>> = {
      captured: m.eventsCaptured,
      duplicatesSkipped: m.duplicatesSkipped,
      repaired: m.documentsRepaired,
      checkpoints: m.checkpoints,
      mongoOutages: m.mongoOutages,
      gzipBurstMembers: m.gzipBurstMembers,
    };
    for (const key of TOTALS) {
      const total = sample[key];
      if (!finiteNonNegative(total)) continue;
      const previous = this.last[key];
      const delta = total >= previous ? total - previous : total;
      if (delta > 0) counters[key].inc(labels, delta);
      this.last[key] = total;
    }
    m.streamOpen.set(labels, sample.streamOpen ? 1 : 0);
    m.mongoUp.set(labels, sample.mongoOutage === undefined ? 1 : 0);
    m.mongoUnavailable.set(labels, mongoUnavailableSeconds(sample, now));
    const lag = captureLagSeconds(sample, now);
    if (lag !== undefined) m.captureLag.set(labels, lag);
    const checkpointAt = time(sample.lastCheckpointAt);
    if (checkpointAt !== undefined) m.checkpointAge.set(labels, Math.max(0, (now - checkpointAt) / 1000));
    if (finiteNonNegative(sample.pendingBytes)) m.spoolPendingBytes.set(labels, sample.pendingBytes);
    if (finiteNonNegative(sample.openSpoolBytes)) m.spoolOpenBytes.set(labels, sample.openSpoolBytes);
  }

  /** Records one seal run's report and wall time. */
  observeSeal(report: SealRunSample, durationMs: number, now = Date.now()): void {
    const { m, labels } = this;
    let sealed = 0;
    let delivered = 0;
    let documents = 0;
    let failed = 0;
    for (const h of report.hours) {
      if (h.status === 'failed') {
        failed++;
        continue;
      }
      sealed++;
      if (h.status === 'delivered') {
        delivered++;
        documents += h.count;
      }
    }
    let verified = 0;
    let mismatched = 0;
    for (const r of report.reconciled) {
      if (r.status === 'mismatch') mismatched++;
      else verified++;
    }
    m.hoursSealed.inc(labels, sealed);
    m.hoursDelivered.inc(labels, delivered);
    m.documentsArchived.inc(labels, documents);
    // `failed` also counts hours that failed before they had an outcome entry.
    m.deliveryFailures.inc(labels, Math.max(failed, report.failed));
    m.hoursVerified.inc(labels, verified);
    m.reconcileMismatches.inc(labels, mismatched);
    if (report.reconcileError === undefined) m.mismatchedHours.set(labels, mismatched);
    else m.reconcileFailures.inc(labels, 1);
    m.sealRunDuration.observe(labels, Math.max(0, durationMs) / 1000);
    m.lastSealRun.set(labels, now / 1000);
  }

  /** Records one purge pass of `run` (its report's totals). */
  observePurge(report: PurgeRunSample, now = Date.now()): void {
    const { m, labels } = this;
    m.documentsPurged.inc(labels, report.deleted);
    m.hoursPurged.inc(labels, report.purged);
    m.purgeSkippedHours.set(labels, report.skipped);
    m.lastPurgeRun.set(labels, now / 1000);
  }

  /** Records a seal run that threw (no report). */
  observeSealError(durationMs: number): void {
    this.m.sealRunFailures.inc(this.labels, 1);
    this.m.sealRunDuration.observe(this.labels, Math.max(0, durationMs) / 1000);
  }

  /** Records one destination put (see `instrumentDestination`). */
  observeDelivery(d: DeliveryObservation): void {
    const retries = Number.isFinite(d.attempts) ? Math.max(0, Math.floor(d.attempts) - 1) : 0;
    if (retries > 0) this.m.uploadRetries.inc(this.labels, retries);
    this.m.deliveryDuration.observe(
      { ...this.labels, outcome: d.ok ? 'ok' : 'error', object: d.object ?? 'data' },
      Math.max(0, d.durationMs) / 1000,
    );
  }

  /** A function read at every scrape (e.g. `() => ({ ...tailer.stats(), ...spoolSample(tailer.spool) })`). */
  setCaptureSampler(sampler: (() => CaptureSample | undefined) | undefined): void {
    this.sampler = sampler;
  }

  /** The Prometheus text exposition of the registry, after sampling every bound archiver. */
  async metricsText(): Promise<string> {
    for (const member of this.m.members) member.sample();
    return this.registry.metrics();
  }

  private sample(): void {
    if (this.sampler === undefined) return;
    try {
      const s = this.sampler();
      if (s !== undefined) this.observeCapture(s);
    } catch {
      // A failing sampler must not break the scrape; the gauges keep their last values.
    }
  }

  /**
   * Stops scrape-time sampling and removes this archiver's series (but the delivery histogram's,
   * which carry more labels) from the registry. Idempotent.
   */
  close(): void {
    const { m } = this;
    if (!m.members.delete(this)) return;
    this.sampler = undefined;
    for (const metric of [
      m.eventsCaptured,
      m.duplicatesSkipped,
      m.documentsRepaired,
      m.checkpoints,
      m.captureLag,
      m.checkpointAge,
      m.oplogHeadroom,
      m.spoolPendingBytes,
      m.spoolOpenBytes,
      m.streamOpen,
      m.mongoUp,
      m.mongoUnavailable,
      m.mongoOutages,
      m.gzipBurstMembers,
      m.hoursSealed,
      m.hoursDelivered,
      m.documentsArchived,
      m.hoursVerified,
      m.deliveryFailures,
      m.uploadRetries,
      m.reconcileMismatches,
      m.mismatchedHours,
      m.sealRunFailures,
      m.reconcileFailures,
      m.lastSealRun,
      m.sealRunDuration,
    ]) {
      metric.remove(this.labels);
    }
    for (const role of ROLES) m.role.remove({ ...this.labels, role });
  }
}

/**
 * The same destination with every `put` timed and its retries counted in `metrics`
 * (`PutResult.attempts`, or an `attempts` property on a failed put's error). Every other member
 * is passed through unchanged (methods bound to the original).
 */
export function instrumentDestination<D extends Pick<Destination, 'put'>>(destination: D, metrics: Pick<Metrics, 'observeDelivery'>): D {
  const put = async (input: PutInput): Promise<PutResult> => {
    const object = 'body' in input.source ? 'manifest' : 'data';
    const started = performance.now();
    try {
      const result = await destination.put(input);
      metrics.observeDelivery({ durationMs: performance.now() - started, attempts: result.attempts, ok: true, object });
      return result;
    } catch (err) {
      const attempts = (err as { attempts?: unknown } | null)?.attempts;
      metrics.observeDelivery({
        durationMs: performance.now() - started,
        attempts: typeof attempts === 'number' ? attempts : 1,
        ok: false,
        object,
      });
      throw err;
    }
  };
  return new Proxy(destination, {
    get(target, prop) {
      if (prop === 'put') return put;
      const value: unknown = Reflect.get(target, prop, target);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}
