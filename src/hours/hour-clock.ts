/**
 * Hour slots: the unit of the archive. An hour is identified by its start instant (UTC epoch
 * milliseconds); its labels (date, HH) are taken in the configured IANA timezone, DST-correct:
 * a 23-hour day has no slot for the skipped local hour, a 25-hour day has two slots with the
 * same local HH, the second one marked `fold: 1` (as in Python's datetime.fold).
 */
import { DateTime, IANAZone } from 'luxon';

const HOUR_MS = 3_600_000;

export interface HourSlot {
  /** Start instant, UTC epoch milliseconds (inclusive). */
  readonly start: number;
  /** End instant, UTC epoch milliseconds (exclusive): start + 1 hour. */
  readonly end: number;
  /** IANA timezone the labels are in. */
  readonly zone: string;
  /** Local date of the hour's start, `yyyy-MM-dd`. */
  readonly date: string;
  /** Local hour of the start, `00`..`23`. */
  readonly hour: string;
  /** `hour + 1`, `01`..`24`: keys name the last hour of a day `23-24`. */
  readonly nextHour: string;
  /** UTC offset at the hour's start, `+hh:mm`. */
  readonly offset: string;
  /** 1 for the second occurrence of a local hour repeated by a DST fall-back, else 0. */
  readonly fold: 0 | 1;
  /** Stable id: local start with offset, e.g. `2024-10-27T02:00+01:00`. */
  readonly id: string;
}

export function isValidZone(zone: string): boolean {
  return zone === 'UTC' || IANAZone.isValidZone(zone);
}

function pad2(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

function isUtc(zone: string): boolean {
  return zone === 'UTC' || zone === 'Etc/UTC' || zone === 'GMT' || zone === 'Etc/GMT';
}

function utcSlot(start: number): HourSlot {
  const d = new Date(start);
  const date = d.toISOString().slice(0, 10);
  const h = d.getUTCHours();
  return {
    start,
    end: start + HOUR_MS,
    zone: 'UTC',
    date,
    hour: pad2(h),
    nextHour: pad2(h + 1),
    offset: '+00:00',
    fold: 0,
    id: `${date}T${pad2(h)}:00+00:00`,
  };
}

function zonedSlot(ms: number, zone: string): HourSlot {
  const local = DateTime.fromMillis(ms, { zone }).startOf('hour');
  // startOf('hour') keeps the offset of `ms`, so in a repeated hour it picks the right one.
  const start = local.toMillis();
  const h = local.hour;
  const offset = local.toFormat('ZZ');
  const before = DateTime.fromMillis(start - HOUR_MS, { zone });
  const fold: 0 | 1 = before.hour === h && before.toFormat('yyyy-MM-dd') === local.toFormat('yyyy-MM-dd') ? 1 : 0;
  const date = local.toFormat('yyyy-MM-dd');
  return {
    start,
    end: start + HOUR_MS,
    zone,
    date,
    hour: pad2(h),
    nextHour: pad2(h + 1),
    offset,
    fold,
    id: `${date}T${pad2(h)}:00${offset}`,
  };
}

/**
 * Computes slots quickly: UTC by arithmetic; other zones through luxon with a one-slot cache,
 * since consecutive events nearly always fall in the same hour.
 */
export class HourClock {
  readonly zone: string;
  private last: HourSlot | undefined;

  constructor(zone = 'UTC') {
    if (!isValidZone(zone)) throw new RangeError(`unknown IANA timezone "${zone}"`);
    this.zone = zone;
  }

  /** The slot that contains instant `ms`. */
  slotOf(ms: number): HourSlot {
    const last = this.last;
    if (last !== undefined && ms >= last.start && ms < last.end) return last;
    const slot = isUtc(this.zone) ? utcSlot(Math.floor(ms / HOUR_MS) * HOUR_MS) : zonedSlot(ms, this.zone);
    this.last = slot;
    return slot;
  }

  /** The slot starting at `start` (which must be a slot start). */
  slotAt(start: number): HourSlot {
    const slot = this.slotOf(start);
    if (slot.start !== start) throw new RangeError(`${new Date(start).toISOString()} is not the start of an hour in ${this.zone}`);
    return slot;
  }

  /** The slot right after `slot`. */
  next(slot: HourSlot): HourSlot {
    return this.slotOf(slot.end);
  }

  /** Every slot that overlaps [from, to), in order. */
  slotsBetween(from: number, to: number): HourSlot[] {
    const out: HourSlot[] = [];
    if (to <= from) return out;
    for (let s = this.slotOf(from); s.start < to; s = this.next(s)) out.push(s);
    return out;
  }
}

export function slotOf(ms: number, zone = 'UTC'): HourSlot {
  return new HourClock(zone).slotOf(ms);
}

export { HOUR_MS };
