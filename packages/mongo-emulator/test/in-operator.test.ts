/**
 * The emulator's `$in` (src/in-operator.ts): the same answers as mingo's own operator on values
 * of every shape (scalars, ObjectIds, dates, arrays, nested paths through arrays, null and
 * missing fields, regular expressions, a non-array list), and the list is hashed once per
 * compiled query, not once per document tested (mingo's hashed it per document: a delete of
 * 1,000 `_id`s by `$in` cost a million ObjectId hashes).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ObjectId } from 'bson';
import type { Document } from 'bson';
import { Context } from 'mingo/core';
import * as queryOperators from 'mingo/operators/query';
import { Query } from 'mingo/query';
import { compileFilter } from '../src/query.js';

const mingoContext = Context.init({ query: queryOperators });
const viaMingo = (filter: Document) => {
  const q = new Query(filter, { context: mingoContext, useStrictMode: true });
  return (doc: Document): boolean => q.test(doc);
};

const ids = Array.from({ length: 6 }, (_, i) => new ObjectId(`65a5${String(i).padStart(20, '0')}`));
const when = new Date(Date.UTC(2024, 0, 15, 10));

const docs: Document[] = [
  { _id: ids[0], a: 1, s: 'alpha' },
  { _id: ids[1], a: [1, 2], s: 'beta' },
  { _id: ids[2], a: null, s: ['gamma', 'delta'] },
  { _id: ids[3], s: 'ALPHA', t: when },
  { _id: ids[4], a: [[3], 4], n: [{ x: 5 }, { x: [6, 7] }], t: new Date(when.getTime() + 1) },
  { _id: ids[5], a: '1', n: { x: 6 }, o: { p: 1 } },
  { _id: 7, a: 3.5, o: { p: 2 } },
];

const filters: Document[] = [
  { _id: { $in: [ids[1], ids[4], new ObjectId()] } },
  { _id: { $in: [7, ids[0]] } },
  { _id: { $in: [] } },
  { a: { $in: [1] } },
  { a: { $in: [null] } },
  { a: { $in: [null, 4] } },
  { a: { $in: [[3]] } },
  { a: { $in: ['1', 3.5] } },
  { s: { $in: [/^al/i] } },
  { s: { $in: ['delta', /^be/] } },
  { t: { $in: [new Date(when.getTime())] } },
  { 'n.x': { $in: [6] } },
  { 'n.x': { $in: [7, null] } },
  { o: { $in: [{ p: 2 }] } },
  { missing: { $in: [null] } },
  { missing: { $in: [1] } },
  { a: { $in: [1] }, s: { $in: ['beta'] } },
  { $or: [{ a: { $in: [4] } }, { _id: { $in: [7] } }] },
];

test('$in answers as mingo does on every value shape', () => {
  for (const filter of filters) {
    const ours = compileFilter(filter);
    const theirs = viaMingo(filter);
    const expected = docs.filter(theirs).map((d) => String(d._id));
    assert.deepEqual(docs.filter(ours).map((d) => String(d._id)), expected, JSON.stringify(filter));
  }
});

test('$in with a list that is not an array is an error, as before', () => {
  assert.throws(() => docs.filter(compileFilter({ a: { $in: 1 } })));
});

test('$in hashes its list once per query, not once per document tested', () => {
  // A list member whose one field's reads are counted: mingo hashes an object by reading its
  // fields (a class instance, which mingo's query compiler keeps as it is instead of cloning it).
  let reads = 0;
  class Counted {
    declare p: number;
    constructor() {
      Object.defineProperty(this, 'p', {
        enumerable: true,
        get: () => {
          reads++;
          return 2;
        },
      });
    }
  }
  const member = new Counted();
  const match = compileFilter({ a: { $in: [member] } });
  const compiled = reads;
  const tested = Array.from({ length: 200 }, (_, i) => ({ _id: i, a: i }));
  assert.equal(tested.filter(match).length, 0);
  assert.ok(reads - compiled < 10, `the list member was hashed ${reads - compiled} times for 200 documents`);
  const same = new Counted();
  assert.equal(match({ _id: 'x', a: same }), true);
});
