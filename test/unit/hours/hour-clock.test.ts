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
