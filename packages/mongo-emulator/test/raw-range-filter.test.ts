/**
 * Range clauses and the count per hour read from a stored document's bytes (src/raw-fields.ts,
 * src/raw-range-filter.ts, count-group.ts's rawCountGroupOf): for documents of every shape (a
 * date in and out of range, at the limits of valid dates and beyond, missing, null, an array, a
 * number, a string, a nested document, a field repeated in the bytes, ObjectIds and other `_id`s)
 * the answer is the decoded fast path's (range-filter.ts), `undefined` included; where it
 * decides, mingo's own (its `$in` too); and the count's groups are the decoded
 * path's and mingo's; the `_id` listing from the bytes (id-listing.ts) replies what the decoded
 * listing does, byte for byte, with skip and limit.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BSON, Int32, Long, Double, ObjectId } from 'bson';
import type { Document } from 'bson';
import { Context } from 'mingo/core';
import * as queryOperators from 'mingo/operators/query';
import { Query } from 'mingo/query';
import { documentFromElements, encodeElement } from '../src/bson-raw.js';
import { countGroupOf, rawCountGroupOf } from '../src/count-group.js';
import { storedIdsLazily } from '../src/id-listing.js';
import { Pipeline, compileFilter, findDocumentsLazily } from '../src/query.js';
import { RawFields } from '../src/raw-fields.js';
import { rawRangeFilterOf, rawReaderOf } from '../src/raw-range-filter.js';
import { splitRangeFilter } from '../src/range-filter.js';
import { StoredDoc } from '../src/stored-doc.js';

/** mingo alone (its own `$in`, its comparisons), as test/range-filter.test.ts checks. */
const mingoContext = Context.init({ query: queryOperators });

const HOUR = 3_600_000;
const from = Date.UTC(2024, 0, 15, 10);
const to = from + HOUR;
const MIN = 0;
const END = 253402300800000;
const oid = (ms: number, n = 0): ObjectId => new ObjectId(`${Math.floor(ms / 1000).toString(16).padStart(8, '0')}${n.toString(16).padStart(16, '0')}`);

/** The bytes of a document with `createdAt` set to the int64 `ms` as a BSON date (any value). */
function withRawDate(id: ObjectId, ms: bigint): Uint8Array {
  const date = encodeElement('createdAt', new Date(0));
  new DataView(date.buffer, date.byteOffset, date.byteLength).setBigInt64(date.length - 8, ms, true);
  return documentFromElements(encodeElement('_id', id), date);
}

/** Bytes of every shape; decoded with BSON.deserialize for the decoded path and mingo. */
function shapes(): Uint8Array[] {
  const out: Uint8Array[] = [];
  let n = 0;
  for (const idTime of [from - HOUR, from, from + 10, to - 1000, to, to + 10]) {
    const id = (): ObjectId => oid(idTime, ++n);
    for (const t of [from - 1, from, from + 1, to - 1, to, to + HOUR, -5, MIN, END - 1, END, 8.64e15, -8.64e15]) {
      out.push(BSON.serialize({ _id: id(), createdAt: new Date(t), v: n % 3 }));
      out.push(BSON.serialize({ _id: id(), createdAt: [new Date(t)] }));
    }
    for (const odd of [undefined, null, 'yesterday', from + 5, new Int32(7), Long.fromNumber(from), new Double(from), { $date: 'x' }, { t: new Date(from) }, [], new Date(Number.NaN), id()]) {
      out.push(BSON.serialize(odd === undefined ? { _id: id() } : { _id: id(), createdAt: odd }));
    }
    // Invalid dates in the bytes: one past the valid range either way, and the extremes.
    for (const ms of [8_640_000_000_000_001n, -8_640_000_000_000_001n, 2n ** 63n - 1n, -(2n ** 63n)]) out.push(withRawDate(id(), ms));
    // A field repeated in the bytes: the last one is the value (BSON.deserialize keeps it).
    out.push(documentFromElements(encodeElement('_id', id()), encodeElement('createdAt', new Date(from - HOUR)), encodeElement('createdAt', new Date(from + 1))));
    out.push(documentFromElements(encodeElement('_id', id()), encodeElement('createdAt', new Date(from + 1)), encodeElement('createdAt', 'later')));
  }
  for (const other of [42, 'text', new Date(from + 5), null, { a: 1 }]) out.push(BSON.serialize({ _id: other, createdAt: new Date(from + 5) }));
  return out;
}

const hourRule: Document = {
  $or: [
    { createdAt: { $gte: new Date(from), $lt: new Date(to) } },
    { _id: { $gte: oid(from), $lt: oid(to) }, createdAt: { $not: { $gte: new Date(MIN), $lt: new Date(END) } } },
  ],
};

/** The archiver's filters (src/hours/time-filter.ts) and others the raw test must answer alike. */
const FILTERS: Document[] = [
  hourRule,
  hourRule.$or[0],
  hourRule.$or[1],
  { ...hourRule, v: 1 },
  { createdAt: { $gt: new Date(from), $lte: oid(to) } },
  { createdAt: { $not: { $lt: new Date(to) } }, _id: { $lte: oid(to) } },
  { $and: [{ _id: { $gt: oid(from) } }, { createdAt: { $lt: new Date(to) } }] },
  { createdAt: { $gte: new Date(-8.64e15), $lte: new Date(8.64e15) } },
  // The purge's deletes: `_id`s of the hour, and the hour rule.
  { _id: { $in: [oid(from, 1), oid(from + 10, 40), oid(to, 90), oid(from - HOUR, 3)] }, ...hourRule },
  { _id: { $not: { $in: [oid(from, 1), oid(from + 10, 40)] } }, createdAt: { $in: [oid(from, 2)] } },
];

test('a range filter read from the bytes answers as the decoded fast path and mingo', () => {
  const bytes = shapes();
  let decided = 0;
  for (const filter of FILTERS) {
    const raw = rawRangeFilterOf(filter);
    assert.ok(raw, JSON.stringify(filter));
    const { reader, test: rawTest } = rawReaderOf(raw);
    const split = splitRangeFilter(filter)!;
    const whole = compileFilter(filter);
    const query = new Query(filter, { context: mingoContext, useStrictMode: true });
    const mingo = (doc: Document): boolean => query.test(doc);
    for (const b of bytes) {
      const doc = BSON.deserialize(b);
      const stored = StoredDoc.fromStoredRaw(b) ?? StoredDoc.fromRaw(b, doc._id);
      assert.ok(stored.loadFields(reader));
      const got = rawTest(reader);
      assert.equal(got, split.test(doc), `${JSON.stringify(filter)} on ${JSON.stringify(doc)}`);
      if (got !== undefined) {
        decided++;
        if (raw.complete) assert.equal(got, mingo(doc), `mingo: ${JSON.stringify(filter)} on ${JSON.stringify(doc)}`);
      }
      assert.equal(whole(doc), mingo(doc), `compileFilter: ${JSON.stringify(filter)} on ${JSON.stringify(doc)}`);
    }
  }
  assert.ok(decided > bytes.length, 'most documents are decided from their bytes');
});

test('a field is read in place: its type and the last of repeated names; malformed bytes refused', () => {
  const r = new RawFields(['createdAt', 'n']);
  const b = documentFromElements(encodeElement('n', 1), encodeElement('createdAt', new Date(5)), encodeElement('n', Long.fromNumber(2 ** 40)));
  assert.ok(r.load(b.buffer, b.byteOffset, b.length));
  assert.equal(r.types[0], 0x09);
  assert.equal(r.int64(r.offsets[0]!), 5);
  assert.equal(r.types[1], 0x12);
  assert.equal(r.int64(r.offsets[1]!), 2 ** 40);
  const bad = Buffer.from(b);
  bad[bad.length - 1] = 1;
  assert.equal(r.load(bad.buffer, bad.byteOffset, bad.length), false);
  const short = Buffer.from(b.subarray(0, b.length - 3));
  short.writeInt32LE(short.length, 0);
  short[short.length - 1] = 0;
  assert.equal(r.load(short.buffer, short.byteOffset, short.length), false);
});

/** mongo-counts.ts's first pipeline, and groups by a number field. */
function countPipelines(): Document[][] {
  const ms = { $toLong: '$createdAt' };
  const match = { $match: { createdAt: { $gte: new Date(from - HOUR), $lt: new Date(to + HOUR) } } };
  return [
    [match, { $group: { _id: { $subtract: [ms, { $mod: [ms, HOUR / 2] }] }, n: { $sum: 1 } } }],
    [match, { $group: { _id: { $subtract: [ms, { $mod: [{ $subtract: [ms, 17] }, HOUR] }] }, n: { $sum: 2 } } }],
    [match, { $group: { _id: { $dateTrunc: { date: '$createdAt', unit: 'hour' } }, n: { $sum: 1 } } }],
    [match, { $group: { _id: { $add: ['$k', 1] }, n: { $sum: 1 } } }],
    [match, { $group: { _id: '$createdAt', n: { $sum: 1 } } }],
  ];
}

test('the count per hour grouped from the bytes equals the decoded fast path and mingo, slice by slice', () => {
  const good: Uint8Array[] = [];
  for (let i = 0; i < 300; i++) {
    const k = [new Int32(i % 4), new Double(i / 8), Long.fromNumber(i % 5), new Double(-0)][i % 4];
    good.push(BSON.serialize({ _id: oid(from, i), createdAt: new Date(from - 2 * HOUR + ((i * 7_919_113) % (5 * HOUR))), k }));
  }
  const odd = [
    ...shapes(),
    BSON.serialize({ _id: oid(from), createdAt: new Date(from), k: Long.fromString('9007199254740993') }),
    BSON.serialize({ _id: oid(from), createdAt: new Date(from), k: Number.NaN }),
    BSON.serialize({ _id: oid(from), createdAt: new Date(from), k: 'one' }),
  ];
  for (const stages of countPipelines()) {
    const fast = countGroupOf(stages);
    const raw = rawCountGroupOf(stages);
    assert.ok(fast && raw, JSON.stringify(stages));
    // Slices of good documents, then each odd document in a slice of its own among good ones.
    const slices: Uint8Array[][] = [good.slice(0, 150), good.slice(150), ...odd.map((b, i) => [good[i]!, b, good[i + 1]!])];
    let rawDecided = 0;
    for (const slice of slices) {
      const docs = slice.map((b) => BSON.deserialize(b));
      const stored = slice.map((b, i) => StoredDoc.fromStoredRaw(b) ?? StoredDoc.fromRaw(b, docs[i]!._id));
      const ours = raw(stored);
      assert.deepEqual(ours, fast(docs), `${JSON.stringify(stages)} on ${JSON.stringify(docs)}`);
      if (ours !== undefined) {
        rawDecided++;
        assert.deepEqual(ours, new Pipeline(stages).run(docs));
      }
    }
    assert.ok(rawDecided >= 2, `${JSON.stringify(stages)}: the good slices are decided from their bytes`);
  }
  assert.equal(rawCountGroupOf([{ $match: { createdAt: { $gte: new Date(from) }, v: 1 } }, { $group: { _id: '$k', n: { $sum: 1 } } }]), undefined, 'a filter with other clauses is not taken');
});

test('the _id listing from the bytes replies as the decoded listing, byte for byte, with skip and limit', () => {
  const bytes = shapes();
  const stored = bytes.map((b) => StoredDoc.fromStoredRaw(b) ?? StoredDoc.fromRaw(b, BSON.deserialize(b)._id));
  const all = (it: Iterator<Document | Uint8Array>): Buffer[] => {
    const out: Buffer[] = [];
    for (let r = it.next(); r.done !== true; r = it.next()) out.push(Buffer.from(r.value instanceof Uint8Array ? r.value : BSON.serialize(r.value)));
    return out;
  };
  let listed = 0;
  for (const filter of FILTERS) {
    for (const spec of [{}, { skip: 3 }, { limit: 5 }, { skip: 2, limit: 4 }]) {
      const ours = all(storedIdsLazily(stored, filter, spec)!);
      const decoded = all(findDocumentsLazily(stored.map((d) => d.view()), { filter, projection: { _id: 1 }, ...spec }));
      listed += decoded.length;
      assert.deepEqual(ours, decoded, `${JSON.stringify(filter)} ${JSON.stringify(spec)}`);
    }
  }
  assert.ok(listed > 100);
  assert.equal(storedIdsLazily(stored, { v: 1 }, {}), undefined, 'no range clause: the general path');
});
