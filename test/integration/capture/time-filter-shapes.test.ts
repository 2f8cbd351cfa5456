/**
 * The query form of the hour rule (src/hours/time-filter.ts) against a server: its `byObjectId`
 * clause, written as an `$or` of two one-comparison `$not`s (which a real server's planner can
 * serve from the index on the timestamp field), selects exactly the documents the single
 * `$not: {$gte: MIN, $lt: END}` it replaced selected, for every shape a timestamp field can take
 * (missing, null, numbers, strings, dates before 1970, inside, from year 10000 on, arrays of
 * them, documents); with `byField` the two clauses split the hour's documents without overlap;
 * and a scalar timestamp lands where the tailer's rule (src/hours/event-time.ts) puts it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ObjectId } from 'mongodb';
import type { Document, MongoClient } from 'mongodb';
import { FIELD_TIME_END_MS, FIELD_TIME_MIN_MS, eventTimeReader } from '../../../src/hours/event-time.js';
import { timeRangeFilters } from '../../../src/hours/time-filter.js';
import { uniqueDbName, useTestMongo } from '../../helpers/mongo.js';

let client: MongoClient;
useTestMongo((_mongo, c) => (client = c));

const HOUR = 3_600_000;
const FROM = Date.UTC(2024, 0, 15, 10);
const TO = FROM + HOUR;

/** Every shape of `ts` the rule must place (`undefined`: the field is missing). */
const SHAPES: unknown[] = [
  undefined,
  null,
  5,
  'x',
  true,
  { a: 1 },
  new ObjectId(),
  new Date(FIELD_TIME_MIN_MS - 1),
  new Date(FIELD_TIME_MIN_MS),
  new Date(FROM + 60_000),
  new Date(TO + 60_000),
  new Date(FIELD_TIME_END_MS - 1),
  new Date(FIELD_TIME_END_MS),
  [],
  [new Date(FROM + 60_000)],
  [5],
  [new Date(FIELD_TIME_MIN_MS - 1), new Date(FROM + 60_000)],
  [new Date(FIELD_TIME_END_MS), new Date(FIELD_TIME_MIN_MS - 1)],
  [new Date(FIELD_TIME_END_MS)],
  ['x', new Date(FROM + 60_000)],
];

test('byObjectId selects what the single $not selected, for every shape; with byField it splits the hour; scalars follow the tailer\'s rule', async () => {
  const coll = client.db(uniqueDbName('time_filter')).collection('logs');
  // Each shape twice: with an ObjectId of the hour, and of the hour after.
  const docs: Document[] = [];
  SHAPES.forEach((ts, i) => {
    for (const at of [FROM + 1000 * i, TO + 1000 * i]) {
      const doc: Document = { _id: ObjectId.createFromTime(Math.floor(at / 1000)), shape: i, inHour: at < TO };
      if (ts !== undefined) doc.ts = ts;
      docs.push(doc);
    }
  });
  // createFromTime gives equal ids within a second: distinct seconds above keep them unique.
  await coll.insertMany(docs);
  const ids = async (filter: Document): Promise<string[]> => (await coll.find(filter).sort({ _id: 1 }).toArray()).map((d) => d._id.toHexString());
  const { byField, byObjectId } = timeRangeFilters('ts', FROM, TO);
  const single = { _id: byObjectId._id as Document, ts: { $not: { $gte: new Date(FIELD_TIME_MIN_MS), $lt: new Date(FIELD_TIME_END_MS) } } };
  assert.ok(Array.isArray(byObjectId.$or), 'the clause is an $or of two $not');

  const byId = await ids(byObjectId);
  assert.deepEqual(byId, await ids(single), 'the same documents as the single $not');
  assert.ok(byId.length > 0);
  const both = await ids({ $or: [byField, byObjectId] });
  const field = await ids(byField);
  assert.equal(both.length, field.length + byId.length, 'no document in both clauses');

  // Scalars (and missing): where the tailer's rule places each document.
  const rule = eventTimeReader('ts');
  for (const d of docs) {
    if (Array.isArray(d.ts)) continue;
    const t = rule(d as Record<string, unknown>);
    const inHour = t.ms >= FROM && t.ms < TO;
    assert.equal(both.includes((d._id as ObjectId).toHexString()), inHour, `shape ${String(d.shape)} (${t.source}, ${new Date(t.ms).toISOString()})`);
  }
  await coll.drop();
});
