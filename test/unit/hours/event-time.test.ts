import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BSON, ObjectId, Timestamp } from 'bson';
import { eventTimeReader, rawEventTimeReader } from '../../../src/hours/event-time.js';

const read = eventTimeReader('createdAt');

test('the timestamp field wins when it is a date', () => {
  const at = new Date('2024-01-15T10:20:30.400Z');
  assert.deepEqual(read({ _id: new ObjectId(), createdAt: at }), { ms: at.getTime(), source: 'field' });
});

test('missing or non-date timestamp falls back to the ObjectId time', () => {
  const id = ObjectId.createFromTime(Date.parse('2024-02-01T01:02:03Z') / 1000);
  for (const createdAt of [undefined, '2024-01-15T10:00:00Z', 12345, null, new Date(NaN)]) {
    assert.deepEqual(read({ _id: id, createdAt }), { ms: Date.parse('2024-02-01T01:02:03Z'), source: 'objectId' });
  }
});

/** Dates no event time comes from: before 1970, or from year 10000 on. */
const OUT_OF_RANGE = [
  new Date('0001-01-01T00:30:00Z'), // .NET's DateTime.MinValue (+30 min); Date.UTC would say 1901
  new Date(Date.UTC(-1, 0, 1, 12)), // year -1
  new Date(Date.UTC(10000, 0, 1)), // year 10000
  new Date(Date.UTC(275760, 8, 13)), // the last date JavaScript can hold
  new Date(-1), // 1969-12-31T23:59:59.999Z
];

test('a date before 1970 or from year 10000 on counts as no timestamp: the ObjectId time decides', () => {
  const id = ObjectId.createFromTime(Date.parse('2024-02-01T01:02:03Z') / 1000);
  for (const createdAt of OUT_OF_RANGE) {
    assert.deepEqual(read({ _id: id, createdAt }), { ms: Date.parse('2024-02-01T01:02:03Z'), source: 'objectId' }, createdAt.toISOString());
  }
  // The range's ends.
  assert.deepEqual(read({ _id: id, createdAt: new Date(0) }), { ms: 0, source: 'field' });
  const last = new Date('9999-12-31T23:59:59.999Z');
  assert.deepEqual(read({ _id: id, createdAt: last }), { ms: last.getTime(), source: 'field' });
});

test('no date and no ObjectId: the cluster time, then the wall time', () => {
  const ct = new Timestamp({ t: Date.parse('2024-03-01T00:00:05Z') / 1000, i: 7 });
  assert.deepEqual(read({ _id: 'custom-id' }, ct), { ms: Date.parse('2024-03-01T00:00:05Z'), source: 'clusterTime' });
  const wall = new Date('2024-03-01T00:00:09Z');
  assert.deepEqual(read({ _id: 42 }, undefined, wall), { ms: wall.getTime(), source: 'wallTime' });
});

test('dotted field paths reach into sub-documents', () => {
  const r = eventTimeReader('meta.at');
  const at = new Date('2024-05-05T05:05:05Z');
  assert.equal(r({ _id: 1, meta: { at } }).ms, at.getTime());
  assert.equal(r({ _id: 1, meta: 'x' }, undefined, at).source, 'wallTime');
});

test('the reader of BSON bytes gives the same instant as the reader of decoded documents', () => {
  const ct = new Timestamp({ t: Date.parse('2024-03-01T00:00:05Z') / 1000, i: 7 });
  const wall = new Date('2024-03-01T00:00:09Z');
  const highBitId = ObjectId.createFromTime(0xf0000000);
  const docs: Array<Record<string, unknown>> = [
    { _id: new ObjectId(), createdAt: new Date('2024-01-15T10:20:30.400Z') },
    { _id: ObjectId.createFromTime(1_706_749_323), createdAt: 'not a date' },
    { _id: highBitId, createdAt: null },
    { _id: 'custom-id', createdAt: 12345 },
    { _id: 42 },
    { _id: new ObjectId(), meta: { at: new Date('2024-05-05T05:05:05Z') }, createdAt: new Date(0) },
    { _id: new ObjectId(), meta: 'flat', createdAt: new Date(-1) },
    { createdAt: new Date(8.64e15) },
    ...OUT_OF_RANGE.map((createdAt) => ({ _id: ObjectId.createFromTime(1_706_749_323), createdAt })),
    { _id: ObjectId.createFromTime(1_706_749_323), createdAt: new Date(0) },
    { _id: ObjectId.createFromTime(1_706_749_323), createdAt: new Date(Date.UTC(10000, 0, 1) - 1) },
  ];
  for (const field of ['createdAt', 'meta.at']) {
    const decoded = eventTimeReader(field);
    const raw = rawEventTimeReader(field);
    for (const doc of docs) {
      const bytes = BSON.serialize(doc);
      const back = BSON.deserialize(bytes);
      for (const [c, w] of [[ct, wall], [undefined, wall], [undefined, undefined]] as const) {
        if (c === undefined && w === undefined && typeof doc._id !== 'object') continue; // falls back to the time of the call
        assert.equal(
          raw(bytes, 0, c === undefined ? -1 : c.getHighBitsUnsigned(), w === undefined ? Number.NaN : w.getTime()),
          decoded(back, c, w).ms,
          `${field} in ${JSON.stringify(doc)}`,
        );
      }
    }
  }
});
