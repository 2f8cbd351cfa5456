/**
 * The batched ledger calls a reconcile uses (src/ledger/hour-states.ts getMany/updateMany,
 * src/ledger/operation-log.ts recordMany) read and write exactly what the per-hour calls do:
 * the same hour records, the same operation records. Against the test MongoDB.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Document } from 'mongodb';
import { HourClock } from '../../../src/hours/hour-clock.js';
import type { HourSlot } from '../../../src/hours/hour-clock.js';
import { HourLedger } from '../../../src/ledger/hour-states.js';
import type { HourRecord } from '../../../src/ledger/hour-states.js';
import { OperationLog } from '../../../src/ledger/operation-log.js';
import type { OperationRecord } from '../../../src/ledger/operation-log.js';
import { ledgerFixture } from '../../helpers/ledger-fixture.js';

const fixture = ledgerFixture('hour-batches');
/** Six hours across local midnight (two day documents) in a zone ahead of UTC. */
const clock = new HourClock('Australia/Lord_Howe');
const slots: HourSlot[] = clock.slotsBetween(Date.UTC(2024, 0, 15, 10), Date.UTC(2024, 0, 15, 16));

function fields(i: number): Partial<HourRecord> {
  return { state: i % 2 === 0 ? 'verified' : 'mismatch', reconcile: { mongo: i, archived: i + 1, status: i % 2 === 0 ? 'ok' : 'mismatch', at: new Date(1_700_000_000_000 + i) } };
}

/** A record without its `updatedAt` (the one field written at the call's own time). */
function timeless(r: HourRecord | undefined): Omit<HourRecord, 'updatedAt'> | undefined {
  if (r === undefined) return undefined;
  const { updatedAt, ...rest } = r;
  assert.ok(updatedAt instanceof Date);
  return rest;
}

test('getMany reads what get reads, for hours across two day documents; updateMany writes what update writes', async () => {
  assert.deepEqual(slots.map((s) => s.date), ['2024-01-15', '2024-01-15', '2024-01-15', '2024-01-16', '2024-01-16', '2024-01-16'], 'six hours across two local days');
  const one = new HourLedger(fixture.fresh().jobs, 'app.one');
  const many = new HourLedger(fixture.fresh().jobs, 'app.many');
  // Hour 0 has a record already (other fields stay), hour 3 gets none.
  for (const ledger of [one, many]) await ledger.update(slots[0] as HourSlot, { state: 'delivered', count: 7, bytes: 70 });
  const written = slots.map((slot, i) => ({ slot, fields: fields(i) })).filter((_, i) => i !== 3);
  for (const { slot, fields: f } of written) await one.update(slot, f);
  await many.updateMany(written);
  const got = await many.getMany(slots);
  assert.deepEqual([...got.keys()].sort(), slots.filter((_, i) => i !== 3).map((s) => s.id).sort(), 'every hour with a record, none without');
  for (const [i, slot] of slots.entries()) {
    const byOne = await one.get(slot);
    assert.deepEqual(timeless(await many.get(slot)), timeless(byOne), slot.id);
    assert.deepEqual(timeless(got.get(slot.id)), timeless(byOne), `${slot.id}: getMany`);
    if (i === 3) assert.equal(byOne, undefined);
  }
  assert.equal((await many.get(slots[0] as HourSlot))?.count, 7, 'fields not named are left as they were');
  assert.deepEqual(await many.getMany([]), new Map());
});

test('recordMany inserts what record inserts, one document per operation', async () => {
  const logs = fixture.db().collection('logs');
  const recs: OperationRecord[] = [
    { op: 'reconcile', hour: 'h1', hourStart: new Date(0), outcome: 'ok', count: 3, durationMs: 4, details: { mongo: 3 } },
    { op: 'reconcile', hour: 'h2', outcome: 'error', count: 1, error: 'MongoDB has 2 (mongodb://u:secret@h/db)', details: { mongo: 2 } },
  ];
  for (const r of recs) await new OperationLog(logs, 'app.one').record(r);
  await new OperationLog(logs, 'app.many').recordMany(recs);
  await new OperationLog(logs, 'app.many').recordMany([]);
  const read = async (namespace: string): Promise<Document[]> => logs.find({ namespace }, { projection: { _id: 0, at: 0, namespace: 0 } }).sort({ hour: 1 }).toArray();
  const byOne = await read('app.one');
  assert.equal(byOne.length, 2);
  assert.doesNotMatch(String(byOne[1]?.error), /secret/, 'errors are redacted');
  assert.deepEqual(await read('app.many'), byOne);
});
