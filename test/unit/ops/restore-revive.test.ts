import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BSON, Decimal128, Double, EJSON, Int32, Long, ObjectId } from 'bson';
import { newNotes, partReviver, reviveReport } from '../../../src/ops/restore/revive.js';
import { decodeOptionsFor, lineEncoder } from '../../../src/spool/json-lines.js';
import { TypeTree } from '../../../src/spool/type-summary.js';

const canonical = (v: unknown): string => EJSON.stringify(v as never, { relaxed: false });

function roundTrip(docs: Array<Record<string, unknown>>): { back: unknown[]; decoded: unknown[]; notes: ReturnType<typeof newNotes>; mixed: string[] } {
  const tree = new TypeTree();
  const encode = lineEncoder('analytics');
  const decoded = docs.map((d) => BSON.deserialize(BSON.serialize(d), decodeOptionsFor('analytics')));
  for (const d of decoded) tree.recordDocument(d);
  const summary = tree.summary();
  const notes = newNotes();
  const revive = partReviver('analytics', summary, 'createdAt', notes);
  return { back: decoded.map((d) => revive(encode(d))), decoded, notes, mixed: summary.mixed };
}

test('analytics: single-typed fields come back exactly, integral doubles and large int64 included', () => {
  const docs = [{ _id: new ObjectId(), createdAt: new Date(1), d: new Double(3), l: Long.fromString('-9223372036854775808'), dec: Decimal128.fromString('-0.000100'), s: '5f1d7a3b2c4e5f6a7b8c9d0e' }];
  const { back, decoded, notes } = roundTrip(docs);
  assert.equal(canonical(back[0]), canonical(decoded[0]));
  assert.equal(notes.uncovered.size + notes.unexpected.size, 0);
});

test('analytics: a field of int32 and double is mixed; values come back by their form', () => {
  const { back, mixed } = roundTrip([
    { _id: 1, v: new Int32(5) },
    { _id: 2, v: new Double(5.5) },
    { _id: 3, v: new Double(6) },
  ]);
  assert.deepEqual(mixed, ['v']);
  const types = back.map((d) => ((d as { v: { _bsontype: string } }).v._bsontype));
  assert.deepEqual(types, ['Int32', 'Double', 'Int32'], 'the integral double comes back as int32: the documented loss');
});

test('analytics: a string field that also held ObjectIds revives the hex-looking strings as ObjectIds (reported mixed)', () => {
  const hex = new ObjectId().toHexString();
  const { back, mixed } = roundTrip([{ u: new ObjectId() }, { u: 'alice' }, { u: hex }]);
  assert.deepEqual(mixed, ['u']);
  assert.equal(typeof (back[1] as { u: unknown }).u, 'string');
  assert.equal(((back[2] as { u: { _bsontype: string } }).u)._bsontype, 'ObjectId');
});

test('legacy part: _id and the (dotted) timestamp field are revived, the rest stays JSON', () => {
  const notes = newNotes();
  const revive = partReviver('analytics', undefined, 'meta.at', notes);
  const doc = revive(JSON.stringify({ _id: '5f1d7a3b2c4e5f6a7b8c9d0e', meta: { at: '2024-01-15T00:00:00.000Z' }, n: 5, when: '2024-01-15T00:00:00.000Z' }));
  assert.equal(doc._id._bsontype, 'ObjectId');
  assert.ok(doc.meta.at instanceof Date);
  assert.equal(doc.when, '2024-01-15T00:00:00.000Z');
  const report = reviveReport('analytics', [{}], notes, 'meta.at');
  assert.match(report.notRevivedReason ?? '', /1 part\(s\) without a type summary \(archived before type summaries\)/);
});

test('fields the summary does not cover are kept as JSON and reported', () => {
  const notes = newNotes();
  const revive = partReviver('analytics', { paths: { _id: ['objectId'] }, mixed: [] }, 'createdAt', notes);
  const doc = revive('{"_id":"5f1d7a3b2c4e5f6a7b8c9d0e","extra":"2024-01-15T00:00:00.000Z"}');
  assert.equal(doc.extra, '2024-01-15T00:00:00.000Z');
  assert.deepEqual([...notes.uncovered], ['extra']);
});

test('analytics: nested objects, arrays of objects, timestamps, binary subtypes and open-ended keys come back exactly', async () => {
  const { Binary, Timestamp, UUID } = await import('bson');
  const docs: Array<Record<string, unknown>> = [];
  for (let i = 0; i < 300; i++) {
    docs.push({
      _id: new ObjectId(),
      createdAt: new Date(1_700_000_000_000 + i),
      req: { headers: { host: `h${i}`, size: new Int32(i) }, tags: ['a', `t${i}`], items: [{ sku: new ObjectId(), qty: new Int32(i), at: new Date(i) }] },
      ts: new Timestamp({ t: 1_700_000_000 + i, i: i + 1 }),
      // An object whose own field is `t`: never a timestamp.
      pair: { t: new Int32(i), i: new Int32(i + 1) },
      raw: new Binary(Buffer.from([i & 255, 1, 2]), 0),
      custom: new Binary(Buffer.from([i & 255, 9]), 0x80),
      id4: new UUID(),
      // Keys no schema lists (ids as keys), within the summary's path cap.
      byUser: i < 100 ? { [`u${i}`]: new Date(i) } : {},
      grid: [[new Int32(1), new Int32(2)], []],
    });
  }
  const { back, decoded, notes } = roundTrip(docs);
  for (let i = 0; i < docs.length; i++) assert.equal(canonical(back[i]), canonical(decoded[i]), `document ${i}`);
  assert.deepEqual([...notes.unexpected], []);
  assert.deepEqual([...notes.uncovered], []);
});

test('past the reviver node cap (open-ended keys the summary does not cover), covered fields are still revived and every other key reported', () => {
  const notes = newNotes();
  const revive = partReviver('analytics', { paths: { _id: ['objectId'], createdAt: ['date'], n: ['int'] }, mixed: [] }, 'createdAt', notes);
  for (let i = 0; i < 12_000; i++) {
    const doc = revive(`{"_id":"5f1d7a3b2c4e5f6a7b8c9d0e","k${i}":"x","createdAt":"2024-01-15T00:00:00.000Z","n":${i}}`);
    assert.equal(doc._id._bsontype, 'ObjectId', `line ${i}`);
    assert.ok(doc.createdAt instanceof Date, `line ${i}`);
    assert.equal(doc.n._bsontype, 'Int32', `line ${i}`);
    assert.equal(doc[`k${i}`], 'x');
  }
  assert.equal(notes.uncovered.size, 12_000);
});
