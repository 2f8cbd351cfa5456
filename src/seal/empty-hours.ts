/**
 * Empty hours: every finished hour from the first captured one on that has no record in the
 * ledger (it received no document) gets a manifest with count 0 and no parts, and is recorded
 * `delivered`, so the archive shows the hour was processed. The seal watermark (in `jobs`)
 * records through which hour this is done, so later runs look for empty hours only from there on.
 */
import type { HourSlot } from '../hours/hour-clock.js';
import type { ArchiveContext } from './context.js';
import { writeManifest } from './manifest.js';
import { isFenced } from '../ledger/fence.js';
import type { HourOutcome } from './report.js';

export type EmptyHoursContext = Pick<ArchiveContext, 'clock' | 'ledger' | 'watermark' | 'destination' | 'keys' | 'namespace' | 'timestampField' | 'jsonMode'>;

export interface EmptyHoursRun {
  /** Hours that ended before this instant are due. */
  dueBefore: number;
  /** First hour captured: empty hours are looked for from here on (or from the watermark). */
  firstHour: number;
  /** Hour starts this seal run delivered from spool files. */
  delivered: ReadonlySet<number>;
  /**
   * Whether the watermark may move past the due hours once each empty one has its manifest
   * (false when a delivery of this run failed: that hour is looked at again next run).
   */
  mayAdvanceWatermark: boolean;
}

/** Writes the manifests of the due empty hours; returns their outcomes (`empty`, or `failed`). */
export async function sealEmptyHours(ctx: EmptyHoursContext, run: EmptyHoursRun): Promise<HourOutcome[]> {
  const lastDue = ctx.clock.slotOf(run.dueBefore - 3_600_000);
  if (lastDue.end > run.dueBefore) return [];
  const from = Math.max(run.firstHour, (await ctx.watermark.get()) ?? -Infinity);
  if (from > lastDue.start) return [];
  const known = new Set((await ctx.ledger.range(from, lastDue.end)).map((h) => h.record.start.getTime()));
  const out: HourOutcome[] = [];
  let allDone = true;
  for (const slot of ctx.clock.slotsBetween(from, lastDue.end)) {
    if (known.has(slot.start) || run.delivered.has(slot.start)) continue;
    try {
      out.push(await sealEmptyHour(ctx, slot));
    } catch (err) {
      // Fenced out: stop at once, recording nothing more.
      if (isFenced(err)) throw err;
      allDone = false;
      out.push({ hour: slot.id, start: slot.start, count: 0, status: 'failed', error: (err as Error).message });
    }
  }
  if (allDone && run.mayAdvanceWatermark) await ctx.watermark.set(ctx.clock.next(lastDue).start);
  return out;
}

async function sealEmptyHour(ctx: EmptyHoursContext, slot: HourSlot): Promise<HourOutcome> {
  const manifestKey = await writeManifest(ctx, slot, []);
  await ctx.ledger.update(slot, { state: 'delivered', count: 0, bytes: 0, parts: [], manifestKey, lastError: null });
  return { hour: slot.id, start: slot.start, count: 0, status: 'empty' };
}
