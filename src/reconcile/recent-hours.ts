/**
 * The reconcile that follows every seal run: each hour delivered (or found mismatched) within
 * the last `windowHours` is compared with MongoDB (one aggregation for them all) by the count
 * the ledger recorded for it, judged by the one verdict (verdict.ts), and the verdict recorded:
 * the hour's state (verified or mismatch) in the ledger, a `reconcile` record in `logs`.
 */
import { HOUR_MS } from '../hours/hour-clock.js';
import type { ArchiveContext } from '../seal/context.js';
import type { ReconciledHour } from '../seal/report.js';
import { countPerHour, ttlSeconds } from './mongo-counts.js';
import { hourVerdict, passes } from './verdict.js';

/** Hours re-reconciled after every seal run by default. */
export const RECENT_WINDOW_HOURS = 24;

export type RecentHoursContext = Pick<ArchiveContext, 'collection' | 'timestampField' | 'clock' | 'ledger' | 'operations'>;

/** Compares the delivered hours of [now - windowHours, now) with MongoDB and records the verdicts. */
export async function reconcileRecentHours(ctx: RecentHoursContext, now: number, windowHours = RECENT_WINDOW_HOURS): Promise<ReconciledHour[]> {
  const hours = (await ctx.ledger.range(now - windowHours * HOUR_MS, now)).filter((h) => h.record.state === 'delivered' || h.record.state === 'mismatch');
  if (hours.length === 0) return [];
  const starts = hours.map((h) => h.record.start.getTime());
  const from = Math.min(...starts);
  const to = Math.max(...starts) + HOUR_MS;
  const t0 = Date.now();
  const [counts, ttl] = await Promise.all([
    countPerHour(ctx.collection, ctx.timestampField, from, to, ctx.clock.zone),
    ttlSeconds(ctx.collection, ctx.timestampField),
  ]);
  const out: ReconciledHour[] = [];
  for (const { id, record } of hours) {
    const slot = ctx.clock.slotAt(record.start.getTime());
    const mongo = counts.get(slot.start) ?? 0;
    const archived = record.count;
    const status = hourVerdict({ slot, mongo, archived, ttlSeconds: ttl, now, purged: record.purge !== undefined });
    const ok = passes(status);
    await Promise.all([
      ctx.ledger.update(slot, {
        state: ok ? 'verified' : 'mismatch',
        reconcile: { mongo, archived, status, at: new Date() },
      }),
      ctx.operations.record({
        op: 'reconcile',
        hour: id,
        hourStart: record.start,
        outcome: ok ? 'ok' : 'error',
        count: archived,
        durationMs: Date.now() - t0,
        details: { mongo, archived, status },
        ...(!ok ? { error: `MongoDB has ${mongo} documents for the hour, the archive ${archived}` } : {}),
      }),
    ]);
    out.push({ hour: id, mongo, archived, status });
  }
  return out;
}
