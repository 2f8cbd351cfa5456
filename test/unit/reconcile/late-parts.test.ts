/**
 * Which hours capture by query's late pass may add a late part to (src/reconcile/late-parts.ts):
 * only delivered hours that capture has left behind for good, so that a document is never
 * delivered twice: the saved checkpoint has passed the hour's end, and no spool file of the hour
 * (open, or sealed and not delivered yet) still holds documents capture read.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HourClock } from '../../../src/hours/hour-clock.js';
import type { HourState } from '../../../src/ledger/hour-states.js';
import { lateCandidates } from '../../../src/reconcile/late-parts.js';

const H = 3_600_000;
const T = Date.parse('2026-03-01T00:00:00Z');
const utc = new HourClock('UTC');
const endOf = (start: number): number => utc.slotAt(start).end;
const rec = (hour: number, state: HourState) => ({ start: new Date(T + hour * H), state, name: `h${hour}` });

test('delivered hours the checkpoint has passed and the spool no longer holds', () => {
  const records = [rec(0, 'verified'), rec(1, 'delivered'), rec(2, 'mismatch'), rec(3, 'sealed'), rec(4, 'verified'), rec(5, 'verified')];
  // The checkpoint is inside hour 5; hour 4 still has a sealed file (its delivery failed).
  const names = lateCandidates(records, T + 5 * H + 10_000, new Set([T + 4 * H]), endOf).map((r) => r.name);
  assert.deepEqual(names, ['h0', 'h1', 'h2']);
  // A checkpoint exactly at an hour's end has read all of it.
  assert.deepEqual(lateCandidates([rec(0, 'verified')], T + H, new Set(), endOf).length, 1);
  assert.deepEqual(lateCandidates([rec(0, 'verified')], T + H - 1, new Set(), endOf).length, 0);
});

test('a 30-minute hour after a DST shift ends 30 minutes after it starts', () => {
  const lordHowe = new HourClock('Australia/Lord_Howe');
  // 2026-04-05 02:00 local (+11) → 01:30 (+10:30): the half hour 01:30–02:00 at +10:30 is a slot of its own.
  const slot = lordHowe.slotOf(Date.parse('2026-04-04T15:15:00Z'));
  assert.equal(slot.end - slot.start, 30 * 60_000);
  const half = [{ start: new Date(slot.start), state: 'verified' as HourState }];
  const end = (start: number): number => lordHowe.slotAt(start).end;
  assert.equal(lateCandidates(half, slot.end, new Set(), end).length, 1);
  assert.equal(lateCandidates(half, slot.end - 1, new Set(), end).length, 0);
});

test('late documents of an hour: MongoDB holds more than the archive; once purged, any document but not exactly as many', async () => {
  const { mayHoldLateDocuments } = await import('../../../src/reconcile/late-parts.js');
  assert.equal(mayHoldLateDocuments(11, 10, false), true);
  assert.equal(mayHoldLateDocuments(10, 10, false), false);
  assert.equal(mayHoldLateDocuments(3, 10, false), false, 'deleted at the source');
  assert.equal(mayHoldLateDocuments(0, 10, true), false, 'purged, nothing since');
  assert.equal(mayHoldLateDocuments(1, 10, true), true, 'purged, then a late write');
  assert.equal(mayHoldLateDocuments(10, 10, true), false, 'restored whole');
  assert.equal(mayHoldLateDocuments(11, 10, true), true);
});
