import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HourClock, slotOf } from '../../../src/hours/hour-clock.js';

test('UTC hours: start, end and the key labels HH-HH+1 (23-24)', () => {
  const s = slotOf(Date.parse('2024-01-15T23:59:59.999Z'));
  assert.equal(new Date(s.start).toISOString(), '2024-01-15T23:00:00.000Z');
  assert.equal(s.end - s.start, 3_600_000);
  assert.deepEqual([s.date, s.hour, s.nextHour, s.fold, s.offset], ['2024-01-15', '23', '24', 0, '+00:00']);
  const m = slotOf(Date.parse('2024-01-16T00:00:00.000Z'));
  assert.deepEqual([m.date, m.hour, m.nextHour], ['2024-01-16', '00', '01']);
});

test('a DST zone: the spring-forward day has 23 hours and no 02 slot', () => {
  const c = new HourClock('Europe/Berlin');
  const day = c.slotsBetween(Date.parse('2024-03-30T23:00:00Z'), Date.parse('2024-03-31T22:00:00Z'));
  assert.equal(day.length, 23);
  assert.deepEqual(
    day.slice(0, 4).map((s) => s.id),
    ['2024-03-31T00:00+01:00', '2024-03-31T01:00+01:00', '2024-03-31T03:00+02:00', '2024-03-31T04:00+02:00'],
  );
  assert.ok(day.every((s) => s.date === '2024-03-31'));
});

test('a DST zone: the fall-back day has 25 hours, the repeated 02 marked fold 1', () => {
  const c = new HourClock('Europe/Berlin');
  const day = c.slotsBetween(Date.parse('2024-10-26T22:00:00Z'), Date.parse('2024-10-27T23:00:00Z'));
  assert.equal(day.length, 25);
  const twos = day.filter((s) => s.hour === '02');
  assert.equal(twos.length, 2);
  assert.deepEqual(twos.map((s) => [s.fold, s.offset, new Date(s.start).toISOString()]), [
    [0, '+02:00', '2024-10-27T00:00:00.000Z'],
    [1, '+01:00', '2024-10-27T01:00:00.000Z'],
  ]);
  assert.equal(new Set(day.map((s) => s.id)).size, 25);
  // an instant in the second 02 belongs to the fold-1 slot
  assert.equal(c.slotOf(Date.parse('2024-10-27T01:30:00Z')).fold, 1);
});

test('half-hour zones start hours at :30 UTC; bad zones are rejected', () => {
  const s = slotOf(Date.parse('2024-01-01T00:10:00Z'), 'Asia/Kolkata');
  assert.equal(new Date(s.start).toISOString(), '2023-12-31T23:30:00.000Z');
  assert.equal(s.id, '2024-01-01T05:00+05:30');
  assert.throws(() => new HourClock('Mars/Olympus'), /unknown IANA timezone "Mars\/Olympus"/);
});

test('slotAt rejects instants that are not an hour start', () => {
  const c = new HourClock();
  assert.equal(c.slotAt(Date.parse('2024-01-01T05:00:00Z')).hour, '05');
  assert.throws(() => c.slotAt(Date.parse('2024-01-01T05:00:01Z')), /not the start of an hour/);
});

/** [start, end, id, key labels] of each slot of `zone` overlapping [from, to). */
function describeSlots(zone: string, from: string, to: string): string[] {
  return new HourClock(zone)
    .slotsBetween(Date.parse(from), Date.parse(to))
    .map((s) => `${new Date(s.start).toISOString().slice(11, 16)}Z-${new Date(s.end).toISOString().slice(11, 16)}Z ${s.id} ${s.hour}-${s.nextHour}${s.fold === 1 ? '.2' : ''}`);
}

test('Lord Howe fall-back (30 minutes): the repeated half hour is its own slot, named 01-02.2', () => {
  const c = new HourClock('Australia/Lord_Howe');
  // The known hang: this instant was put in 14:00Z-15:00Z, and next() returned the same slot.
  const s = c.slotOf(Date.parse('2024-04-06T15:10:00Z'));
  assert.deepEqual([new Date(s.start).toISOString(), new Date(s.end).toISOString()], ['2024-04-06T15:00:00.000Z', '2024-04-06T15:30:00.000Z']);
  assert.equal(c.next(s).start, s.end);
  assert.deepEqual(describeSlots('Australia/Lord_Howe', '2024-04-06T13:00:00Z', '2024-04-06T17:00:00Z'), [
    '13:00Z-14:00Z 2024-04-07T00:00+11:00 00-01',
    '14:00Z-15:00Z 2024-04-07T01:00+11:00 01-02',
    '15:00Z-15:30Z 2024-04-07T01:30+10:30 01-02.2',
    '15:30Z-16:30Z 2024-04-07T02:00+10:30 02-03',
    '16:30Z-17:30Z 2024-04-07T03:00+10:30 03-04',
  ]);
});

test('Lord Howe spring-forward (30 minutes): 02:30-03:00 is a 30-minute slot named 02-03, no slot overlaps', () => {
  assert.deepEqual(describeSlots('Australia/Lord_Howe', '2024-10-05T13:30:00Z', '2024-10-05T17:00:00Z'), [
    '13:30Z-14:30Z 2024-10-06T00:00+10:30 00-01',
    '14:30Z-15:30Z 2024-10-06T01:00+10:30 01-02',
    '15:30Z-16:00Z 2024-10-06T02:30+11:00 02-03',
    '16:00Z-17:00Z 2024-10-06T03:00+11:00 03-04',
  ]);
  const c = new HourClock('Australia/Lord_Howe');
  for (const t of ['2024-10-05T15:29:59.999Z', '2024-10-05T15:30:00.000Z', '2024-10-05T15:59:59.999Z', '2024-10-05T16:00:00.000Z']) {
    const s = c.slotOf(Date.parse(t));
    assert.ok(s.start <= Date.parse(t) && Date.parse(t) < s.end, t);
  }
});

test('a two-hour fall-back (Antarctica/Troll): both repeated local hours are fold 1', () => {
  assert.deepEqual(describeSlots('Antarctica/Troll', '2024-10-26T23:00:00Z', '2024-10-27T03:00:00Z'), [
    '23:00Z-00:00Z 2024-10-27T01:00+02:00 01-02',
    '00:00Z-01:00Z 2024-10-27T02:00+02:00 02-03',
    '01:00Z-02:00Z 2024-10-27T01:00+00:00 01-02.2',
    '02:00Z-03:00Z 2024-10-27T02:00+00:00 02-03.2',
  ]);
});

test('New York keeps whole-hour slots across both DST changes', () => {
  assert.deepEqual(describeSlots('America/New_York', '2024-03-10T05:00:00Z', '2024-03-10T08:00:00Z'), [
    '05:00Z-06:00Z 2024-03-10T00:00-05:00 00-01',
    '06:00Z-07:00Z 2024-03-10T01:00-05:00 01-02',
    '07:00Z-08:00Z 2024-03-10T03:00-04:00 03-04',
  ]);
  assert.deepEqual(describeSlots('America/New_York', '2024-11-03T05:00:00Z', '2024-11-03T08:00:00Z'), [
    '05:00Z-06:00Z 2024-11-03T01:00-04:00 01-02',
    '06:00Z-07:00Z 2024-11-03T01:00-05:00 01-02.2',
    '07:00Z-08:00Z 2024-11-03T02:00-05:00 02-03',
  ]);
});

test('instants no date can hold are rejected, not looped over', () => {
  assert.throws(() => new HourClock('Australia/Lord_Howe').slotOf(Number.NaN), RangeError);
  assert.throws(() => new HourClock().slotOf(8.64e15 + 1), RangeError);
});
