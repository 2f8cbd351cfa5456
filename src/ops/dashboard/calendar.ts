/**
 * The archive calendar of the dashboard (`GET /api/hours`): every hour slot of a range in the
 * configured time zone (src/hours/hour-clock.ts: a DST day has 23 or 25 slots), grouped by local
 * day, each with the state the ledger gives it (cell-states.ts), its counts and its parts (late
 * parts marked). Read-only: it reads the hour records and the capture checkpoint in `jobs`.
 */
import { CronLogError } from '../../errors.js';
import type { HourSlot } from '../../hours/hour-clock.js';
import { CheckpointStore } from '../../ledger/checkpoints.js';
import type { HourRecord } from '../../ledger/hour-states.js';
import { redact } from '../../redact.js';
import type { CellStateInfo } from './cell-states.js';
import { cellState, legend } from './cell-states.js';
import type { DashboardContext } from './context.js';

/** The widest range one request may ask for. */
export const MAX_CALENDAR_DAYS = 93;
const DAY_MS = 86_400_000;

export interface CalendarCell {
  /** The slot's id, e.g. `2024-10-27T02:00+01:00` (what `/api/hour?id=` takes). */
  id: string;
  start: string;
  end: string;
  /** Local hour `00`..`23`; `fold` 1 for the second of a repeated hour (DST fall-back). */
  hour: string;
  fold: 0 | 1;
  offset: string;
  state: string;
  /** Documents archived (the ledger's count), null when nothing was. */
  archived: number | null;
  /** MongoDB's count at the last reconcile, null before one. */
  mongo: number | null;
  bytes: number | null;
  parts: number;
  /** Parts delivered after the hour's first part (late documents, repairs). */
  lateParts: number;
  /** The last delivery error of a sealed hour (redacted). */
  lastError: string | null;
  /** When the last reconcile judged the hour. */
  reconciledAt: string | null;
}

export interface CalendarDay {
  date: string;
  /** 23, 24 or 25 in a zone with DST; fewer for today (hours that have not begun are left out). */
  hours: CalendarCell[];
}

export interface Calendar {
  namespace: string;
  timezone: string;
  from: string;
  to: string;
  generatedAt: string;
  states: CellStateInfo[];
  days: CalendarDay[];
}

export interface CalendarRange {
  from: number;
  to: number;
}

/**
 * The range of the last `days` local days up to now (today included, through its last hour), or
 * the [from, to) given; refused when it is empty or wider than MAX_CALENDAR_DAYS.
 */
export function calendarRange(ctx: Pick<DashboardContext, 'clock'>, q: { from?: string | null; to?: string | null; days?: string | null }, now: number): CalendarRange {
  const instant = (name: string, v: string): number => {
    const ms = Date.parse(v);
    if (!/^\d{4}-\d{2}-\d{2}/.test(v) || Number.isNaN(ms)) throw new CronLogError('USAGE', `${name}: expected an ISO-8601 date-time such as 2024-01-15T00:00:00Z, got "${v}"`);
    return ms;
  };
  let from: number;
  let to: number;
  if (q.from || q.to) {
    if (!q.from || !q.to) throw new CronLogError('USAGE', 'from and to go together: give both (ISO-8601), or days=N');
    from = instant('from', q.from);
    to = instant('to', q.to);
  } else {
    const days = q.days ? Number(q.days) : 14;
    if (!Number.isInteger(days) || days < 1 || days > MAX_CALENDAR_DAYS) throw new CronLogError('USAGE', `days: expected an integer from 1 to ${MAX_CALENDAR_DAYS}, got "${q.days}"`);
    // Through the end of today (local), from the start of the local day `days - 1` days back.
    let last: HourSlot = ctx.clock.slotOf(now);
    for (let s = ctx.clock.next(last); s.date === last.date; s = ctx.clock.next(s)) last = s;
    to = last.end;
    // Back slot by slot to the first hour of the local day `days - 1` days before today.
    let first: HourSlot = last;
    let seen = 1;
    for (let prev = ctx.clock.slotOf(first.start - 1); ; prev = ctx.clock.slotOf(first.start - 1)) {
      if (prev.date !== first.date && ++seen > days) break;
      first = prev;
    }
    from = first.start;
  }
  if (to <= from) throw new CronLogError('USAGE', 'to must be after from');
  if (to - from > MAX_CALENDAR_DAYS * DAY_MS + 2 * 3_600_000) throw new CronLogError('USAGE', `the range is wider than ${MAX_CALENDAR_DAYS} days: ask for a shorter one`);
  return { from, to };
}

function cellOf(slot: HourSlot, record: HourRecord | undefined, open: boolean): CalendarCell {
  const parts = record?.parts ?? [];
  const firstPart = parts.reduce((n, p) => Math.min(n, p.part), Infinity);
  return {
    id: slot.id,
    start: new Date(slot.start).toISOString(),
    end: new Date(slot.end).toISOString(),
    hour: slot.hour,
    fold: slot.fold,
    offset: slot.offset,
    state: cellState(record, open),
    // A record with a verdict but no state is an hour reconcile found without a manifest: nothing archived.
    archived: record?.state !== undefined ? (record.count ?? null) : null,
    mongo: record?.reconcile?.mongo ?? null,
    bytes: record?.state !== undefined ? (record.bytes ?? null) : null,
    parts: parts.length,
    lateParts: parts.filter((p) => p.part > firstPart).length,
    lastError: record?.lastError ? redact(record.lastError) : null,
    reconciledAt: record?.reconcile?.at ? new Date(record.reconcile.at).toISOString() : null,
  };
}

/** The calendar of [range.from, range.to): slots that have begun by `now`, grouped by local day. */
export async function calendar(ctx: DashboardContext, range: CalendarRange, now: number): Promise<Calendar> {
  const slots = ctx.clock.slotsBetween(range.from, Math.min(range.to, now + 1));
  const records = new Map((await ctx.ledger.range(range.from, range.to)).map((h) => [h.record.start.getTime(), h.record]));
  const checkpoint = await new CheckpointStore(ctx.jobs, ctx.namespace).load();
  const openHours = new Set((checkpoint?.spool.files ?? []).map((f) => f.hour));
  const days: CalendarDay[] = [];
  for (const slot of slots) {
    const open = slot.end > now || openHours.has(slot.start);
    const cell = cellOf(slot, records.get(slot.start), open);
    const day = days[days.length - 1];
    if (day?.date === slot.date) day.hours.push(cell);
    else days.push({ date: slot.date, hours: [cell] });
  }
  return {
    namespace: ctx.namespace,
    timezone: ctx.clock.zone,
    from: new Date(range.from).toISOString(),
    to: new Date(range.to).toISOString(),
    generatedAt: new Date(now).toISOString(),
    states: legend(days.flatMap((d) => d.hours.map((h) => h.state))),
    days,
  };
}
