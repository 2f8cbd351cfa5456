/**
 * Aggregations that end in a combinable `$group` run in slices with the event loop free in
 * between (sliced-aggregate.ts), decoding only the fields their stages read
 * (pipeline-fields.ts): the results are those of a single pass, in the same order.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { BSON, ObjectId } from 'bson';
import type { Document } from 'bson';
import { pickElements } from '../src/bson-raw.js';
import { fieldsRead } from '../src/pipeline-fields.js';
import { Pipeline } from '../src/query.js';
import { runSliced, setSliceSize, slicedPlan, sliceSize } from '../src/sliced-aggregate.js';
import { StoredDoc, keepDecodedDocuments } from '../src/stored-doc.js';
import { emulatorSuite } from './support.js';

const T0 = Date.UTC(2024, 0, 15, 10);

/** Varied documents: dates (some missing, null, in an array, not dates), strings, numbers, arrays, nesting. */
function docs(n: number): Document[] {
  const out: Document[] = [];
  for (let i = 0; i < n; i++) {
    const d: Document = { _id: ObjectId.createFromTime(Math.floor(T0 / 1000) + i * 7), status: [200, 404, 500][i % 3], path: `/p/${i % 5}` };
    if (i % 17 === 0) d.createdAt = [new Date(T0 - 5 * 3_600_000 + i)]; // outside the counts' range: $toLong of an array fails
    else if (i % 19 === 0) d.createdAt = null;
    else if (i % 11 !== 0) d.createdAt = new Date(T0 + ((i * 7919) % 7_200_000));
    else if (i % 22 === 0) d.createdAt = `not a date ${i}`;
    d.ms = i % 13 === 0 ? [i, i + 1] : i * 1.5;
    d.meta = { user: `u${i % 4}`, tags: i % 2 === 0 ? ['a', 'b'] : [] };
    out.push(d);
  }
  return out;
}

const HOUR = 3_600_000;
const cell = (t: string): Document => ({ $subtract: [{ $toLong: t }, { $mod: [{ $toLong: t }, HOUR] }] });

/** Pipelines that run in slices, each with what it checks. */
const PIPELINES: [string, Document[]][] = [
  ['reconcile\'s count per hour', [{ $match: { createdAt: { $gte: new Date(T0), $lt: new Date(T0 + 2 * HOUR) } } }, { $group: { _id: cell('$createdAt'), n: { $sum: 1 } } }]],
  [
    'reconcile\'s ObjectId-time count',
    [
      { $match: { _id: { $gte: ObjectId.createFromTime(Math.floor(T0 / 1000)) }, createdAt: { $not: { $gte: new Date(0), $lt: new Date(T0 * 2) } } } },
      { $project: { _id: 0, t: { $convert: { input: '$_id', to: 'date', onError: null, onNull: null } } } },
      { $match: { t: { $gte: new Date(T0), $lt: new Date(T0 + 100 * HOUR) } } },
      { $group: { _id: cell('$t'), n: { $sum: 1 } } },
    ],
  ],
  [
    'every combinable accumulator, groups in first-seen order, stages after the group',
    [
      { $match: { status: { $in: [200, 500] } } },
      { $addFields: { user: '$meta.user' } },
      { $group: { _id: { s: '$status', u: '$user' }, n: { $count: {} }, sum: { $sum: '$ms' }, lo: { $min: '$createdAt' }, hi: { $max: '$ms' }, first: { $first: '$path' }, last: { $last: '$_id' } } },
      { $project: { n: 1, sum: 1, lo: 1, hi: 1, first: 1, last: 1, key: { $concat: ['$_id.u', '-'] } } },
    ],
  ],
  ['a group of everything, over an unwind', [{ $unwind: '$meta.tags' }, { $group: { _id: null, tags: { $sum: 1 }, firstTag: { $first: '$meta.tags' } } }]],
  ['a whole-document read ($$ROOT)', [{ $match: { status: 404 } }, { $group: { _id: '$$ROOT.path', n: { $sum: 1 } } }]],
  ['no documents', [{ $match: { status: 999 } }, { $group: { _id: '$path', n: { $sum: 1 } } }]],
];

test('fieldsRead: the top-level fields a pipeline reads, or undefined when it may read any', () => {
  assert.deepEqual(fieldsRead(PIPELINES[0]![1]), new Set(['createdAt']));
  assert.deepEqual(fieldsRead(PIPELINES[1]![1]), new Set(['_id', 'createdAt', 't']));
  assert.deepEqual(fieldsRead([{ $match: { $or: [{ 'a.b': 1 }, { $expr: { $gt: ['$c.d', '$e'] } }] } }, { $group: { _id: '$f', x: { $sum: { $literal: '$g' } } } }]), new Set(['a', 'c', 'e', 'f']));
  assert.equal(fieldsRead(PIPELINES[4]![1]), undefined);
  assert.equal(fieldsRead([{ $match: { $where: 'true' } }]), undefined);
  assert.equal(fieldsRead([{ $group: { _id: { $getField: 'a' } } }]), undefined);
  assert.equal(fieldsRead([{ $sort: { a: 1 } }]), undefined);
});

test('pickElements: the named top-level elements, as bytes, in order', () => {
  const raw = BSON.serialize({ _id: 1, a: { b: 2 }, ab: 'x', c: [3], a2: true });
  const picked = pickElements(raw, [Buffer.from('c'), Buffer.from('a')]);
  assert.ok(picked);
  assert.deepEqual(BSON.deserialize(picked), { a: { b: 2 }, c: [3] });
  assert.deepEqual(BSON.deserialize(pickElements(raw, [])!), {});
  assert.equal(pickElements(raw.subarray(0, raw.length - 3), [Buffer.from('a')]), undefined);
});

test('slicedPlan: only a per-document prefix ending in a group of combinable accumulators', () => {
  assert.ok(slicedPlan(PIPELINES[2]![1]));
  assert.equal(slicedPlan([{ $skip: 0 }, { $group: { _id: null, n: { $sum: 1 } } }]), undefined);
  assert.equal(slicedPlan([{ $group: { _id: null, n: { $avg: '$a' } } }]), undefined);
  assert.equal(slicedPlan([{ $group: { _id: null, n: { $push: '$a' } } }]), undefined);
  assert.equal(slicedPlan([{ $match: {} }]), undefined);
});

test('runSliced lets the event loop turn between slices and answers as one pass', async () => {
  const stored = docs(500).map((d) => StoredDoc.fromStoredRaw(BSON.serialize(d))!);
  const pipeline = PIPELINES[2]![1];
  const expected = new Pipeline(pipeline).run(stored.map((d) => d.view()));
  let turned = false;
  let turnedBeforeLast = false;
  function* source(): Generator<StoredDoc> {
    for (const [i, d] of stored.entries()) {
      if (i === stored.length - 1) turnedBeforeLast = turned;
      yield d;
    }
  }
  const previous = sliceSize();
  setSliceSize(50);
  keepDecodedDocuments(false);
  try {
    setImmediate(() => (turned = true));
    const got = await runSliced(slicedPlan(pipeline)!, source(), {});
    assert.ok(turnedBeforeLast, 'a callback queued before the aggregation ran while it was reading');
    assert.deepEqual(got, expected);
  } finally {
    keepDecodedDocuments(true);
    setSliceSize(previous);
  }
});

const suite = emulatorSuite('sliced_aggregate');
let previous = 0;
before(() => {
  previous = sliceSize();
  setSliceSize(7);
});
after(() => setSliceSize(previous));

for (const lean of [false, true]) {
  test(`aggregate in slices of 7 equals one pass (${lean ? 'lean documents' : 'decoded documents kept'})`, async () => {
    const coll = suite.fresh('sliced');
    await coll.insertMany(docs(400));
    await coll.createIndex({ createdAt: 1 });
    keepDecodedDocuments(!lean);
    try {
      for (const [what, pipeline] of PIPELINES) {
        // A leading `$skip: 0` changes nothing but makes the pipeline run in one pass.
        const onePass = await coll.aggregate([{ $skip: 0 }, ...pipeline]).toArray();
        const sliced = await coll.aggregate(pipeline).toArray();
        assert.deepEqual(sliced, onePass, what);
        if (what !== 'no documents') assert.ok(onePass.length > 0, `${what}: some result`);
      }
    } finally {
      keepDecodedDocuments(true);
    }
  });
}
