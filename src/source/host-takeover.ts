/**
 * Takeover from another host: what a new owner does when the checkpoint it loads was saved on
 * another host, whose spool files are not on this host's disk.
 *
 * The rule (decided from the checkpoint, the spool directory and the hour ledger; `verdict` is
 * pure):
 * - The checkpoint records the host of the process that saved it (`host`, os.hostname()).
 * - A file is lost when the checkpoint lists it and this host's spool does not have it: an open
 *   file with durable bytes (offset > 0) absent from open/, a closing file absent from open/ and
 *   sealed/. An hour is lost undelivered when sealed/ here holds no file of it and the ledger
 *   shows it `sealed`, or the checkpoint shows it closed with more local parts than the ledger
 *   records delivered or lost (`lostParts`: a late part sealed but not delivered yet).
 * - Checkpoint saved on THIS host (or by a version that did not record the host) and a listed
 *   file missing: the disk lost files under a running owner (a broken or replaced disk, a
 *   cleaned directory). That stays an error (SPOOL_CORRUPT, src/spool/spool.ts): nothing here
 *   proves the files are gone for good, and the operator decides (restore, or --reset-from).
 * - Checkpoint saved on ANOTHER host and nothing lost: a renamed host or a shared disk; capture
 *   resumes as usual.
 * - Checkpoint saved on another host and something lost: a takeover. The new owner drops the
 *   lost files from the spool state it recovers, records the takeover in the checkpoint
 *   (`pendingRepair`, reason `host-takeover`) and rebuilds from a query every hour from the
 *   oldest lost one on (src/source/gap-repair.ts, closed hours included: their documents go to
 *   a new late part), skipping every `_id` the delivered parts of those hours hold (read back
 *   from the destination) and every `_id` in this host's spool. Then the stream resumes at the
 *   cluster time read before the query (with the dedupe window). A crash meanwhile repeats the
 *   rebuild at the next start (the marker stays until the rebuild's last checkpoint clears it).
 * - The hour records of hours lost undelivered: `lostParts` counts the local parts lost with the
 *   host (so a later takeover does not count them again), lastError says what happened, and
 *   part reservations stay (their part numbers are never reused: an upload interrupted by the
 *   loss may have left an object at the key). An hour the query
 *   wrote documents for stays `sealed` until the seal delivers its new part (then `delivered`);
 *   one it wrote none for (everything it held is in its delivered parts already, or MongoDB no
 *   longer has the rest) is recorded `delivered` with the parts it has, so reconcile checks it
 *   like any other hour instead of it waiting for a delivery forever.
 * - The operation is recorded in `logs` (op `repair`, details: reason `host-takeover`, previous
 *   host, hours rebuilt, documents written) and logged.
 */
import { promises as fs } from 'node:fs';
import { hostname } from 'node:os';
import { CronLogError } from '../errors.js';
import type { CaptureCheckpoint, PendingRepair } from '../ledger/checkpoints.js';
import type { HourRecord, HourState } from '../ledger/hour-states.js';
import type { Logger } from '../log.js';
import type { OperationRecord } from '../ledger/operation-log.js';
import type { KeySink } from '../spool/spilling-key-set.js';
import type { SpoolFileId, SpoolFileState, SpoolLayout, SpoolState } from '../spool/spool-files.js';
import { fileKey, parseSpoolFileName, spoolFileName } from '../spool/spool-files.js';
import type { GapRepairCapture } from './gap-repair.js';
import { repairGap } from './gap-repair.js';

/** What a takeover reads and writes outside the spool: wired by the archiver from its archive context. */
export interface TakeoverArchive {
  /** Every hour record whose start is in [from, to). */
  hourRecords(from: number, to: number): Promise<Array<{ record: HourRecord }>>;
  /** Sets fields of the record of the hour starting at `hour`. */
  updateHour(hour: number, fields: Partial<HourRecord>): Promise<void>;
  /** Adds to `into` the `_id` keys held by the delivered parts of the hour starting at `hour`. */
  deliveredIds(hour: number, into: KeySink): Promise<void>;
  /** Records an operation in `logs`. */
  record(rec: OperationRecord): Promise<void>;
}

/** The ledger's view of one hour, as the verdict needs it. */
export interface HourView {
  start: number;
  state: HourState;
  /** Parts delivered (listed in the record). */
  parts: number;
  /** Local parts recorded lost by an earlier takeover. */
  lostParts: number;
}

export interface VerdictInput {
  /** The host the checkpoint was saved on (undefined: a version that did not record it). */
  previousHost: string | undefined;
  thisHost: string;
  /** Files the checkpoint lists that this host's spool does not have. */
  lostFiles: readonly SpoolFileId[];
  /** The ledger's hours from the oldest closed hour on. */
  hours: readonly HourView[];
  /** The checkpoint's closed hours with their last local part. */
  closedHours: ReadonlyArray<{ hour: number; lastPart: number }>;
  /** Hours with a file in sealed/ on this host. */
  sealedHere: ReadonlySet<number>;
}

export type Verdict =
  | { kind: 'resume' }
  | { kind: 'broken-disk'; lostFiles: SpoolFileId[] }
  | { kind: 'takeover'; from: number; previousHost: string; lostHours: number[]; undelivered: LostHour[] };

/** An hour lost undelivered, with how many of its local parts were lost undelivered in all (earlier takeovers' included). */
export interface LostHour {
  hour: number;
  lostParts: number;
}

/** What a start does with the checkpoint's spool files on this host (see the header). */
export function verdict(input: VerdictInput): Verdict {
  const { previousHost, thisHost, lostFiles } = input;
  if (previousHost === undefined || previousHost === thisHost) {
    return lostFiles.length === 0 ? { kind: 'resume' } : { kind: 'broken-disk', lostFiles: [...lostFiles] };
  }
  const undelivered = new Map<number, number>();
  const byStart = new Map(input.hours.map((h) => [h.start, h]));
  for (const h of input.hours) {
    if (h.state === 'sealed' && !input.sealedHere.has(h.start)) undelivered.set(h.start, h.lostParts + 1);
  }
  for (const c of input.closedHours) {
    const h = byStart.get(c.hour);
    const accounted = (h?.parts ?? 0) + (h?.lostParts ?? 0);
    if (c.lastPart > accounted && !input.sealedHere.has(c.hour)) undelivered.set(c.hour, c.lastPart - (h?.parts ?? 0));
  }
  const lostHours = new Set([...lostFiles.map((f) => f.hour), ...undelivered.keys()]);
  if (lostHours.size === 0) return { kind: 'resume' };
  const sorted = [...lostHours].sort((a, b) => a - b);
  return {
    kind: 'takeover',
    from: sorted[0] as number,
    previousHost,
    lostHours: sorted,
    undelivered: [...undelivered].sort((a, b) => a[0] - b[0]).map(([hour, lostParts]) => ({ hour, lostParts })),
  };
}

/** The checkpointed files missing from this host's spool (see the header for "lost"). */
export function lostFiles(state: SpoolState, openNames: ReadonlySet<string>, sealedNames: ReadonlySet<string>): SpoolFileState[] {
  const lost: SpoolFileState[] = [];
  for (const f of state.files) if (f.offset > 0 && !openNames.has(spoolFileName(f))) lost.push(f);
  for (const f of state.closing ?? []) {
    const name = spoolFileName(f);
    if (!openNames.has(name) && !sealedNames.has(name)) lost.push(f);
  }
  return lost;
}

/** The spool state without the lost files: what a takeover recovers. */
export function withoutLost(state: SpoolState, lost: readonly SpoolFileId[]): SpoolState {
  const gone = new Set(lost.map(fileKey));
  return { files: state.files.filter((f) => !gone.has(fileKey(f))), closing: (state.closing ?? []).filter((f) => !gone.has(fileKey(f))) };
}

async function names(dir: string): Promise<Set<string>> {
  try {
    return new Set(await fs.readdir(dir));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return new Set();
    throw err;
  }
}

/** What this host's spool directory holds: the names in open/ and sealed/, and the hours of sealed/ files. */
export async function spoolOnDisk(layout: SpoolLayout): Promise<{ open: Set<string>; sealed: Set<string>; sealedHours: Set<number> }> {
  const [open, sealed] = await Promise.all([names(layout.open), names(layout.sealed)]);
  const sealedHours = new Set<number>();
  for (const n of sealed) {
    const id = parseSpoolFileName(n);
    if (id) sealedHours.add(id.hour);
  }
  return { open, sealed, sealedHours };
}

/** The ledger's hour records as the verdict reads them. */
export function hourViews(records: ReadonlyArray<{ record: HourRecord }>): HourView[] {
  return records.map(({ record }) => ({
    start: record.start.getTime(),
    state: record.state,
    parts: record.parts?.length ?? 0,
    lostParts: record.lostParts ?? 0,
  }));
}

/**
 * What the record of an hour lost undelivered becomes once the rebuild wrote `written` documents
 * into it (see the header): its lost parts counted, the error says why, and `delivered` when
 * nothing new is to be sealed for it.
 */
export function lostHourFields(record: HourRecord | undefined, lost: LostHour, written: number, previousHost: string): Partial<HourRecord> {
  const fields: Partial<HourRecord> = {
    lostParts: lost.lostParts,
    lastError: `the spool file of this hour was lost with host ${previousHost}; rebuilt from a query (host takeover)`,
  };
  if (written === 0) {
    const parts = record?.parts ?? [];
    fields.state = 'delivered';
    fields.parts = parts;
    fields.count = parts.reduce((n, p) => n + p.count, 0);
    fields.bytes = parts.reduce((n, p) => n + p.bytes, 0);
  }
  return fields;
}

/**
 * Whether loading `cp` on this host is a takeover from another host (see the header): then the
 * spool state to recover (without the lost files) and the repair to do; undefined otherwise (a
 * same-host checkpoint's missing files are Spool.open's SPOOL_CORRUPT).
 */
export async function detectTakeover(
  cp: CaptureCheckpoint,
  layout: SpoolLayout,
  archive: TakeoverArchive | undefined,
  log: Logger,
): Promise<{ state: SpoolState; repair: PendingRepair } | undefined> {
  const thisHost = hostname();
  if (cp.host === undefined || cp.host === thisHost) return undefined;
  const disk = await spoolOnDisk(layout);
  const lost = lostFiles(cp.spool, disk.open, disk.sealed);
  const oldest = Math.min(Date.now() - 7 * 86_400_000, ...cp.closedHours.map((c) => c.hour));
  const records = archive ? await archive.hourRecords(oldest, Date.now() + 3_600_000) : [];
  const v = verdict({ previousHost: cp.host, thisHost, lostFiles: lost, hours: hourViews(records), closedHours: cp.closedHours, sealedHere: disk.sealedHours });
  if (v.kind !== 'takeover') return undefined;
  if (!archive) {
    throw new CronLogError(
      'SPOOL_CORRUPT',
      `the checkpoint was saved on host ${cp.host} and the spool files it lists are not on this host (${thisHost}); ` +
        'this capture has no archive to rebuild them against: restart capture with --reset-from TIME to rebuild from a query',
    );
  }
  log.warn('the checkpoint was saved on another host whose spool files are not here: taking over, rebuilding the lost hours from a query', {
    previousHost: cp.host,
    host: thisHost,
    lostFiles: lost.map((f) => new Date(f.hour).toISOString() + (f.part === 1 ? '' : ` part ${f.part}`)),
    from: new Date(v.from).toISOString(),
  });
  return {
    state: withoutLost(cp.spool, lost),
    repair: { reason: 'host-takeover', from: v.from, previousHost: v.previousHost, lostHours: v.lostHours, undelivered: v.undelivered },
  };
}

/**
 * The takeover's repair (see the header): every hour from `p.from` on rebuilt from a query into
 * the capture's spool, closed hours included, skipping the `_id`s their delivered parts hold;
 * the records of the hours lost undelivered updated and the operation recorded before the
 * stream is positioned (a crash before that repeats it all; the updates are idempotent).
 */
export async function rebuildLostHours(capture: GapRepairCapture, archive: TakeoverArchive, p: PendingRepair): Promise<void> {
  const started = Date.now();
  // Delivered `_id`s go straight into the set of the spool's `_id`s the query skips.
  // alreadyDelivered: delivered `_id`s this host's spool did not hold as well.
  let alreadyDelivered = 0;
  const to = Date.now() + 1;
  const previousHost = p.previousHost ?? 'unknown';
  await repairGap(capture, p.from, 'host-takeover', {
    closedHoursToo: true,
    addArchived: async (into) => {
      const held = await into.distinct();
      for (const slot of capture.clock.slotsBetween(p.from, to)) await archive.deliveredIds(slot.start, into);
      alreadyDelivered = (await into.distinct()) - held;
    },
    beforeResume: async (out) => {
      const records = new Map((await archive.hourRecords(p.from, Date.now() + 3_600_000)).map((r) => [r.record.start.getTime(), r.record]));
      for (const u of p.undelivered ?? []) {
        await archive.updateHour(u.hour, lostHourFields(records.get(u.hour), u, out.perHour.get(u.hour) ?? 0, previousHost));
      }
      const hoursRebuilt = [...out.perHour].sort((a, b) => a[0] - b[0]).map(([hour, documents]) => ({ hour: new Date(hour).toISOString(), documents }));
      const details = {
        reason: 'host-takeover',
        previousHost,
        host: hostname(),
        from: new Date(out.fromHour).toISOString(),
        lostHours: (p.lostHours ?? []).map((h) => new Date(h).toISOString()),
        hoursRebuilt,
        documentsWritten: out.written,
        alreadyDelivered,
      };
      await archive.record({ op: 'repair', outcome: 'ok', count: out.written, durationMs: Date.now() - started, details });
      capture.log.warn('host takeover: the hours the lost spool held were rebuilt from a query', details);
    },
  });
}
