/**
 * Backfill: archives past hours straight from a query, without the
 * change stream: for a first install, a standalone server without change streams, or hours
 * before the tailer ran. Each hour becomes a sealed, delivered, reconciled hour. Hours already
 * verified are skipped unless `force`; hours the tailer captures (from its first hour on) are
 * skipped unless `force`, since the tailer delivers them itself. An hour is archived by the
 * append-only repair (seal/rebuild.ts): a new hour gets everything MongoDB has for it; an hour
 * already archived (`force`) only gets what it lacks, as a new part, and keeps what it holds.
 */
import type { HourClock, HourSlot } from '../hours/hour-clock.js';
import type { ReconcileRow } from '../reconcile/reconcile.js';
import { reconcileRange } from '../reconcile/reconcile.js';
import type { ArchiveContext } from '../seal/context.js';
import { repairHour } from '../seal/rebuild.js';

export interface BackfillOptions {
  from: number;
  to: number;
  force?: boolean;
  /** Hours must have ended before this to be archived (now minus the seal grace). */
  dueBefore: number;
  /** The tailer's first captured hour, if a tailer ever ran on this namespace. */
  tailerSince?: number;
  onHour?: (event: BackfillHourEvent) => void;
}

export interface BackfillHourEvent {
  hour: string;
  index: number;
  total: number;
  action: 'archived' | 'skipped-verified' | 'skipped-tailer' | 'skipped-open';
  count?: number;
  status?: string;
}

export interface BackfillReport {
  hours: BackfillHourEvent[];
  rows: ReconcileRow[];
}

export async function backfill(ctx: ArchiveContext, clock: HourClock, opts: BackfillOptions): Promise<BackfillReport> {
  const slots = clock.slotsBetween(opts.from, opts.to);
  const hours: BackfillHourEvent[] = [];
  const archived: HourSlot[] = [];
  for (const [i, slot] of slots.entries()) {
    const base = { hour: slot.id, index: i + 1, total: slots.length };
    let event: BackfillHourEvent;
    if (slot.end > opts.dueBefore) {
      event = { ...base, action: 'skipped-open' };
    } else if (!opts.force && opts.tailerSince !== undefined && slot.start >= opts.tailerSince) {
      event = { ...base, action: 'skipped-tailer' };
    } else if (!opts.force && (await ctx.ledger.get(slot))?.state === 'verified') {
      event = { ...base, action: 'skipped-verified' };
    } else {
      const r = await repairHour(ctx, slot, 'backfill');
      archived.push(slot);
      event = { ...base, action: 'archived', count: r.count };
    }
    hours.push(event);
    opts.onHour?.(event);
  }
  const rows: ReconcileRow[] = [];
  // Reconcile the archived hours (one aggregation per contiguous run).
  let run: HourSlot[] = [];
  const flush = async (): Promise<void> => {
    if (run.length === 0) return;
    const first = run[0] as HourSlot;
    const last = run[run.length - 1] as HourSlot;
    rows.push(...(await reconcileRange(ctx, clock, { from: first.start, to: last.end })));
    run = [];
  };
  for (const slot of archived) {
    const prev = run[run.length - 1];
    if (prev && prev.end !== slot.start) await flush();
    run.push(slot);
  }
  await flush();
  for (const row of rows) {
    const ev = hours.find((h) => h.hour === row.hour);
    if (ev) ev.status = row.status;
  }
  return { hours, rows };
}
