/**
 * Hour slots: the unit of the archive. An hour is identified by its start instant (UTC epoch
 * milliseconds); its labels (date, HH) are taken in the configured IANA timezone.
 *
 * The rule, the same for every zone of the tz database: a slot starts wherever the local clock
 * shows a whole hour (HH:00:00.000) and wherever the zone's UTC offset changes, and lasts until
 * the next such instant. So every instant is in exactly one slot, slots are contiguous, and no
 * slot is longer than an hour.
 *
 * - Whole-hour DST (Europe/Berlin, America/New_York): offsets change on a whole local hour, so
 *   every slot is one hour long. A 23-hour day has no slot for the skipped local hour; a 25-hour
 *   day has two slots with the same local HH, the second one marked `fold: 1` (as in Python's
 *   datetime.fold; keys add `.2`).
 * - 30-minute DST (Australia/Lord_Howe, +10:30 in winter, +11:00 in summer): the change cuts a
 *   local hour, and the part after the change is its own 30-minute slot, named like any slot
 *   after the local hour it starts in:
 *     fall-back (2024-04-07 02:00 +11 → 01:30 +10:30): `01-02` = 01:00–02:00 +11
 *     (2024-04-06 14:00Z–15:00Z), then `01-02.2` = the repeated 01:30–02:00 +10:30
 *     (15:00Z–15:30Z, fold 1), then `02-03` = 02:00–03:00 +10:30 from 15:30Z;
 *     spring-forward (2024-10-06 02:00 +10:30 → 02:30 +11): `01-02` = 01:00–02:00 +10:30
 *     (2024-10-05 14:30Z–15:30Z), then `02-03` = 02:30–03:00 +11 (15:30Z–16:00Z), then `03-04`
 *     from 16:00Z.
 *   A slot's `id` is its local start with minutes and offset (`2024-04-07T01:30+10:30`).
 *
 * Offsets come from the runtime's tz database (Intl, through luxon), looked up at every UTC
 * midnight; where two consecutive midnights differ, the change is found to the millisecond by
 * bisection (and any further change that day after it). A zone is assumed not to change its
 * offset and change it back between two UTC midnights: in the tz database (2025b, read from
 * its TZif files) the shortest stretch between two changes of a zone is four days
 * (Africa/Freetown, 1939), and the largest step back is a day (Pacific/Rarotonga, 1899).
 * test/unit/hours/all-zones.test.ts checks every zone of the runtime.
 */
import { IANAZone } from 'luxon';

const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;
/** The range of a JS Date: beyond it there is no local time. */
const MAX_MS = 8.64e15;
/** Days whose offsets a clock keeps; past this many the cache starts over. */
const MAX_CACHED_DAYS = 20_000;

export interface HourSlot {
  /** Start instant, UTC epoch milliseconds (inclusive). */
  readonly start: number;
  /**
   * End instant, UTC epoch milliseconds (exclusive): the next slot's start. One hour after
   * `start`, except where the zone's offset changes in the middle of a local hour (see above).
   */
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
  /** 1 for a slot whose local hour (date and HH) an earlier slot already had (DST fall-back), else 0. */
  readonly fold: 0 | 1;
  /** Stable id: local start with offset, e.g. `2024-10-27T02:00+01:00`. */
  readonly id: string;
}

export function isValidZone(zone: string): boolean {
  return zone === 'UTC' || IANAZone.isValidZone(zone);
}

/** `00`..`60`. */
const TWO_DIGITS = Array.from({ length: 61 }, (_, n) => (n < 10 ? `0${n}` : String(n)));

function pad2(n: number): string {
  return TWO_DIGITS[n] ?? String(n);
}

function isUtc(zone: string): boolean {
  return zone === 'UTC' || zone === 'Etc/UTC' || zone === 'GMT' || zone === 'Etc/GMT';
}

/** `x mod m` in [0, m), also for negative `x`. */
function mod(x: number, m: number): number {
  return ((x % m) + m) % m;
}

/** `+hh:mm` for an offset in ms (seconds of historic local mean times are dropped, as luxon does). */
function formatOffset(offsetMs: number): string {
  const minutes = Math.trunc(Math.abs(offsetMs) / 60_000);
  return `${offsetMs < 0 ? '-' : '+'}${pad2(Math.trunc(minutes / 60))}:${pad2(minutes % 60)}`;
}

/** An offset change: from `at` on (inclusive), the zone's offset is `offset` ms. */
interface Change {
  at: number;
  offset: number;
}

/** The offsets of one UTC day (d·DAY, (d+1)·DAY]: the offset at its opening midnight and the changes after it. */
interface DayOffsets {
  start: number;
  changes: Change[];
}

/** A stretch of time [from, to) with one offset (ms). */
interface Span {
  from: number;
  to: number;
  offset: number;
}

/** Days a span looks back and ahead for offset changes. */
const SPAN_DAYS = 8;

/** The longest step back of a local clock allowed for (the tz database's largest is a day). */
const MAX_FALL_BACK_MS = 2 * DAY_MS;

function dayOf(t: number): number {
  return Math.ceil(t / DAY_MS) - 1;
}

/** Offsets of one zone, cached per UTC day. */
class ZoneOffsets {
  private readonly zone: IANAZone;
  private readonly midnights = new Map<number, number>();
  private readonly days = new Map<number, DayOffsets>();
  private lastSpan: Span | undefined;

  constructor(zone: string) {
    this.zone = IANAZone.create(zone);
  }

  /** The offset at `t` from the tz database, ms. */
  private lookup(t: number): number {
    const minutes = this.zone.offset(t);
    if (!Number.isFinite(minutes)) throw new RangeError(`no UTC offset of ${this.zone.name} at ${t}`);
    return Math.round(minutes * 60_000);
  }

  private midnight(d: number): number {
    let o = this.midnights.get(d);
    if (o === undefined) {
      o = this.lookup(d * DAY_MS);
      this.midnights.set(d, o);
    }
    return o;
  }

  /** Day `d` covers (d·DAY, (d+1)·DAY]. */
  private day(d: number): DayOffsets {
    let day = this.days.get(d);
    if (day !== undefined) return day;
    if (this.days.size >= MAX_CACHED_DAYS) {
      this.days.clear();
      this.midnights.clear();
    }
    const start = this.midnight(d);
    const endOffset = this.midnight(d + 1);
    const changes: Change[] = [];
    let lo = d * DAY_MS;
    let loOffset = start;
    while (loOffset !== endOffset) {
      // Bisect (lo, (d+1)·DAY] for the first instant whose offset is not loOffset.
      let hi = (d + 1) * DAY_MS;
      let hiOffset = endOffset;
      while (hi - lo > 1) {
        const mid = lo + Math.floor((hi - lo) / 2);
        const o = this.lookup(mid);
        if (o === loOffset) lo = mid;
        else {
          hi = mid;
          hiOffset = o;
        }
      }
      changes.push({ at: hi, offset: hiOffset });
      lo = hi;
      loOffset = hiOffset;
    }
    day = { start, changes };
    this.days.set(d, day);
    return day;
  }

  /** The offset in force at `t`, ms. */
  at(t: number): number {
    const day = this.day(dayOf(t));
    let o = day.start;
    for (const c of day.changes) if (c.at <= t) o = c.offset;
    return o;
  }

  /** The offset changes at instants in (from, to], in order. */
  changesIn(from: number, to: number): Change[] {
    const out: Change[] = [];
    for (let d = dayOf(from); d <= dayOf(to); d++) {
      for (const c of this.day(d).changes) if (c.at > from && c.at <= to) out.push(c);
    }
    return out;
  }

  /**
   * The stretch around `t` without an offset change: from the last change at or before `t` (or
   * SPAN_DAYS back) to the next one after it (or SPAN_DAYS ahead). Consecutive calls mostly
   * land in the last one.
   */
  span(t: number): Span {
    const last = this.lastSpan;
    if (last !== undefined && t >= last.from && t < last.to) return last;
    const d = dayOf(t);
    let from = (d - SPAN_DAYS) * DAY_MS;
    for (let k = d; k >= d - SPAN_DAYS && from === (d - SPAN_DAYS) * DAY_MS; k--) {
      for (const c of this.day(k).changes) if (c.at <= t) from = c.at;
    }
    let to = (d + SPAN_DAYS + 1) * DAY_MS;
    for (let k = d; k <= d + SPAN_DAYS && to === (d + SPAN_DAYS + 1) * DAY_MS; k++) {
      const next = this.day(k).changes.find((c) => c.at > t);
      if (next !== undefined) to = next.at;
    }
    this.lastSpan = { from, to, offset: this.at(t) };
    return this.lastSpan;
  }
}

/**
 * Whether the local hour starting at wall time `localHour` was already shown before `start`:
 * some offset change at or before `start` turned the clock back from a time at or after the
 * hour's beginning (a fall-back repeats local times: by 30 minutes on Lord Howe Island, by two
 * hours at Antarctica/Troll, where both 01 and 02 repeat).
 */
function shownBefore(localHour: number, start: number, offsets: ZoneOffsets): boolean {
  for (const c of offsets.changesIn(start - MAX_FALL_BACK_MS, start)) {
    if (c.at - 1 + offsets.at(c.at - 1) >= localHour) return true;
  }
  return false;
}

/**
 * Computes slots quickly: UTC by arithmetic; other zones from offsets cached per day, with a
 * one-slot cache, since consecutive events nearly always fall in the same hour.
 */
export class HourClock {
  readonly zone: string;
  private readonly offsets: ZoneOffsets | undefined;
  private last: HourSlot | undefined;
  /** The last local day labelled (days since the epoch) and its `yyyy-MM-dd`. */
  private labelDay = Number.NaN;
  private labelDate = '';
  /** The last offset labelled and its `+hh:mm`. */
  private labelOffsetMs = Number.NaN;
  private labelOffset = '';

  constructor(zone = 'UTC') {
    if (!isValidZone(zone)) throw new RangeError(`unknown IANA timezone "${zone}"`);
    this.zone = zone;
    this.offsets = isUtc(zone) ? undefined : new ZoneOffsets(zone);
  }

  /** The slot that contains instant `ms`. */
  slotOf(ms: number): HourSlot {
    const last = this.last;
    if (last !== undefined && ms >= last.start && ms < last.end) return last;
    if (!(Math.abs(ms) <= MAX_MS)) throw new RangeError(`${ms} is not an instant a date can hold`);
    const slot = this.offsets === undefined ? this.slot(ms - mod(ms, HOUR_MS), ms - mod(ms, HOUR_MS) + HOUR_MS, 0, 0) : this.zonedSlot(ms, this.offsets);
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

  private zonedSlot(ms: number, offsets: ZoneOffsets): HourSlot {
    const span = offsets.span(ms);
    const offset = span.offset;
    // The local hour `ms` is in, and where it starts and ends at this offset.
    const localHour = ms + offset - mod(ms + offset, HOUR_MS);
    let start = localHour - offset;
    let end = start + HOUR_MS;
    // Nearly always: no offset change within the hour, and none in the two days before it.
    if (span.from <= start - MAX_FALL_BACK_MS && end <= span.to) return this.slot(start, end, offset, 0);
    // An offset change inside that hour cuts the slot there (30-minute DST shifts). (The span's
    // ends may be where its look-up stopped, not changes.)
    const before = offsets.changesIn(start, ms);
    if (before.length > 0) start = (before[before.length - 1] as Change).at;
    const after = offsets.changesIn(ms, end - 1);
    if (after.length > 0) end = (after[0] as Change).at;
    return this.slot(start, end, offset, shownBefore(localHour, start, offsets) ? 1 : 0);
  }

  /** A slot from its bounds, the offset in force during it and whether its local hour was shown before. */
  private slot(start: number, end: number, offsetMs: number, fold: 0 | 1): HourSlot {
    const wall = start + offsetMs;
    const day = Math.floor(wall / DAY_MS);
    if (day !== this.labelDay) {
      this.labelDay = day;
      this.labelDate = new Date(day * DAY_MS).toISOString().slice(0, -14);
    }
    if (offsetMs !== this.labelOffsetMs) {
      this.labelOffsetMs = offsetMs;
      this.labelOffset = formatOffset(offsetMs);
    }
    const h = Math.floor((wall - day * DAY_MS) / HOUR_MS);
    const minute = pad2(Math.floor(mod(wall, HOUR_MS) / 60_000));
    const date = this.labelDate;
    const offset = this.labelOffset;
    const zone = this.offsets === undefined ? 'UTC' : this.zone;
    return { start, end, zone, date, hour: pad2(h), nextHour: pad2(h + 1), offset, fold, id: `${date}T${pad2(h)}:${minute}${offset}` };
  }
}

export function slotOf(ms: number, zone = 'UTC'): HourSlot {
  return new HourClock(zone).slotOf(ms);
}

export { HOUR_MS };
