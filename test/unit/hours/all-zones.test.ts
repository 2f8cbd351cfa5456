/**
 * Hour slots in every zone of the runtime's tz database over two years (2024–2025): every
 * instant in exactly one slot, slots contiguous, at most an hour long, starting on a whole
 * local hour or an offset change, local hours never named twice, and a bounded number of them.
 * The offset changes are found independently of the clock (Intl's `longOffset` names, sampled
 * at noon UTC and bisected), and the slots are checked around each of them to the
 * millisecond.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HOUR_MS, HourClock } from '../../../src/hours/hour-clock.js';
import type { HourSlot } from '../../../src/hours/hour-clock.js';

const FROM = Date.UTC(2024, 0, 1);
const TO = Date.UTC(2026, 0, 1);

/** The zone's UTC offset at `t` in ms, from Intl's "GMT+10:30" names (not luxon, not the clock). */
function offsetOracle(zone: string): (t: number) => number {
  const fmt = new Intl.DateTimeFormat('en-US', { timeZone: zone, timeZoneName: 'longOffset' });
  return (t) => {
    const name = fmt.formatToParts(t).find((p) => p.type === 'timeZoneName')?.value ?? '';
    const m = /^GMT(?:([+-])(\d{2}):(\d{2})(?::(\d{2}))?)?$/.exec(name);
    assert.ok(m, `offset name ${name} of ${zone}`);
    if (m[1] === undefined) return 0;
    const ms = ((Number(m[2]) * 60 + Number(m[3])) * 60 + Number(m[4] ?? 0)) * 1000;
    return m[1] === '-' ? -ms : ms;
  };
}

/** Instants in [FROM, TO) at which the zone's offset changes. */
function changes(offset: (t: number) => number): number[] {
  const out: number[] = [];
  const step = 24 * HOUR_MS;
  let prev = FROM + 12 * HOUR_MS;
  let prevOffset = offset(prev);
  if (offset(FROM) !== prevOffset) out.push(bisect(offset, FROM, prev));
  for (let t = prev + step; t < TO; t += step) {
    const o = offset(t);
    if (o !== prevOffset) out.push(bisect(offset, prev, t));
    prev = t;
    prevOffset = o;
  }
  return out;
}

/** The first instant in (lo, hi] whose offset differs from lo's. */
function bisect(offset: (t: number) => number, lo: number, hi: number): number {
  const o = offset(lo);
  while (hi - lo > 1) {
    const mid = lo + Math.floor((hi - lo) / 2);
    if (offset(mid) === o) lo = mid;
    else hi = mid;
  }
  return hi;
}

/** Local wall time at `t` (ms since the epoch, as if UTC). */
function wall(offset: (t: number) => number, t: number): number {
  return t + offset(t);
}

function checkSlotAgainstOracle(zone: string, s: HourSlot, offset: (t: number) => number): void {
  const what = `${zone} slot ${s.id}`;
  const o = offset(s.start);
  // No offset change inside the slot, and it lies within one local hour.
  assert.equal(offset(s.end - 1), o, `${what}: the offset changes inside it`);
  const startWall = wall(offset, s.start);
  assert.equal(Math.floor(startWall / HOUR_MS), Math.floor(wall(offset, s.end - 1) / HOUR_MS), `${what}: spans two local hours`);
  // It starts on a whole local hour or where the offset changes.
  assert.ok(startWall % HOUR_MS === 0 || offset(s.start - 1) !== o, `${what}: starts neither on a whole hour nor at an offset change`);
  // Its labels are its local start.
  const iso = new Date(startWall).toISOString();
  assert.equal(s.date, iso.slice(0, 10), what);
  assert.equal(s.hour, iso.slice(11, 13), what);
  assert.equal(s.nextHour, String(Number(iso.slice(11, 13)) + 1).padStart(2, '0'), what);
}

test('every IANA zone: slots over two years are contiguous, bounded and cover each instant once', { timeout: 120_000 }, () => {
  const zones = ['UTC', ...Intl.supportedValuesOf('timeZone')];
  assert.ok(zones.includes('Australia/Lord_Howe') && zones.length > 300, `${zones.length} zones`);
  let shortSlots = 0;
  for (const zone of zones) {
    const clock = new HourClock(zone);
    const offset = offsetOracle(zone);
    const cuts = changes(offset);
    // Slots walked with next(): each starts where the previous ended and is at most an hour
    // long; a bounded count (an hour per hour, plus one piece per offset change). Labels: each
    // new local hour (fold 0) comes after every earlier one; a repeated one (fold 1) once.
    const maxSlots = Math.ceil((TO - FROM) / HOUR_MS) + cuts.length + 1;
    const repeated = new Set<string>();
    let lastDate = '';
    let lastHour = '';
    let count = 0;
    let s = clock.slotOf(FROM);
    assert.ok(s.start <= FROM && FROM < s.end, `${zone}: slotOf(FROM)`);
    const sample: HourSlot[] = [];
    while (s.start < TO) {
      // (Messages are built only on failure: this loop runs seven million times.)
      if (!(s.end > s.start && s.end - s.start <= HOUR_MS)) assert.fail(`${zone} slot ${s.id} lasts ${s.end - s.start} ms`);
      if (s.end - s.start !== HOUR_MS) shortSlots++;
      const later = s.date > lastDate || (s.date === lastDate && s.hour > lastHour);
      if (s.fold === 0) {
        if (!later) assert.fail(`${zone}: ${s.date} ${s.hour} after ${lastDate} ${lastHour}`);
        lastDate = s.date;
        lastHour = s.hour;
      } else {
        const label = `${s.date} ${s.hour}`;
        if (later || repeated.has(label)) assert.fail(`${zone}: ${label}.2 twice or before its first occurrence`);
        repeated.add(label);
      }
      if (++count % 211 === 0) sample.push(s);
      if (count > maxSlots) assert.fail(`${zone}: more than ${maxSlots} slots`);
      const n = clock.next(s);
      if (n.start !== s.end) assert.fail(`${zone}: the slot after ${s.id} starts at ${new Date(n.start).toISOString()}, not at its end`);
      s = n;
    }
    // Every offset change is a slot boundary: the instant before it ends a slot, it starts one;
    // the slots around it (by slotsBetween, from a fresh clock) match the tz database.
    for (const t of cuts) {
      const before = clock.slotOf(t - 1);
      const at = clock.slotOf(t);
      assert.equal(before.end, t, `${zone}: the slot of the ms before the change at ${new Date(t).toISOString()}`);
      assert.equal(at.start, t, `${zone}: the slot of the change at ${new Date(t).toISOString()}`);
      assert.ok(clock.slotOf(t + 1).start === t && clock.slotOf(t + 1).end > t + 1, `${zone}: the slot of the ms after the change`);
      const around = new HourClock(zone).slotsBetween(t - 3 * HOUR_MS, t + 3 * HOUR_MS);
      assert.ok(around.length >= 6 && around.length <= 8, `${zone}: ${around.length} slots in the 6 hours around a change`);
      around.forEach((x, i) => {
        checkSlotAgainstOracle(zone, x, offset);
        if (i > 0) assert.equal(x.start, (around[i - 1] as HourSlot).end, `${zone}: slotsBetween around a change`);
      });
    }
    // A sample of ordinary slots, and instants inside them, against the tz database too.
    for (const x of sample) {
      checkSlotAgainstOracle(zone, x, offset);
      for (const t of [x.end - 1, x.start, x.start + 1, Math.floor((x.start + x.end) / 2)]) {
        assert.equal(clock.slotOf(t).start, x.start, `${zone}: slotOf(${new Date(t).toISOString()})`);
      }
    }
  }
  // Lord Howe Island's two 30-minute shifts a year were seen.
  assert.ok(shortSlots >= 4, `${shortSlots} slots shorter than an hour`);
});
