/**
 * The BSON line writer must write exactly what the analytics encoder writes for the same document
 * decoded by the driver (the archive must not depend on which of the two wrote a line), and leave
 * to the caller (-1) every document it does not map itself.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BSON, Binary, BSONRegExp, Code, DBRef, Decimal128, Double, Int32, Long, MaxKey, MinKey, ObjectId, Timestamp, UUID } from 'bson';
import type { Document } from 'bson';
import { BsonLineWriter, MAX_JSON_BYTES_PER_BSON_BYTE } from '../../../src/spool/bson-lines.js';
import { lineEncoder } from '../../../src/spool/json-lines.js';
import { TypeTree } from '../../../src/spool/type-summary.js';
import { apiLogsBetween, rng } from '@cron-log-service/mongo-emulator/traffic';

const encode = lineEncoder('analytics');
const writer = new BsonLineWriter();

/** What the writer makes of `doc` (serialized at an offset inside a larger buffer), or -1. */
function written(doc: Document, types?: TypeTree): string | -1 {
  const bytes = BSON.serialize(doc);
  const src = new Uint8Array(bytes.length + 7);
  src.set(bytes, 3);
  const out = Buffer.alloc(bytes.length * MAX_JSON_BYTES_PER_BSON_BYTE + 10, 0xee);
  out[0] = 0x41;
  const end = writer.write(src, 3, out, 1, types);
  if (end < 0) return -1;
  assert.equal(out[0], 0x41, 'nothing written before the position given');
  return out.toString('utf8', 1, end);
}

/** What the capture path wrote before: the driver's decode (promoteLongs: false) + the encoder. */
function expected(doc: Document): string {
  return encode(BSON.deserialize(BSON.serialize(doc), { promoteLongs: false }));
}

function same(doc: Document, why: string, types?: TypeTree): void {
  const got = written(doc, types);
  assert.notEqual(got, -1, `${why}: the writer left the document to the encoder`);
  assert.equal(got, expected(doc), why);
}

test('generated API-log documents: the same line as the encoder, byte for byte', () => {
  for (const doc of apiLogsBetween(rng(7), 2000, Date.UTC(2024, 0, 15, 10), Date.UTC(2024, 0, 15, 11))) same(doc as unknown as Document, 'api log');
});

test('every BSON type the writer maps: the same line as the encoder', () => {
  same({ d: 1.5, neg: -0.25, big: 1e21, tiny: 5e-324, negZero: -0, whole: 42.0, huge: 2 ** 60 }, 'doubles');
  same({ nan: Number.NaN, inf: Number.POSITIVE_INFINITY, ninf: Number.NEGATIVE_INFINITY }, 'non-finite doubles');
  same({ a: new Int32(0), b: new Int32(-7), c: new Int32(2147483647), d: new Int32(-2147483648) }, 'int32');
  same(
    { a: Long.fromNumber(0), b: Long.fromString('9007199254740991'), c: Long.fromString('9007199254740992'), d: Long.fromString('-9007199254740991'), e: Long.fromString('-9223372036854775808'), f: Long.MAX_VALUE },
    'int64 inside and outside the safe range',
  );
  same({ t: true, f: false, n: null, u: undefined }, 'booleans, null and undefined');
  same({ id: new ObjectId('65a4f0c2aabbccddeeff0011') }, 'ObjectId');
  same({ ts: new Timestamp({ t: 1705312800, i: 7 }), max: new Timestamp({ t: 0xffffffff, i: 0xffffffff }) }, 'timestamp');
  same({ uuid: new UUID('0e9c8e6e-3c3f-4a3b-9a7e-3d2f1b0c9a8e'), bin: new Binary(Buffer.from('hello world!?')), b1: new Binary(Buffer.from([1])), b2: new Binary(Buffer.from([1, 2])), empty: new Binary(Buffer.alloc(0)) }, 'binary');
  same({ nested: { a: [1, 'two', { three: [3] }, [], {}], empty: {} }, list: [new Date(0), null, true] }, 'documents and arrays');
  same({ d: new Double(3) }, 'a double holding an integer');
});

test('strings: escapes, control characters, UTF-8 and keys as JSON.stringify writes them', () => {
  same({ q: 'say "hi"\\', ctl: '\b\t\n\f\r\u0001\u001f\u007f', nul: 'a\u0000b' }, 'escapes');
  same({ 'ké y': 'ünïcödé ✓ 𝄞 日本語', 'tab\tkey': 'x', 'quote"key': 'y', emoji: '😀', sep: '\u2028\u2029' }, 'UTF-8 and escaped keys');
  same({ long: 'x'.repeat(10_000) + '"'.repeat(100) }, 'long strings');
});

test('dates: every instant the encoder can write, and null outside the Date range', () => {
  const r = rng(11);
  const instants = [0, -1, 1, 951_782_400_000, 4_107_542_400_000, -62_135_596_800_000, 253_402_300_799_999, -62_167_219_200_000, 8.64e15, -8.64e15];
  for (let k = 0; k < 5000; k++) instants.push(Math.floor((r() - 0.5) * 2 * 8.64e15));
  for (let k = 0; k < 5000; k++) instants.push(Math.floor((r() - 0.3) * 1e13));
  for (const ms of instants) same({ at: new Date(ms) }, `date ${ms}`);
  // The writer keeps the last day's date: runs within a day, across midnight, back and forth,
  // and through years it does not keep (before 0, after 9999).
  const day = Date.UTC(2024, 1, 29);
  const runs = [day, day + 1, day + 86_399_999, day + 86_400_000, day - 1, day, day + 43_200_123, -62_198_755_200_000, day + 5, 253_402_300_800_000, day + 86_399_999, -1, 0, -86_400_000, -86_400_001];
  for (const ms of runs) same({ at: new Date(ms) }, `date ${ms} in a run`);
  for (let ms = day - 3_600_000; ms < day + 3_600_000; ms += 59_999) same({ at: new Date(ms) }, `date ${ms} near midnight`);
  // Out of the Date range (the driver decodes an Invalid Date; the encoder writes null).
  const bytes = BSON.serialize({ at: new Date(0) });
  new DataView(bytes.buffer, bytes.byteOffset).setBigInt64(8, 8_640_000_000_000_001n, true);
  const out = Buffer.alloc(200);
  const end = writer.write(bytes, 0, out, 0);
  assert.equal(out.toString('utf8', 0, end), '{"at":null}');
  assert.equal(encode(BSON.deserialize(bytes, { promoteLongs: false })), '{"at":null}');
});

test('documents the writer does not map are left to the encoder (-1)', () => {
  const cases: Array<[string, Document]> = [
    ['a regular expression', { r: new BSONRegExp('a+', 'i') }],
    ['a Decimal128', { v: Decimal128.fromString('1234.50') }],
    ['code', { c: new Code('x = 1') }],
    ['MinKey', { m: new MinKey() }],
    ['MaxKey', { m: new MaxKey() }],
    ['a DBRef', { ref: new DBRef('users', new ObjectId()) }],
    ['a $ key', { $weird: 1 }],
    ['an integer-like key (JavaScript lists it first)', { b: 1, '2': 2 }],
    ['a __proto__ key', JSON.parse('{"__proto__": 1}') as Document],
    ['a binary subtype other than 0 and 4', { b: new Binary(Buffer.from('x'), 5) }],
    ['a UUID-subtype binary that is not 16 bytes', { b: new Binary(Buffer.from('x'), 4) }],
    ['a deep unsupported value', { a: [{ b: [{ c: new Decimal128(Buffer.alloc(16)) }] }] }],
  ];
  for (const [why, doc] of cases) assert.equal(written(doc), -1, why);
  // Each of these is still archived by the caller, through the encoder.
  for (const [, doc] of cases) assert.equal(typeof expected(doc), 'string');
});

test('a string that is not valid UTF-8 is left to the caller, whose decode rejects it', () => {
  const bytes = Buffer.from(BSON.serialize({ s: 'abc' }));
  bytes[bytes.indexOf('abc') + 1] = 0xff;
  assert.equal(writer.write(bytes, 0, Buffer.alloc(100), 0), -1);
  assert.throws(() => BSON.deserialize(bytes, { promoteLongs: false }), /utf-?8/i);
});

test('random documents: the same line as the encoder, or -1 only for what it does not map', () => {
  const r = rng(3);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)] as T;
  const keys = ['a', 'bb', 'name', 'héllo', 'k"q', 'x y', '_id', 'createdAt', 'z\n'];
  const value = (depth: number): unknown => {
    switch (Math.floor(r() * (depth > 3 ? 9 : 11))) {
      case 0:
        return r() * 1e6 - 5e5;
      case 1:
        return Math.floor(r() * 2 ** 31) - 2 ** 30;
      case 2:
        return pick(['', 'plain', 'ünï', 'a"b\\c', '\u0002', 'x'.repeat(Math.floor(r() * 300))]);
      case 3:
        return r() < 0.5;
      case 4:
        return null;
      case 5:
        return new Date(Math.floor((r() - 0.5) * 1e14));
      case 6:
        return new ObjectId();
      case 7:
        return Long.fromNumber(Math.floor((r() - 0.5) * 2 ** 62));
      case 8:
        return r() < 0.9 ? new Timestamp({ t: Math.floor(r() * 2 ** 32), i: Math.floor(r() * 100) }) : new BSONRegExp('x', 'i');
      case 9:
        return Array.from({ length: Math.floor(r() * 4) }, () => value(depth + 1));
      default: {
        const o: Document = {};
        for (let k = Math.floor(r() * 5); k > 0; k--) o[pick(keys)] = value(depth + 1);
        return o;
      }
    }
  };
  let mapped = 0;
  for (let n = 0; n < 3000; n++) {
    const doc: Document = {};
    for (let k = 1 + Math.floor(r() * 8); k > 0; k--) doc[pick(keys)] = value(0);
    const got = written(doc);
    if (got === -1) {
      assert.match(BSON.EJSON.stringify(doc, { relaxed: false }), /\$regularExpression/, 'only the regular expressions are left to the encoder');
      continue;
    }
    mapped++;
    assert.equal(got, expected(doc));
  }
  assert.ok(mapped > 2500, `most random documents are written by the writer (${mapped} of 3000)`);
});

test('with a type tree (the capture path): keys copied from the tree give the same line as the encoder', () => {
  const types = new TypeTree();
  const docs: Document[] = [
    ...apiLogsBetween(rng(3), 300, Date.UTC(2024, 0, 15, 10), Date.UTC(2024, 0, 15, 11)),
    { a: 1, ab: 2, abc: { a: 3, ab: [1, { a: 2 }] } },
    { ab: 1, a: 2, abc: { ab: 3, a: [1, { b: 2 }] } },
    { a: 1 },
    { ab: 1, abc: 2, a: 3 },
    { 'quote"key': 1, 'tab\tkey': 2, 'ké y': 3, '': 4, x: 5 },
    { 'quote"key': 1, 'tab\tkey': 2, 'ké y': 3, '': 4, x: 5 },
    { '1a': 1, $x: 2, __proto__x: 3 },
  ];
  for (const [i, doc] of docs.entries()) {
    const got = written(doc, types);
    if (got === -1) {
      assert.ok(i === docs.length - 1, `document ${i} left to the encoder`);
      continue;
    }
    assert.equal(got, expected(doc), `document ${i}`);
    writer.commitTypes();
  }
  // Written twice: the second time every key is where the tree saw it.
  for (const doc of docs.slice(0, 300)) same(doc, 'again', types);
});
