/**
 * The seal step: closes every finished hour (its end plus the grace has passed), checks and
 * deduplicates its spool file, delivers it under its key, writes the hour's manifest and records
 * everything in the ledger. Hours that received no document get their count-0 manifest from
 * empty-hours.ts; the reconcile of recent hours against MongoDB runs after the hours are
 * delivered, within the same run, through the `reconcile` option (the archiver wires
 * src/reconcile/recent-hours.ts).
 *
 * When the spool recorded the file's size, line count and SHA-256 on closing it (its facts'
 * closing record), the upload starts on that claim while the facts are checked; the `seal`
 * record and the part reservation wait for the check, and the object is completed only after
 * both (the put's `after`). A claim the check does not confirm creates and records nothing; the
 * hour then goes on from what the check found.
 *
 * Idempotent and crash-safe: a sealed file stays in sealed/ until its object and manifest are
 * delivered and recorded; its part number is reserved in the ledger before the upload creates
 * the object at the key (the upload checks the key and sends its parts meanwhile), so a retry
 * after a crash uploads the same bytes to the same key (and skips the upload when the object is
 * already there with the same SHA-256). An object is never overwritten by other content. A
 * failed delivery leaves the hour `sealed` with the error in `logs`; the next run retries it.
 * A file of an hour `restore` wrote back into the watched collection is decoded and loses the
 * lines the hour's delivered parts hold (already-archived.ts): nothing is archived twice.
 * A failed reconcile fails nothing it follows: the report keeps every hour's outcome and says
 * why the reconcile failed (`reconcileError`); the hours stay `delivered` until one succeeds.
 */
import { promises as fs } from 'node:fs';
import { IntegrityError } from '../deliver/errors.js';
import { isFenced } from '../ledger/fence.js';
import type { HourRecord } from '../ledger/hour-states.js';
import type { Logger } from '../log.js';
import type { HourSlot } from '../hours/hour-clock.js';
import type { Spool } from '../spool/spool.js';
import type { SpoolFileId } from '../spool/spool-files.js';
import type { ArchiveContext } from './context.js';
import { alreadyArchivedIds } from './already-archived.js';
import { dropLines } from './dedupe.js';
import { sealEmptyHours } from './empty-hours.js';
import { deliveredPart, writeManifest } from './manifest.js';
import { factsPath } from '../spool/facts-file.js';
import { describeMongoError } from '../source/mongo-errors.js';
import type { SealScan } from './scan.js';
import { factsClaim, scanSpoolFile, sealScan } from './scan.js';
import type { ClosingClaim } from '../spool/facts-file.js';
import type { HourOutcome, ReconciledHour, SealReport } from './report.js';

export type { HourOutcome, ReconciledHour, SealReport } from './report.js';

/** What a Sealer needs besides the archive context: the spool and the capture it closes hours of. */
export interface SealerOptions {
  /** The spool whose sealed/ files are delivered. */
  spool: Spool;
  /** An hour is due once its end plus this many seconds has passed. */
  sealGraceSeconds: number;
  /** Closes due open files (the tailer's closeDueHours). */
  closeDueHours: (dueBefore: number) => Promise<unknown>;
  /** First hour captured: empty hours from here on get a count-0 manifest. */
  firstHour: () => number;
  /**
   * Runs at the end of every seal run, once the due hours are delivered, with the run's `now`:
   * the reconcile of recent hours against MongoDB (its verdicts are the report's `reconciled`).
   * Without it, `reconciled` stays empty.
   */
  reconcile?: (now: number) => Promise<ReconciledHour[]>;
  log: Logger;
}

/** The delivery of one sealed file whose size, line count and SHA-256 are known (its claim). */
interface CheckedDelivery {
  slot: HourSlot;
  file: SealedFile;
  /** The hour's ledger record when the delivery began. */
  record: HourRecord | undefined;
  /** When the delivery of the file began (Date.now()), for the seal record's duration. */
  startedAt: number;
  /** The file's size, line count and SHA-256 that the upload starts on. */
  claim: ClosingClaim;
  /** Resolves with the check of the file (what the claim must match), once `startCheck` ran. */
  confirmed: Promise<SealScan>;
  /** Lines dropped from the file as repeated `_id`s before this delivery. */
  duplicatesRemoved: number;
  /** Lines dropped because a delivered part of the hour holds their `_id` (a restore into the source). */
  alreadyArchivedRemoved: number;
  /** Starts the check (when the upload has read the whole file, or nothing else is left to wait for). */
  startCheck: () => void;
}

type SealedFile = SpoolFileId & { path: string; name: string };

/** The check of a sealed file did not confirm what its facts' closing record claimed. */
class ClaimNotConfirmed extends Error {
  constructor(reason: string | undefined) {
    super(`the facts check did not confirm the closing record (${reason ?? 'it found other figures'})`);
  }
}

function partKey(file: SpoolFileId): string {
  return `${file.hour}-p${file.part}`;
}

/** Whether a delivery failed because the source file's bytes differ from what the seal declared. */
function isSourceMismatch(err: unknown): boolean {
  for (let e = err; e instanceof Error; e = e.cause) {
    if (e instanceof IntegrityError) return e.phase === 'source';
  }
  return false;
}

/**
 * Removes a delivered spool file and its facts sidecar (the file last: it is what marks the work).
 * Called only once the file's content is delivered and verified (DESIGN invariant 10): the
 * object's size and SHA-256 were checked by the destination's put (or the ledger already
 * records a part with the SHA-256 and line count the check of this file confirmed), and the
 * hour's ledger record lists that part.
 */
async function removeSealedFile(path: string): Promise<void> {
  await fs.rm(factsPath(path), { force: true });
  await fs.rm(path, { force: true });
}

export class Sealer {
  private running: Promise<SealReport> | undefined;
  /** Removals of delivered files started by the current run (it waits for them before it ends). */
  private removals: Array<Promise<void>> = [];

  constructor(
    private readonly ctx: ArchiveContext,
    private readonly options: SealerOptions,
  ) {}

  /** Resolves when no seal run is in progress. */
  async idle(): Promise<void> {
    await this.running?.catch(() => undefined);
  }

  /** Seals every due hour once. Concurrent calls share one run. */
  sealDue(now = Date.now()): Promise<SealReport> {
    this.running ??= this.run(now).finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async run(now: number): Promise<SealReport> {
    try {
      return await this.sealAndReconcile(now);
    } finally {
      const removals = this.removals;
      this.removals = [];
      await Promise.all(removals);
    }
  }

  private async sealAndReconcile(now: number): Promise<SealReport> {
    const { ctx, options } = this;
    const dueBefore = now - options.sealGraceSeconds * 1000;
    const report: SealReport = { dueBefore, hours: [], reconciled: [], failed: 0 };
    await options.closeDueHours(dueBefore);
    const delivered = new Set<number>();
    for (const file of await options.spool.sealedFiles()) {
      const slot = ctx.clock.slotAt(file.hour);
      try {
        const out = await this.deliverFile(slot, file);
        report.hours.push(out);
        delivered.add(slot.start);
      } catch (err) {
        // Fenced out (a newer owner holds the namespace): stop at once, recording nothing more.
        if (isFenced(err)) throw err;
        report.failed++;
        const message = (err as Error).message;
        report.hours.push({ hour: slot.id, start: slot.start, count: 0, status: 'failed', error: message });
        options.log.error('hour delivery failed; it stays sealed and is retried at the next run', { hour: slot.id, error: message });
        await ctx.ledger.update(slot, { state: 'sealed', lastError: message }).catch(() => undefined);
      }
    }
    const empty = await sealEmptyHours(ctx, { dueBefore, firstHour: options.firstHour(), delivered, mayAdvanceWatermark: report.failed === 0 });
    report.hours.push(...empty);
    report.failed += empty.filter((h) => h.status === 'failed').length;
    if (options.reconcile) {
      try {
        report.reconciled = await options.reconcile(now);
      } catch (err) {
        // A newer owner took over: this process stops (never reported as a reconcile failure).
        if (isFenced(err)) throw err;
        report.reconcileError = describeMongoError(err);
        options.log.error('reconcile after the seal run failed: the hours this run delivered stay delivered (not yet verified); the next seal run reconciles them again', {
          error: report.reconcileError,
          delivered: report.hours.filter((h) => h.status !== 'failed').map((h) => h.hour),
        });
      }
    }
    return report;
  }

  private async deliverFile(slot: HourSlot, file: SealedFile): Promise<HourOutcome> {
    const { ctx } = this;
    const startedAt = Date.now();
    // The check of the file starts once the upload has read the whole file (or at once without
    // an upload to wait for): its CPU work must not delay the reads and hashing of the parts; it
    // runs while the last parts are in flight.
    let startCheck!: () => void;
    const checking = new Promise<void>((resolve) => (startCheck = resolve)).then(() => sealScan(file.path, ctx.timestampField, ctx.jsonMode));
    checking.catch(() => undefined);
    const [claim, { record, restored }] = await Promise.all([factsClaim(file.path), ctx.ledger.getWithMark(slot)]);
    // A file of an hour restored into the source is checked line by line against the archive.
    if (claim !== undefined && restored === undefined) {
      // The upload starts on what the spool recorded when it closed the file, while the facts
      // are checked; the object is completed only once the check confirms it (see deliverChecked).
      const confirmed = checking.then((c) => {
        if (c.method !== 'facts' || c.scan.sha256 !== claim.sha256 || c.scan.lines !== claim.lines || c.scan.bytes !== claim.bytes) {
          throw new ClaimNotConfirmed(c.reason);
        }
        return c;
      });
      try {
        return await this.deliverChecked({ slot, file, record, startedAt, claim, confirmed, duplicatesRemoved: 0, alreadyArchivedRemoved: 0, startCheck });
      } catch (err) {
        // Nothing was recorded or created on the claim: go on with what the check found.
        if (!(err instanceof ClaimNotConfirmed)) throw err;
      }
    }
    startCheck();
    const checked = await checking;
    let scan = checked.scan;
    if (checked.method === 'decode') this.options.log.debug('spool file decoded to seal it', { hour: slot.id, file: file.name, reason: checked.reason });
    const archived = await alreadyArchivedIds(ctx, slot, restored, record?.reservations?.[partKey(file)]?.part);
    const dropped = { duplicates: 0, archived: 0 };
    try {
      if (scan.duplicateLines > 0 || (archived?.added ?? 0) > 0) {
        // Rewrites the sealed file in place: only while this process still owns the namespace.
        await ctx.fencing?.check();
        Object.assign(dropped, await dropLines(file.path, { duplicateIds: scan.duplicateIds, ...(archived ? { archived } : {}) }, ctx.gzipLevel));
      }
    } finally {
      await archived?.close();
    }
    if (dropped.duplicates + dropped.archived > 0) {
      // The rewritten file no longer matches its facts (a sidecar holds no document).
      await fs.rm(factsPath(file.path), { force: true });
      if (dropped.duplicates > 0) this.options.log.warn('duplicate _id removed while sealing', { hour: slot.id, removed: dropped.duplicates, ids: scan.duplicateIds.slice(0, 10) });
      if (dropped.archived > 0) this.options.log.info('restored documents already archived in the hour dropped while sealing', { hour: slot.id, file: file.name, removed: dropped.archived });
      scan = await scanSpoolFile(file.path, ctx.timestampField);
    }
    if (scan.lines === 0 && dropped.archived > 0) return this.nothingLeft(slot, file, record, startedAt, dropped);
    const final: SealScan = { ...checked, scan };
    return this.deliverChecked({
      slot,
      file,
      record,
      startedAt,
      claim: { bytes: scan.bytes, lines: scan.lines, sha256: scan.sha256 },
      confirmed: Promise.resolve(final),
      duplicatesRemoved: dropped.duplicates,
      alreadyArchivedRemoved: dropped.archived,
      startCheck: () => undefined,
    });
  }

  /**
   * Delivers a sealed file whose size, line count and SHA-256 are its `claim`, once `confirmed`
   * resolves with the check of the file, which `startCheck` starts (when the upload has read the
   * whole file, or when nothing else is left to wait for). The `seal` record and the part
   * reservation wait for the check; the upload does not, but it creates nothing at the key before
   * both are written. When the check does not confirm the claim, this rejects with
   * ClaimNotConfirmed and has created and recorded nothing.
   */
  private async deliverChecked(delivery: CheckedDelivery): Promise<HourOutcome> {
    const { slot, file, record, startedAt, claim, confirmed, duplicatesRemoved, alreadyArchivedRemoved, startCheck } = delivery;
    const { ctx } = this;
    confirmed.catch(() => undefined);
    // The record of the check is written while the upload starts (it is not part of the
    // crash-safety protocol; a failure to write it still fails this hour's delivery).
    const sealRecorded = confirmed.then((checked) =>
      ctx.operations.record({
        op: 'seal',
        hour: slot.id,
        hourStart: new Date(slot.start),
        outcome: 'ok',
        count: checked.scan.lines,
        bytes: checked.scan.bytes,
        durationMs: Date.now() - startedAt,
        details: { duplicatesRemoved, ...(alreadyArchivedRemoved > 0 ? { alreadyArchivedRemoved } : {}), sha256: checked.scan.sha256, file: file.name, checkedBy: checked.method },
      }),
    );
    sealRecorded.catch(() => undefined);
    const done = (record?.parts ?? []).find((p) => p.sha256 === claim.sha256 && p.count === claim.lines);
    if (done) {
      // Delivered and recorded by a run that stopped before removing the local file.
      startCheck();
      await sealRecorded;
      this.removeLater(slot, file);
      return { hour: slot.id, start: slot.start, count: claim.lines, key: done.key, status: 'delivered' };
    }
    const reservation = record?.reservations?.[partKey(file)];
    let part: number;
    let reserved: Promise<unknown> = Promise.resolve();
    if (reservation && reservation.sha256 === claim.sha256) {
      part = reservation.part;
    } else {
      const used = [...(record?.parts ?? []).map((p) => p.part), ...Object.values(record?.reservations ?? {}).filter(Boolean).map((r) => r.part)];
      // The file's bytes differ from those it reserved its part for (its facts were wrong, or it
      // was deduplicated): it keeps that part unless an object was completed there meanwhile.
      const stale = reservation?.part;
      const free = stale !== undefined && !(await ctx.destination.head(ctx.keys.dataKey(slot, { index: stale, revision: 0 })));
      part = free ? stale : used.length === 0 ? 1 : Math.max(...used) + 1;
      reserved = confirmed.then(() =>
        ctx.ledger.update(slot, {
          state: record?.state === 'verified' || record?.state === 'delivered' || record?.state === 'mismatch' ? record.state : 'sealed',
          [`reservations.${partKey(file)}`]: { part, revision: 0, sha256: claim.sha256 },
        } as Partial<HourRecord>),
      );
    }
    // Nothing is created at the key before its reservation is in the ledger; the upload checks
    // the key and sends its parts meanwhile. (A put that fails before it awaits this must not
    // leave its rejection unhandled.)
    const reservedAndRecorded = Promise.all([reserved, sealRecorded]);
    reservedAndRecorded.catch(() => undefined);
    const key = ctx.keys.dataKey(slot, { index: part, revision: 0 });
    const t1 = Date.now();
    let attempts = 0;
    try {
      // An identical object may be there already (delivered by a run that stopped before
      // recording it); an object with other content is never replaced.
      const put = await ctx.destination.put({
        key,
        source: { path: file.path },
        size: claim.bytes,
        sha256: claim.sha256,
        contentType: 'application/x-ndjson',
        metadata: { hour: slot.id, count: String(claim.lines) },
        noOverwrite: true,
        after: reservedAndRecorded,
        onSourceRead: startCheck,
      });
      attempts = put.alreadyPresent === true ? 0 : put.attempts;
    } catch (err) {
      startCheck();
      if (err instanceof ClaimNotConfirmed || isFenced(err)) throw err;
      // The reservation refused (a newer owner): the upload was stopped for that reason.
      const fenced = await reserved.then(
        () => undefined,
        (e: unknown) => (isFenced(e) ? e : undefined),
      );
      if (fenced) throw fenced;
      const checked = await confirmed.catch(() => undefined);
      if (checked?.method === 'facts' && isSourceMismatch(err)) {
        // The file's bytes are not what its facts describe: check it by decoding next time
        // (a sidecar holds no document).
        await fs.rm(factsPath(file.path), { force: true });
        this.options.log.warn('spool file does not match its facts; it is decoded at the next seal run', { hour: slot.id, file: file.name });
      }
      await ctx.operations.record({
        op: 'deliver',
        hour: slot.id,
        hourStart: new Date(slot.start),
        outcome: 'error',
        key,
        bytes: claim.bytes,
        count: claim.lines,
        durationMs: Date.now() - t1,
        attempts: (err as { attempts?: number }).attempts ?? attempts,
        error: (err as Error).message,
      });
      throw err;
    }
    startCheck();
    const { scan, types } = await confirmed;
    // After a duplicate was dropped, the types are those of the file before: the dropped lines
    // were repeats of kept documents (same `_id`).
    const newPart = deliveredPart(key, part, scan, duplicatesRemoved, types, alreadyArchivedRemoved);
    const parts = [...(record?.parts ?? []).filter((p) => p.part !== part), newPart];
    const manifestKey = await writeManifest(ctx, slot, parts);
    // The ledger update is what records the delivery; the log record is written alongside it.
    // The spool file is removed only after both.
    await Promise.all([
      ctx.ledger.update(slot, {
        state: 'delivered',
        count: parts.reduce((n, p) => n + p.count, 0),
        bytes: parts.reduce((n, p) => n + p.bytes, 0),
        parts,
        manifestKey,
        lastError: null,
        [`reservations.${partKey(file)}`]: null,
      } as Partial<HourRecord>),
      ctx.operations.record({
        op: 'deliver',
        hour: slot.id,
        hourStart: new Date(slot.start),
        outcome: 'ok',
        key,
        bytes: scan.bytes,
        count: scan.lines,
        durationMs: Date.now() - t1,
        attempts,
      }),
    ]);
    this.removeLater(slot, file);
    return { hour: slot.id, start: slot.start, count: scan.lines, key, status: 'delivered' };
  }

  /**
   * A file of a restored hour whose every line a delivered part holds: no object is created; its
   * reservation (if an earlier attempt made one) is released, the `seal` record says what was
   * dropped, and the file is removed (everything it held is delivered).
   */
  private async nothingLeft(slot: HourSlot, file: SealedFile, record: HourRecord | undefined, startedAt: number, dropped: { duplicates: number; archived: number }): Promise<HourOutcome> {
    const { ctx } = this;
    if (record?.reservations?.[partKey(file)]) await ctx.ledger.update(slot, { [`reservations.${partKey(file)}`]: null } as Partial<HourRecord>);
    await ctx.operations.record({
      op: 'seal',
      hour: slot.id,
      hourStart: new Date(slot.start),
      outcome: 'ok',
      count: 0,
      durationMs: Date.now() - startedAt,
      details: { duplicatesRemoved: dropped.duplicates, alreadyArchivedRemoved: dropped.archived, file: file.name, checkedBy: 'decode', delivered: false },
    });
    this.removeLater(slot, file);
    return { hour: slot.id, start: slot.start, count: 0, status: 'already-archived' };
  }

  /**
   * Removes a delivered file while the run goes on (the run waits for it before it ends). The
   * hour stays delivered if that fails: the next run finds the file recorded and removes it.
   */
  private removeLater(slot: HourSlot, file: SealedFile): void {
    this.removals.push(
      removeSealedFile(file.path).catch((err: unknown) => {
        this.options.log.warn('cannot remove a delivered spool file; the next seal run removes it', { hour: slot.id, file: file.name, error: (err as Error).message });
      }),
    );
  }

}
