/**
 * The emulator's fast path for a slice of the archiver's count per hour (src/count-group.ts): the
 * same groups as mingo's pipeline (keys, counts, order) for the pipelines
 * src/reconcile/mongo-counts.ts builds (whole-hour and half-hour grids, with and without a
 * phase), on documents the archiver writes; a slice holding a document it cannot decide (no
 * date, an array, an invalid date) is left to mingo; other pipeline shapes are not taken.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ObjectId } from 'bson';
import type { Document } from 'bson';
import { countGroupOf } from '../src/count-group.js';
import { Pipeline } from '../src/query.js';

const HOUR = 3_600_000;
const from = Date.UTC(2024, 0, 15, 10);
const to = from + 4 * HOUR;

/** mongo-counts.ts's first pipeline for a grid of `size` ms with `phase`. */
function countPipeline(size: number, phase: number): Document[] {
  const ms = { $toLong: '$createdAt' };
  const cell = { $subtract: [ms, { $mod: [phase === 0 ? ms : { $subtract: [ms, phase] }, size] }] };
  return [{ $match: { createdAt: { $gte: new Date(from), $lt: new Date(to) } } }, { $group: { _id: cell, n: { $sum: 1 } } }];
}

const docs: Document[] = [];
for (let i = 0; i < 500; i++) docs.push({ _id: new ObjectId(), createdAt: new Date(from - HOUR + ((i * 7_919_113) % (6 * HOUR))) });

test('a slice of the count per hour groups as mingo does', () => {
  for (const [size, phase] of [[HOUR, 0], [HOUR / 2, 0], [HOUR, 30 * 60_000], [HOUR / 2, 17]] as const) {
    const stages = countPipeline(size, phase);
    const fast = countGroupOf(stages);
    assert.ok(fast, `taken for size ${size} phase ${phase}`);
    const ours = fast(docs);
    assert.ok(ours);
    assert.ok(ours.length > 1);
    assert.deepEqual(ours, new Pipeline(stages).run(docs));
  }
});

test("a slice of a raw count per hour or day by $dateTrunc (the reconcile bench's baseline) groups as mingo does", () => {
  for (const unit of ['hour', 'day']) {
    for (const date of [{ date: '$createdAt', unit }]) {
      const stages = [{ $match: { createdAt: { $gte: new Date(from - 30 * HOUR), $lt: new Date(to) } } }, { $group: { _id: { $dateTrunc: date }, n: { $sum: 1 } } }];
      const fast = countGroupOf(stages);
      assert.ok(fast, `taken for ${JSON.stringify(date)}`);
      const ours = fast(docs);
      assert.ok(ours && ours.length >= 1);
      assert.deepEqual(ours, new Pipeline(stages).run(docs));
    }
  }
  for (const odd of [{ date: '$createdAt', unit: 'hour', binSize: 2 }, { date: '$createdAt', unit: 'hour', timezone: 'UTC' }, { date: '$createdAt', unit: 'week' }]) {
    assert.equal(countGroupOf([{ $match: { createdAt: { $gte: new Date(from) } } }, { $group: { _id: { $dateTrunc: odd }, n: { $sum: 1 } } }]), undefined, JSON.stringify(odd));
  }
});

test('a slice with a document not decided here is left to mingo; other shapes are not taken', () => {
  const fast = countGroupOf(countPipeline(HOUR, 0));
  assert.ok(fast);
  for (const odd of [{ createdAt: [new Date(from)] }, { createdAt: new Date(Number.NaN) }, { createdAt: null }, {}]) {
    assert.equal(fast([...docs.slice(0, 10), { _id: 1, ...odd }]), undefined, JSON.stringify(odd));
  }
  assert.equal(countGroupOf([{ $match: { createdAt: { $gte: new Date(from) } } }, { $group: { _id: '$createdAt', n: { $push: 1 } } }]), undefined);
  assert.equal(countGroupOf([{ $match: { v: 1 } }, { $group: { _id: null, n: { $sum: 1 } } }]), undefined);
  assert.equal(countGroupOf([{ $group: { _id: null, n: { $sum: 1 } } }]), undefined);
});
