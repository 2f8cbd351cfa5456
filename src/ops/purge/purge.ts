/**
 * `purge`: deletes from MongoDB the documents of hours that are proven archived at that moment
 * (proof.ts), oldest hour first, and skips every other hour with its reason. Used by the `purge`
 * command and by `run` with `PURGE_AFTER` (after its scheduled seal runs).
 *
 * The protocol, per hour (resumable after a crash at any point):
 *
 *  1. Prove the hour archived (proof.ts: ledger state, capture, manifest, objects read back and
 *     hashed, the deep `_id` check). Not proven: skipped, recorded in `logs` (op `purge`,
 *     outcome `skipped`, the reason), never touched. Without a rate limit the next hour's proof
 *     is taken while this hour's deletes run (ProofQueue): the proof works mostly in this
 *     process, the deletes in MongoDB.
 *  2. Record the marker `purge: { state: "purging", … }` in the hour's ledger record (journaled,
 *     majority) before the first delete. From then on MongoDB holding fewer documents than the
 *     archive is expected: a rerun after a crash proves MongoDB ⊆ archive (not equality) and
 *     finishes the hour; reconcile reports the hour `purged`, not `mismatch`.
 *  3. Delete the proven `_id`s in paced batches (delete-batches.ts).
 *  4. Record `purge: { state: "purged", purgedAt, … }` and a `logs` record: the documents
 *     deleted, the objects the hour was proven against (keys, SHA-256, sizes, counts) and the
 *     SHA-256 of the deleted `_id` keys (sorted, one per line).
 *
 * Coordination: purges of one namespace exclude each other with a lease of their own in `jobs`
 * (`lease:<namespace>#purge`, src/ledger/lease.ts: a second purge gets LEASE_HELD naming the
 * first); its fence is checked before every batch, so a purge that lost its lease (frozen past
 * the TTL) stops before its next delete. Purge does not need the namespace lease of `run` and
 * runs beside it: it only deletes `_id`s the archive holds, so whatever `run` captures meanwhile
 * (a late write to a purged hour) is never deleted, and it skips hours `run` still holds
 * undelivered documents of. Inside `run` (PURGE_AFTER) every ledger and `logs` write also
 * carries the run's epoch, and a fenced-out `run` stops purging with the rest.
 *
 * A dry run proves every hour the same way and reports what it would delete; it writes nothing.
 */
import { createHash } from 'node:crypto';
import type { Collection, Document } from 'mongodb';
import { ObjectId } from 'mongodb';
import type { HourSlot } from '../../hours/hour-clock.js';
import { CheckpointStore } from '../../ledger/checkpoints.js';
import type { HourRecord, PurgeRecord, PurgedObject } from '../../ledger/hour-states.js';
import { Lease } from '../../ledger/lease.js';
import { countPerHour } from '../../reconcile/mongo-counts.js';
import { throwIfAborted } from '../../retry.js';
import type { ArchiveContext } from '../../seal/context.js';
import { DeletePacer, deleteBatches } from './delete-batches.js';
import type { HourProof, SkipReason } from './proof.js';
import { hoursHeldByCapture, proveHour } from './proof.js';

/** What a purge needs besides the archive context. */
export interface PurgeContext extends ArchiveContext {
  /** The `jobs` collection (the purge lease, the capture checkpoint). */
  jobs: Collection<Document>;
}

export interface PurgeOptions {
  /** Hours that ended at or before this instant (epoch ms) are purged. */
  before: number;
  /** Look no further back than this (default: the oldest hour the ledger or MongoDB holds). */
  from?: number;
  dryRun?: boolean;
  /** Documents per deleteMany. */
  batchSize: number;
  /** Most documents deleted per second over the whole purge (0: no limit). */
  maxDocumentsPerSecond: number;
  /** The purge lease's TTL (ms). */
  leaseTtlMs: number;
  /** Who purges: `purge` (the command) or `run` (PURGE_AFTER). */
  command: string;
  /** Where capture's sealed files wait (the local spool directory), to skip hours it holds. */
  spoolDirectory?: string;
  /** Stops the purge before its next batch (ABORTED). */
  signal?: AbortSignal;
  /** After each hour's outcome (progress). */
  onHour?: (row: PurgeRow) => void;
}

export interface PurgeRow {
  hour: string;
  start: string;
  /** purged (this run deleted its documents), would-purge (dry run), skipped (not proven). */
  action: 'purged' | 'would-purge' | 'skipped';
  /** Documents of the hour in MongoDB before (by the count of the hour rule). */
  mongo: number;
  /** Documents in the archive (the manifest's count), when it has a manifest. */
  archived: number | null;
  /** Documents deleted (would be, in a dry run). */
  deleted: number;
  /** Skipped: why (stable code) and what to do. */
  reason?: SkipReason;
  detail?: string;
  /** The hour was purged before: this run finished it (a crash) or took later, archived documents. */
  resumed?: boolean;
  /** Purged: the objects the hour was proven against. */
  objects?: PurgedObject[];
}

export interface PurgeReport {
  /** Hours that ended at or before this instant were looked at. */
  before: string;
  dryRun: boolean;
  /** Every hour with documents in MongoDB (or an interrupted purge), oldest first. */
  hours: PurgeRow[];
  purged: number;
  skipped: number;
  /** Documents deleted (would be, in a dry run). */
  deleted: number;
  /** Hours purged earlier that hold no document in MongoDB (nothing to do). */
  alreadyPurged: number;
}

/** The lease that keeps purges of one namespace apart (see the header). */
export function purgeLease(jobs: Collection<Document>, namespace: string, command: string, ttlMs: number): Lease {
  return new Lease(jobs, `${namespace}#purge`, command, ttlMs);
}

/** The instant of the oldest document of the collection (by the timestamp field, else the ObjectId), if any. */
async function oldestDocument(ctx: PurgeContext): Promise<number | undefined> {
  const field = ctx.timestampField;
  const [byField, byId] = await Promise.all([
    ctx.collection.find({ [field]: { $type: 'date' } }, { projection: { [field]: 1 } }).sort({ [field]: 1 }).limit(1).next(),
    ctx.collection.find({}, { projection: { _id: 1 } }).sort({ _id: 1 }).limit(1).next(),
  ]);
  const times: number[] = [];
  const t = byField ? fieldValue(byField, field) : undefined;
  if (t instanceof Date && t.getTime() >= 0) times.push(t.getTime());
  if (byId?._id instanceof ObjectId) times.push(byId._id.getTimestamp().getTime());
  return times.length > 0 ? Math.min(...times) : undefined;
}

function fieldValue(doc: Document, path: string): unknown {
  let v: unknown = doc;
  for (const k of path.split('.')) v = v === null || typeof v !== 'object' ? undefined : (v as Document)[k];
  return v;
}

/** The `idsSha256` of no `_id` (SourceIdList.sortedKeysSha256 of an empty list). */
const NO_IDS_SHA256 = createHash('sha256').digest('hex');

/** Purges every proven hour that ended at or before `options.before` (see the header). */
export async function purgeHours(ctx: PurgeContext, options: PurgeOptions): Promise<PurgeReport> {
  const dryRun = options.dryRun ?? false;
  const report: PurgeReport = { before: new Date(options.before).toISOString(), dryRun, hours: [], purged: 0, skipped: 0, deleted: 0, alreadyPurged: 0 };
  const lease = dryRun ? undefined : purgeLease(ctx.jobs, ctx.namespace, options.command, options.leaseTtlMs);
  const stop = new AbortController();
  const abortOnSignal = (): void => stop.abort(options.signal?.reason);
  options.signal?.addEventListener('abort', abortOnSignal, { once: true });
  if (options.signal?.aborted) abortOnSignal();
  try {
    if (lease) {
      lease.onLost = (err) => stop.abort(err);
      await lease.acquire();
    }
    const guard = async (): Promise<void> => {
      throwIfAborted(stop.signal);
      await ctx.fencing?.check();
      await lease?.fence?.check();
    };
    await purgeRange(ctx, options, report, { guard, signal: stop.signal, pacer: new DeletePacer(options.maxDocumentsPerSecond) });
  } finally {
    options.signal?.removeEventListener('abort', abortOnSignal);
    await lease?.release();
  }
  return report;
}

interface RunState {
  guard: () => Promise<void>;
  signal: AbortSignal;
  pacer: DeletePacer;
}

async function purgeRange(ctx: PurgeContext, options: PurgeOptions, report: PurgeReport, run: RunState): Promise<void> {
  const { clock } = ctx;
  // Hours that ended at or before `before`.
  const to = clock.slotOf(options.before).start;
  const records = await ctx.ledger.range(0, to);
  const firstRecord = records[0]?.record.start.getTime();
  const oldest = options.from ?? Math.min(firstRecord ?? Infinity, (await oldestDocument(ctx)) ?? Infinity);
  if (!Number.isFinite(oldest) || oldest >= to) return;
  const from = clock.slotOf(oldest).start;
  const byStart = new Map<number, HourRecord>(records.map((r) => [r.record.start.getTime(), r.record]));
  const counts = await countPerHour(ctx.collection, ctx.timestampField, from, to, clock.zone);
  const checkpoint = await new CheckpointStore(ctx.jobs, ctx.namespace).load();
  const held = await hoursHeldByCapture(checkpoint, options.spoolDirectory, ctx.namespace);
  const proofs = new ProofQueue(ctx, held, byStart, prefetchesProofs(options));
  let finished = false;
  try {
    const slots = clock.slotsBetween(from, to);
    for (const slot of slots) if ((counts.get(slot.start) ?? 0) > 0) proofs.want(slot);
    for (const slot of slots) {
      throwIfAborted(run.signal);
      const mongo = counts.get(slot.start) ?? 0;
      const record = byStart.get(slot.start);
      if (mongo === 0) {
        // Nothing of the hour in MongoDB: an interrupted purge that had deleted everything is
        // recorded as done; an hour purged earlier needs nothing.
        if (record?.purge?.state === 'purging' && !options.dryRun) {
          await finishHour(ctx, slot, record.purge, { deleted: 0, idsSha256: NO_IDS_SHA256, resumed: true, mongo, run });
          const row: PurgeRow = { hour: slot.id, start: new Date(slot.start).toISOString(), action: 'purged', mongo, archived: record.purge.archived, deleted: 0, resumed: true, objects: record.purge.objects };
          report.hours.push(row);
          report.purged++;
          options.onHour?.(row);
        } else if (record?.purge) {
          report.alreadyPurged++;
        }
        continue;
      }
      const row = await purgeHour(ctx, slot, record, mongo, proofs, options, run);
      report.hours.push(row);
      if (row.action === 'skipped') report.skipped++;
      else {
        report.purged++;
        report.deleted += row.deleted;
      }
      options.onHour?.(row);
    }
    finished = true;
  } finally {
    await proofs.close(finished);
  }
}

/**
 * Whether the next hour's proof is taken while this hour's deletes run (the proof mostly works
 * in this process: objects read back, gunzipped and hashed; the deletes mostly in MongoDB): only
 * without a rate limit. A paced purge's deletes of one hour may take long, and a proof is taken
 * right before the hour's deletes; its pace, not the proof, bounds its speed.
 */
function prefetchesProofs(options: Pick<PurgeOptions, 'maxDocumentsPerSecond'>): boolean {
  return options.maxDocumentsPerSecond <= 0;
}

type Pending = { slot: HourSlot; proof: Promise<HourProof> };

/**
 * The proofs of the hours to purge, oldest first, taken one at a time: `take(slot)` starts the
 * hour's proof unless it is under way, then (with `prefetch`) starts the next wanted hour's, so
 * that it runs while the caller deletes. At most two proofs exist at once (their `_id` lists
 * bounded like one). `close(true)` waits for a proof still under way and releases its `_id`
 * list; `close(false)` (the purge stopped: an error, a lost lease, SIGTERM) does not wait for it
 * (an hour's read-back may take minutes) and releases the list whenever the proof ends.
 */
class ProofQueue {
  private readonly wanted: HourSlot[] = [];
  private next = 0;
  private pending: Pending | undefined;

  constructor(
    private readonly ctx: PurgeContext,
    private readonly held: Set<number>,
    private readonly records: Map<number, HourRecord>,
    private readonly prefetch: boolean,
  ) {}

  want(slot: HourSlot): void {
    this.wanted.push(slot);
  }

  private start(slot: HourSlot): Pending {
    const proof = proveHour(this.ctx, slot, this.records.get(slot.start), this.held.has(slot.start));
    // Settled by take() or close(); never an unhandled rejection meanwhile.
    proof.catch(() => undefined);
    return { slot, proof };
  }

  async take(slot: HourSlot): Promise<HourProof> {
    while (this.next < this.wanted.length && (this.wanted[this.next] as HourSlot).start <= slot.start) this.next++;
    if (this.pending !== undefined && this.pending.slot.start !== slot.start) await this.close(true);
    const mine = this.pending ?? this.start(slot);
    this.pending = undefined;
    const upcoming = this.wanted[this.next];
    if (this.prefetch && upcoming !== undefined) {
      this.next++;
      this.pending = this.start(upcoming);
    }
    return mine.proof;
  }

  async close(wait: boolean): Promise<void> {
    const left = this.pending;
    this.pending = undefined;
    if (!left) return;
    const released = left.proof.then((p) => (p.proven ? p.ids.close() : undefined)).catch(() => undefined);
    if (wait) await released;
  }
}

async function purgeHour(
  ctx: PurgeContext,
  slot: HourSlot,
  record: HourRecord | undefined,
  mongo: number,
  proofs: ProofQueue,
  options: PurgeOptions,
  run: RunState,
): Promise<PurgeRow> {
  const t0 = Date.now();
  const base = { hour: slot.id, start: new Date(slot.start).toISOString(), mongo };
  const proof = await proofs.take(slot);
  if (!proof.proven) {
    const row: PurgeRow = { ...base, action: 'skipped', archived: record?.count ?? null, deleted: 0, reason: proof.reason, detail: proof.detail };
    if (!options.dryRun) {
      await ctx.operations.record({
        op: 'purge',
        hour: slot.id,
        hourStart: new Date(slot.start),
        outcome: 'skipped',
        count: 0,
        durationMs: Date.now() - t0,
        error: proof.detail,
        details: { reason: proof.reason, mongo, dryRun: false },
      });
    }
    return row;
  }
  try {
    const archived = proof.manifest.count;
    const objects = proof.objects;
    if (options.dryRun) return { ...base, action: 'would-purge', archived, deleted: proof.ids.length, resumed: proof.resumed, objects };
    const marker: PurgeRecord = { state: 'purging', startedAt: record?.purge?.startedAt ?? new Date(), archived, objects };
    await run.guard();
    await ctx.ledger.update(slot, { purge: marker });
    const deleted = await deleteBatches(ctx.collection, ctx.timestampField, slot, proof.ids, {
      batchSize: options.batchSize,
      pacer: run.pacer,
      guard: run.guard,
      signal: run.signal,
    });
    const idsSha256 = await proof.ids.sortedKeysSha256();
    await finishHour(ctx, slot, marker, { deleted, idsSha256, resumed: proof.resumed, mongo, run, durationMs: Date.now() - t0 });
    return { ...base, action: 'purged', archived, deleted, resumed: proof.resumed, objects };
  } finally {
    await proof.ids.close();
  }
}

/** Records the hour purged: its ledger record, then the `logs` record (see the header, 4). */
async function finishHour(
  ctx: PurgeContext,
  slot: HourSlot,
  marker: PurgeRecord,
  done: { deleted: number; idsSha256: string; resumed: boolean; mongo: number; run: RunState; durationMs?: number },
): Promise<void> {
  await done.run.guard();
  await ctx.ledger.update(slot, { purge: { ...marker, state: 'purged', purgedAt: new Date() } });
  await ctx.operations.record({
    op: 'purge',
    hour: slot.id,
    hourStart: new Date(slot.start),
    outcome: 'ok',
    count: done.deleted,
    durationMs: done.durationMs ?? 0,
    details: {
      deleted: done.deleted,
      mongoBefore: done.mongo,
      archived: marker.archived,
      resumed: done.resumed,
      objects: marker.objects,
      idsSha256: done.idsSha256,
    },
  });
}
