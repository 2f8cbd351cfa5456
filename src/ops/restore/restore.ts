/**
 * `restore`: archived hours back into MongoDB.
 *
 * For each hour of [from, to), in order:
 *  1. its manifest is read from the destination (no manifest: the hour is reported, nothing to do);
 *  2. every part the manifest lists is fetched and its size and SHA-256 checked against the
 *     manifest (verified-objects.ts) before one document of the hour is written: a missing or
 *     corrupt object fails the hour (its error names the key, expected and actual), nothing of it
 *     is written, and the command exits 1 once the other hours are done;
 *  3. into the watched collection (the target is the context's namespace): the hour is marked
 *     restored in the ledger (journaled, majority) before its first insert, so that the seal drops
 *     the restored documents capture reads back as inserts of their hours: each `_id` stays in
 *     one delivered object of its hour (src/seal/already-archived.ts);
 *  4. the lines are revived into documents (revive.ts: exact in `ejson` mode; by the part's type
 *     summary in `analytics` mode) and inserted in bounded batches (RESTORE_BATCH_DOCUMENTS
 *     documents or RESTORE_BATCH_BYTES of JSON, two batches in flight while the next is decoded)
 *     with unordered `insertMany`; a duplicate-key error (11000) means the `_id` is already
 *     there: counted as already present, never overwritten. Idempotent: a rerun after a crash or
 *     SIGKILL inserts what is missing and ends with the same collection;
 *  5. the hour's summary (restored, already present, skipped, mixed-type fields, fields not
 *     revived) is recorded in `logs` (op `restore`).
 * Why inserts and not upserts: an insert never changes a document that is already there (one the
 * application changed since, or restored before), and unordered inserts are the fastest bulk
 * path; upserts would replace documents and cost a lookup each.
 *
 * `dryRun`: everything but the inserts (the archive is fetched, verified and decoded).
 */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Collection, Document } from 'mongodb';
import { isCronLogError } from '../../errors.js';
import type { HourSlot } from '../../hours/hour-clock.js';
import type { ArchiveContext } from '../../seal/context.js';
import type { Manifest } from '../../seal/manifest.js';
import { InvalidManifestError, readManifest } from '../../seal/manifest.js';
import { readGzipLines } from '../../spool/gzip-members.js';
import type { ReviveReport } from './revive.js';
import { newNotes, partReviver, reviveReport } from './revive.js';
import { fetchVerifiedParts, PartIntegrityError, removeParts } from './verified-objects.js';
import type { VerifiedPart } from './verified-objects.js';

export const RESTORE_BATCH_DOCUMENTS = 5000;
export const RESTORE_BATCH_BYTES = 8 * 1024 * 1024;

export type RestoreContext = Pick<ArchiveContext, 'destination' | 'keys' | 'clock' | 'operations' | 'workDirectory' | 'ledger' | 'namespace'>;

export interface RestoreOptions {
  from: number;
  to: number;
  /** Where documents go. */
  target: Collection<Document>;
  /** `db.collection` of the target (reports, logs). */
  targetNamespace: string;
  dryRun?: boolean;
  /** Told after every batch (and hour): documents handled so far in the hour, its total. */
  onProgress?: (event: RestoreProgress) => void;
  batchDocuments?: number;
}

export interface RestoreProgress {
  hour: string;
  /** Documents of the hour handled (inserted or found present) so far. */
  done: number;
  /** Documents the hour's manifest counts. */
  total: number;
}

export type RestoreHourStatus = 'restored' | 'dry-run' | 'failed' | 'no-manifest';

export interface RestoreHour extends Partial<ReviveReport> {
  hour: string;
  manifestKey: string;
  status: RestoreHourStatus;
  jsonMode?: string;
  parts: number;
  /** Documents the manifest counts. */
  documents: number;
  /** Inserted by this run. */
  restored: number;
  /** Already in the target with the same `_id` (not overwritten). */
  alreadyPresent: number;
  /** Not written: the hour failed, or a dry run. */
  skipped: number;
  error?: string;
  /** The object that failed the hour (missing or corrupt). */
  failedKey?: string;
}

export interface RestoreReport {
  from: string;
  to: string;
  target: string;
  dryRun: boolean;
  hours: RestoreHour[];
  totals: { documents: number; restored: number; alreadyPresent: number; skipped: number; failedHours: number };
  /** Fields of mixed BSON types in the range (a value may come back as the other type). */
  mixedTypes: string[];
  ok: boolean;
}

export async function restoreRange(ctx: RestoreContext, opts: RestoreOptions): Promise<RestoreReport> {
  const hours: RestoreHour[] = [];
  for (const slot of ctx.clock.slotsBetween(opts.from, opts.to)) hours.push(await restoreHour(ctx, slot, opts));
  const sum = (f: (h: RestoreHour) => number): number => hours.reduce((n, h) => n + f(h), 0);
  const failedHours = hours.filter((h) => h.status === 'failed').length;
  return {
    from: new Date(opts.from).toISOString(),
    to: new Date(opts.to).toISOString(),
    target: opts.targetNamespace,
    dryRun: opts.dryRun === true,
    hours,
    totals: { documents: sum((h) => h.documents), restored: sum((h) => h.restored), alreadyPresent: sum((h) => h.alreadyPresent), skipped: sum((h) => h.skipped), failedHours },
    mixedTypes: [...new Set(hours.flatMap((h) => h.mixedTypes ?? []))].sort(),
    ok: failedHours === 0,
  };
}

async function restoreHour(ctx: RestoreContext, slot: HourSlot, opts: RestoreOptions): Promise<RestoreHour> {
  const t0 = Date.now();
  const manifestKey = ctx.keys.manifestKey(slot);
  const base = { hour: slot.id, manifestKey, parts: 0, documents: 0, restored: 0, alreadyPresent: 0, skipped: 0 };
  let manifest: Manifest | undefined;
  try {
    manifest = await readManifest(ctx.destination, manifestKey);
  } catch (err) {
    if (!(err instanceof InvalidManifestError)) throw err;
    const out: RestoreHour = { ...base, status: 'failed', error: `${err.message}; nothing of this hour was restored`, failedKey: manifestKey };
    await record(ctx, slot, out, opts, t0);
    return out;
  }
  if (manifest === undefined) return { ...base, status: 'no-manifest' };
  const hour: RestoreHour = { ...base, status: opts.dryRun ? 'dry-run' : 'restored', jsonMode: manifest.jsonMode, parts: manifest.parts.length, documents: manifest.count };
  let parts: VerifiedPart[] = [];
  try {
    parts = await fetchVerifiedParts(ctx.destination, manifestKey, manifest.parts, join(ctx.workDirectory ?? tmpdir(), 'restore'));
  } catch (err) {
    if (!(err instanceof PartIntegrityError)) throw err;
    const out: RestoreHour = { ...hour, status: 'failed', skipped: manifest.count, error: err.message, failedKey: err.key };
    await record(ctx, slot, out, opts, t0);
    return out;
  }
  try {
    // Durable before the first insert of the hour: capture may read it back at once (see the header).
    if (!opts.dryRun && opts.targetNamespace === ctx.namespace) await ctx.ledger.markRestored(slot);
    const notes = newNotes();
    const loader = new BatchLoader(opts.dryRun === true ? undefined : opts.target, opts.batchDocuments ?? RESTORE_BATCH_DOCUMENTS, (done) => opts.onProgress?.({ hour: slot.id, done, total: manifest.count }));
    for (const { part, path } of parts) {
      const revive = partReviver(manifest.jsonMode, part.types, manifest.timestampField, notes);
      for await (const line of readGzipLines(path)) await loader.add(revive(line), line.length);
    }
    await loader.finish();
    Object.assign(hour, reviveReport(manifest.jsonMode, manifest.parts, notes, manifest.timestampField));
    if (opts.dryRun) hour.skipped = loader.seen;
    else {
      hour.restored = loader.inserted;
      hour.alreadyPresent = loader.present;
    }
  } catch (err) {
    hour.status = 'failed';
    hour.error = isCronLogError(err) ? err.message : `restore of ${slot.id} failed: ${(err as Error).message}`;
    await record(ctx, slot, hour, opts, t0).catch(() => undefined);
    throw err;
  } finally {
    await removeParts(parts);
  }
  await record(ctx, slot, hour, opts, t0);
  return hour;
}

async function record(ctx: RestoreContext, slot: HourSlot, h: RestoreHour, opts: RestoreOptions, t0: number): Promise<void> {
  await ctx.operations.record({
    op: 'restore',
    hour: slot.id,
    hourStart: new Date(slot.start),
    outcome: h.status === 'failed' ? 'error' : h.status === 'dry-run' ? 'skipped' : 'ok',
    count: h.restored,
    key: h.failedKey ?? h.manifestKey,
    durationMs: Date.now() - t0,
    ...(h.error !== undefined ? { error: h.error } : {}),
    details: {
      target: opts.targetNamespace,
      dryRun: opts.dryRun === true,
      documents: h.documents,
      restored: h.restored,
      alreadyPresent: h.alreadyPresent,
      skipped: h.skipped,
      mixedTypes: h.mixedTypes ?? [],
      notRevived: h.notRevived ?? [],
    },
  });
}

/** Batches in flight at once (the next one is decoded meanwhile). */
const IN_FLIGHT = 2;

/** Unordered insertMany in bounded batches, IN_FLIGHT at once while the next fills (see the header). */
class BatchLoader {
  private batch: Document[] = [];
  private bytes = 0;
  private readonly inFlight: Array<Promise<void>> = [];
  inserted = 0;
  present = 0;
  seen = 0;

  constructor(
    private readonly target: Collection<Document> | undefined,
    private readonly maxDocuments: number,
    private readonly progress: (done: number) => void,
  ) {}

  async add(doc: Document, bytes: number): Promise<void> {
    this.batch.push(doc);
    this.bytes += bytes;
    this.seen++;
    if (this.batch.length >= this.maxDocuments || this.bytes >= RESTORE_BATCH_BYTES) await this.send();
  }

  async finish(): Promise<void> {
    await this.send();
    // Every batch settles before the first failure is thrown: none is left running.
    const results = await Promise.allSettled(this.inFlight.splice(0));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }

  private async send(): Promise<void> {
    const docs = this.batch;
    if (docs.length === 0) return;
    this.batch = [];
    this.bytes = 0;
    if (this.target === undefined) {
      this.progress(this.seen);
      return;
    }
    if (this.inFlight.length >= IN_FLIGHT) await this.inFlight.shift();
    const run = insertIgnoringDuplicates(this.target, docs).then(({ inserted, present }) => {
      this.inserted += inserted;
      this.present += present;
      this.progress(this.inserted + this.present);
    });
    run.catch(() => undefined);
    this.inFlight.push(run);
  }
}

/** Inserts `docs` unordered; duplicate `_id`s (11000) count as present; any other error throws. */
export async function insertIgnoringDuplicates(target: Collection<Document>, docs: Document[]): Promise<{ inserted: number; present: number }> {
  try {
    const r = await target.insertMany(docs, { ordered: false });
    return { inserted: r.insertedCount, present: 0 };
  } catch (err) {
    const e = err as { writeErrors?: Array<{ code?: number; errmsg?: string }> | { code?: number }; insertedCount?: number; result?: { insertedCount?: number } };
    const writeErrors = Array.isArray(e.writeErrors) ? e.writeErrors : e.writeErrors ? [e.writeErrors] : undefined;
    if (writeErrors === undefined || writeErrors.length === 0 || writeErrors.some((w) => w.code !== 11000)) throw err;
    const inserted = e.insertedCount ?? e.result?.insertedCount ?? docs.length - writeErrors.length;
    return { inserted, present: writeErrors.length };
  }
}
