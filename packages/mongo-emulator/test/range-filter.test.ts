/**
 * The emulator's fast path for range clauses on dates and ObjectIds (src/range-filter.ts, used by
 * compileFilter and the `_id`-only listing): the same answers as mingo's own Query on documents
 * of every shape (dates in and out of range, ObjectIds, missing, null, arrays, other types, an
 * invalid date), for the archiver's hour rule and for filters mixing range clauses with others;
 * and the hour rule is decided without mingo for the documents the archiver writes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ObjectId } from 'bson';
import type { Document } from 'bson';
import { Context } from 'mingo/core';
import * as queryOperators from 'mingo/operators/query';
import { Query } from 'mingo/query';
import { compileFilter, findDocumentsLazily } from '../src/query.js';
import { splitRangeFilter } from '../src/range-filter.js';

const mingoContext = Context.init({ query: queryOperators });
const viaMingo = (filter: Document) => {
  const q = new Query(filter, { context: mingoContext, useStrictMode: true });
  return (doc: Document): boolean => q.test(doc);
};

const HOUR = 3_600_000;
const from = Date.UTC(2024, 0, 15, 10);
const to = from + HOUR;
const oid = (ms: number, n = 0): ObjectId => new ObjectId(`${Math.floor(ms / 1000).toString(16).padStart(8, '0')}${n.toString(16).padStart(16, '0')}`);

/** The archiver's hour rule (src/hours/time-filter.ts) for [from, to). */
const hourRule: Document = {
  $or: [
    { createdAt: { $gte: new Date(from), $lt: new Date(to) } },
    { _id: { $gte: oid(from), $lt: oid(to) }, createdAt: { $not: { $gte: new Date(0), $lt: new Date(253402300800000) } } },
  ],
};

const times = [from - 1, from, from + 1, to - 1, to, to + HOUR, -5];
const docs: Document[] = [];
let n = 0;
for (const t of times) {
  for (const idTime of [from - HOUR, from + 10, to + 10]) {
    n++;
    docs.push({ _id: oid(idTime, n), createdAt: new Date(t), v: n % 3 });
    docs.push({ _id: oid(idTime, n + 1000), createdAt: [new Date(t)], v: n % 2 });
  }
}
for (const idTime of [from - HOUR, from + 10, to + 10]) {
  n++;
  docs.push({ _id: oid(idTime, n) });
  docs.push({ _id: oid(idTime, n + 2000), createdAt: null });
  docs.push({ _id: oid(idTime, n + 3000), createdAt: 'yesterday' });
  docs.push({ _id: oid(idTime, n + 4000), createdAt: new Date(Number.NaN) });
  docs.push({ _id: oid(idTime, n + 5000), createdAt: from + 5 });
  docs.push({ _id: 42 + n, createdAt: new Date(from + 5) });
  docs.push({ _id: `s${n}`, createdAt: 'x' });
}

const filters: Document[] = [
  hourRule,
  { $and: [{ _id: { $in: docs.slice(0, 9).map((d) => d._id) } }, hourRule] },
  { ...hourRule, v: 1 },
  { _id: { $gt: oid(from + 10, 3) }, createdAt: { $lte: new Date(to) } },
  { createdAt: { $gte: new Date(from), $lt: new Date(to), $ne: new Date(from + 1) } },
  { createdAt: { $not: { $lt: new Date(to) } } },
  { $or: [{ createdAt: { $lt: new Date(from) } }, { v: 2 }] },
  { createdAt: { $gt: new Date(from) }, 'nested.x': { $gte: new Date(0) } },
];

test('range clauses answer as mingo does, for every document shape', () => {
  for (const filter of filters) {
    const ours = compileFilter(filter);
    const theirs = viaMingo(filter);
    for (const doc of docs) assert.equal(ours(doc), theirs(doc), `${JSON.stringify(filter)} on ${JSON.stringify(doc)}`);
  }
});

test("the hour rule is decided without mingo for the archiver's documents (a date, an ObjectId)", () => {
  const split = splitRangeFilter(hourRule);
  assert.ok(split);
  assert.equal(split.rest, undefined);
  for (const doc of docs) {
    if (doc._id instanceof ObjectId && doc.createdAt instanceof Date && !Number.isNaN(doc.createdAt.getTime())) {
      assert.equal(split.test(doc), viaMingo(hourRule)(doc));
    }
  }
  assert.equal(split.test({ _id: oid(from), createdAt: [new Date(from)] }), undefined, 'an array is left to mingo');
});

test('the _id-only listing yields the documents mingo finds, in order, with skip and limit', () => {
  const list = (spec: { skip?: number; limit?: number }): unknown[] => {
    const it = findDocumentsLazily(docs, { filter: hourRule, projection: { _id: 1 }, ...spec });
    const out: unknown[] = [];
    for (let r = it.next(); r.done !== true; r = it.next()) out.push(r.value);
    return out;
  };
  const expected = docs.filter(viaMingo(hourRule)).map((d) => ({ _id: d._id }));
  assert.ok(expected.length > 5);
  assert.deepEqual(list({}), expected);
  assert.deepEqual(list({ skip: 2, limit: 3 }), expected.slice(2, 5));
});
