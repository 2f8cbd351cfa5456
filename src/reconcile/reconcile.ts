/**
 * Reconcile: proves, hour by hour, that the archive holds every document of MongoDB once.
 * For every hour of [from, to) it compares the MongoDB count (one aggregation for the range)
 * with the count in the hour's manifest, checks that every object the manifest lists exists with
 * its size, and that no other object sits at the hour's keys (every object under the data prefix
 * is live). `deep` also downloads the objects: decodes and counts their lines, checks their
 * SHA-256, looks for `_id`s repeated within the hour, and compares the hour's `_id`s with
 * MongoDB's. `repair` repairs each finished hour that is not ok (seal/rebuild.ts: append-only, it
 * adds what the archive lacks as a new part of the hour and never removes what it holds) and
 * checks it again.
 *
 * Every status (ok, purged, expired-at-source, deleted-at-source, mismatch, missing, not-archived) is
 * decided by the one verdict of verdict.ts, which the seal run's reconcile (recent-hours.ts) uses
 * too; this module only gathers what the verdict looks at, and says why in `detail`.
 *
 * Round trips to MongoDB for a range: the count aggregation (it runs while the archive is read),
 * one read of the hours' ledger records, and at the end one ledger write per day document and one
 * insert of the hours' operation records. `deep` and `repair` go one hour at a time, reading the
 * hour's ledger record when its check starts and recording its verdict when it ends.
 */
import type { Manifest } from '../seal/manifest.js';
import { countPerHour, ttlSeconds } from './mongo-counts.js';
import type { ArchiveContext } from '../seal/context.js';
import { readManifest } from '../seal/manifest.js';
import { listHourObjects, reservedParts, unlistedObjects } from '../seal/hour-objects.js';
import { compareSourceIds, readArchivedIds } from './archived-ids.js';
import type { RepairResult } from '../seal/rebuild.js';
import { repairHour } from '../seal/rebuild.js';
import type { HourFindings, HourStatus } from './verdict.js';
import { hourVerdict, passes, repairable } from './verdict.js';
import type { HourClock, HourSlot } from '../hours/hour-clock.js';
import type { HourRecord, PurgeRecord } from '../ledger/hour-states.js';

export type ReconcileStatus = HourStatus;

export interface ReconcileRow {
  hour: string;
  start: string;
  mongo: number;
  archived: number | null;
  status: ReconcileStatus;
  detail?: string;
  /** The archive was changed by --repair (a part added, objects moved out of the data prefix). */
  repaired?: boolean;
}

export interface ReconcileOptions {
  from: number;
  to: number;
  deep?: boolean;
  repair?: boolean;
  now?: number;
  /** Hours ending after this are still open: never repaired. */
  dueBefore?: number;
}

/** What the deep check found: a problem with the objects, or how many of MongoDB's `_id`s the archive lacks. */
type DeepFinding = { problem: string } | { lacking: number };

async function deepCheck(ctx: ArchiveContext, slot: HourSlot, manifest: Manifest): Promise<DeepFinding> {
  const read = await readArchivedIds(ctx, manifest);
  if ('problem' in read) return { problem: read.problem };
  try {
    return { lacking: (await compareSourceIds(ctx, slot, read.ids)).lacking };
  } finally {
    await read.ids.close();
  }
}

/** Why an hour has the status its counts gave it, for the row's detail. */
function countDetail(status: HourStatus, mongo: number, archived: number | null, ttl: number | undefined): string | undefined {
  switch (status) {
    case 'expired-at-source':
      return `TTL index expires documents after ${ttl}s`;
    case 'deleted-at-source':
      return `MongoDB has ${mongo}, the archive ${archived}: documents deleted from MongoDB after they were archived stay in the archive`;
    case 'mismatch':
      return `MongoDB has ${mongo}, the archive ${archived}`;
    default:
      return undefined;
  }
}

/** Why a purged hour holds fewer documents in MongoDB than in the archive, for the row's detail. */
function purgeDetail(purge: PurgeRecord | undefined, mongo: number): string {
  if (purge?.state === 'purging') return `a purge of the hour was interrupted (MongoDB still holds ${mongo}); run purge again to finish it`;
  const at = purge?.purgedAt ? ` on ${purge.purgedAt.toISOString()}` : '';
  return mongo === 0 ? `purged from MongoDB${at}; the archive keeps them` : `purged from MongoDB${at}; ${mongo} written later, held by the archive too`;
}

/** What a repair did, for the row's detail. */
function repairSummary(r: RepairResult): string {
  const said: string[] = [];
  if (r.added > 0) said.push(`added ${r.added} document(s) as ${r.key}${r.added !== r.fromMongo ? ` (${r.added - r.fromMongo} from objects the manifest did not list)` : ''}`);
  if (r.lost.length > 0) said.push(`${r.lost.length} listed object(s) were absent (${r.lost.reduce((n, p) => n + p.count, 0)} documents listed): what MongoDB still has of them was added`);
  if (r.moved.length > 0) said.push(`moved out of the data prefix: ${r.moved.map((m) => m.to).join(', ')}`);
  if (r.repeatedIds > 0) said.push(`${r.repeatedIds} _id(s) are in more than one part`);
  if (said.length > 0) return said.join('; ');
  return r.changed ? `wrote the manifest of the ${r.count} documents the hour holds` : 'nothing to add';
}

/**
 * Hours checked at once by a reconcile without `--deep` or `--repair` (a handful of round trips
 * each: manifest, HEADs, listing). Measured 2026-12-07 (`npm run bench -- --only reconcile`, a
 * 500,000-document day on the emulator): one hour at a time, the 24 hours' checks cost more than
 * the whole count. `--deep` reads every object back and `--repair` rewrites hours: those go one
 * hour at a time, as before.
 */
export const RECONCILE_CONCURRENCY = 8;

/** A verdict on an hour, to be recorded (ledger state, operation record). */
interface Verdict {
  slot: HourSlot;
  row: ReconcileRow;
  durationMs: number;
}

/**
 * Records verdicts as every reconcile did one hour at a time: the hour's state and reconcile
 * record in the ledger (a failed ledger write is not an error: the record in `logs` is what
 * counts), then one `reconcile` operation record per hour. Several verdicts cost one ledger write
 * per day document and one insert into `logs`.
 */
async function recordVerdicts(ctx: ArchiveContext, verdicts: readonly Verdict[], opts: ReconcileOptions): Promise<void> {
  if (verdicts.length === 0) return;
  const at = new Date();
  await ctx.ledger
    .updateMany(
      verdicts.map(({ slot, row }) => ({
        slot,
        fields: {
          ...(row.archived !== null ? { state: passes(row.status) ? 'verified' : 'mismatch' } : {}),
          reconcile: { mongo: row.mongo, archived: row.archived ?? 0, status: row.status, at },
        },
      })),
    )
    .catch(() => undefined);
  await ctx.operations.recordMany(
    verdicts.map(({ slot, row, durationMs }) => {
      const ok = passes(row.status);
      return {
        op: 'reconcile',
        hour: slot.id,
        hourStart: new Date(slot.start),
        outcome: ok ? 'ok' : 'error',
        count: row.archived ?? 0,
        durationMs,
        details: {
          mongo: row.mongo,
          archived: row.archived,
          status: row.status,
          deep: opts.deep ?? false,
          repaired: row.repaired ?? false,
          ...(row.detail && ok ? { detail: row.detail } : {}),
        },
        ...(row.detail && !ok ? { error: row.detail } : {}),
      };
    }),
  );
}

export async function reconcileRange(ctx: ArchiveContext, clock: HourClock, opts: ReconcileOptions): Promise<ReconcileRow[]> {
  const now = opts.now ?? Date.now();
  const slots = clock.slotsBetween(opts.from, opts.to);
  if (slots.length === 0) return [];
  const first = slots[0] as HourSlot;
  const last = slots[slots.length - 1] as HourSlot;
  // One hour at a time (--deep, --repair: minutes per hour, and a repair changes the hour's
  // ledger record): each hour's ledger record read when its check starts, its verdict recorded
  // when it ends. Otherwise the hours' records are read in one go and the verdicts recorded
  // together at the end: a few round trips for the range instead of three per hour.
  const oneByOne = opts.deep === true || opts.repair === true;
  const records = oneByOne ? undefined : ctx.ledger.getMany(slots);
  // MongoDB counts while the archive is read (the manifests, HEADs and listings need no count):
  // an hour is judged once both are in. For a finished hour the order of the two reads makes no
  // difference; for an hour still receiving documents neither order gives an exact answer (a
  // count aggregation is no point-in-time snapshot on a real server either), and the seal run's
  // reconcile (recent-hours.ts) reads the archive's side first too.
  const mongoSide = Promise.all([countPerHour(ctx.collection, ctx.timestampField, first.start, last.end, clock.zone), ttlSeconds(ctx.collection, ctx.timestampField)]);
  // Awaited once the hours are inspected (a failure meanwhile is not an unhandled rejection).
  mongoSide.catch(() => undefined);
  records?.catch(() => undefined);
  const recordOf = async (slot: HourSlot): Promise<HourRecord | undefined> => (records ? (await records).get(slot.id) : ctx.ledger.get(slot));
  const deep = opts.deep ?? false;
  // --deep, --repair: each hour inspected, judged (waiting for the count the first time),
  // repaired when it needs it, and recorded before the next starts.
  const oneAtATime = async (slot: HourSlot): Promise<Verdict> => {
    const t0 = Date.now();
    const found = await inspectHour(ctx, slot, await recordOf(slot), deep);
    const [counts, ttl] = await mongoSide;
    let row = judgeHour(slot, found, counts.get(slot.start) ?? 0, ttl, now);
    const due = slot.end <= (opts.dueBefore ?? now);
    if (opts.repair && due && repairable(row.status)) {
      const result = await repairHour(ctx, slot, 'repair');
      if (result.changed) {
        const recount = await countPerHour(ctx.collection, ctx.timestampField, slot.start, slot.end, clock.zone);
        const again = judgeHour(slot, await inspectHour(ctx, slot, await ctx.ledger.get(slot), deep), recount.get(slot.start) ?? 0, ttl, now);
        row = { ...again, detail: [repairSummary(result), again.detail].filter(Boolean).join('; '), repaired: true };
      } else {
        row = { ...row, detail: [row.detail, `--repair: ${repairSummary(result)}`].filter(Boolean).join('; ') };
      }
    }
    const verdict = { slot, row, durationMs: Date.now() - t0 };
    await recordVerdicts(ctx, [verdict], opts);
    return verdict;
  };
  // Otherwise every hour is inspected while MongoDB counts, all judged once the count is in.
  const inspected = async (slot: HourSlot): Promise<Inspected> => {
    const t0 = Date.now();
    const found = await inspectHour(ctx, slot, await recordOf(slot), deep);
    return { slot, found, durationMs: Date.now() - t0 };
  };
  // Rows in hour order whatever order the hours finish in; the first failure stops new hours
  // from starting, the ones under way finish and the verdicts reached are recorded, then it is
  // thrown.
  if (oneByOne) {
    const { done, failure } = await eachSlot(slots, 1, oneAtATime);
    if (failure !== undefined) throw failure.err;
    return done.map((v) => v.row);
  }
  const checked = await eachSlot(slots, RECONCILE_CONCURRENCY, inspected);
  let failure = checked.failure;
  let verdicts: Verdict[] = [];
  try {
    const [counts, ttl] = await mongoSide;
    verdicts = checked.done.map(({ slot, found, durationMs }) => ({ slot, row: judgeHour(slot, found, counts.get(slot.start) ?? 0, ttl, now), durationMs }));
    await recordVerdicts(ctx, verdicts, opts);
  } catch (err) {
    failure ??= { err };
  }
  if (failure !== undefined) throw failure.err;
  return verdicts.map((v) => v.row);
}

/** An hour's archive side, inspected (and how long that took). */
interface Inspected {
  slot: HourSlot;
  found: ArchiveFinding;
  durationMs: number;
}

/**
 * `fn` of every slot, `workers` at once; the results of those that finished, in slot order, and
 * the first failure (once one failed, no further slot starts; those under way finish).
 */
async function eachSlot<T>(slots: readonly HourSlot[], workers: number, fn: (slot: HourSlot) => Promise<T>): Promise<{ done: T[]; failure: { err: unknown } | undefined }> {
  const results = new Array<{ value: T } | undefined>(slots.length);
  let next = 0;
  let failure: { err: unknown } | undefined;
  await Promise.all(
    Array.from({ length: Math.min(workers, slots.length) }, async () => {
      while (failure === undefined && next < slots.length) {
        const i = next++;
        try {
          results[i] = { value: await fn(slots[i] as HourSlot) };
        } catch (err) {
          failure ??= { err };
        }
      }
    }),
  );
  return { done: results.filter((r): r is { value: T } => r !== undefined).map((r) => r.value), failure };
}

/** What the archive holds of an hour, found without MongoDB's count: judgeHour gives the verdict. */
interface ArchiveFinding {
  /** The manifest's count; null without a (readable) manifest. */
  archived: number | null;
  findings: Pick<HourFindings, 'absent' | 'inconsistent' | 'lacking'>;
  /** Why, when the finding itself says (else the verdict's count detail). */
  detail?: string;
  /** The hour's purge record in the ledger. */
  purge: PurgeRecord | undefined;
}

function judgeHour(slot: HourSlot, found: ArchiveFinding, mongo: number, ttl: number | undefined, now: number): ReconcileRow {
  const { archived, findings, purge } = found;
  const status = hourVerdict({ slot, mongo, archived, ttlSeconds: ttl, now, purged: purge !== undefined, ...findings });
  const why = found.detail ?? (status === 'purged' ? purgeDetail(purge, mongo) : countDetail(status, mongo, archived, ttl));
  return { hour: slot.id, start: new Date(slot.start).toISOString(), mongo, archived, status, ...(why !== undefined ? { detail: why } : {}) };
}

async function inspectHour(ctx: ArchiveContext, slot: HourSlot, record: HourRecord | undefined, deep: boolean): Promise<ArchiveFinding> {
  const purge = record?.purge;
  const finding = (archived: number | null, findings: ArchiveFinding['findings'], detail?: string): ArchiveFinding => ({ archived, findings, purge, ...(detail !== undefined ? { detail } : {}) });
  let manifest: Manifest | undefined;
  try {
    manifest = await readManifest(ctx.destination, ctx.keys.manifestKey(slot));
  } catch (err) {
    return finding(null, { inconsistent: true }, `manifest unreadable: ${(err as Error).message}`);
  }
  if (!manifest) return finding(null, {});
  const archived = manifest.count;
  for (const part of manifest.parts) {
    const info = await ctx.destination.head(part.key);
    if (!info) return finding(archived, { absent: true }, `${part.key} is listed in the manifest but absent`);
    if (info.size !== part.bytes) return finding(archived, { inconsistent: true }, `${part.key} has ${info.size} bytes, the manifest says ${part.bytes}`);
  }
  const unlisted = unlistedObjects(await listHourObjects(ctx.destination, ctx.keys, slot), manifest.parts, reservedParts(record));
  if (unlisted.length > 0) {
    const keys = unlisted.map((o) => o.key).join(', ');
    return finding(archived, { inconsistent: true }, `not listed in the manifest, yet under the data prefix: ${keys} (--repair adds what they hold that the hour lacks, then moves them out)`);
  }
  if (!deep) return finding(archived, {});
  const found = await deepCheck(ctx, slot, manifest);
  if ('problem' in found) return finding(archived, { inconsistent: true }, found.problem);
  return finding(archived, { lacking: found.lacking }, found.lacking > 0 ? `MongoDB holds ${found.lacking} documents of the hour the archive lacks` : undefined);
}
