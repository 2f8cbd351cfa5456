import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ObjectId, Timestamp } from 'bson';
import { eventTimeReader } from '../../../src/source/event-time.js';

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
