import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  Binary, BSONRegExp, BSON, Code, DBRef, Decimal128, Double, EJSON, Int32, Long, MaxKey, MinKey, ObjectId, Timestamp, UUID,
} from 'bson';
import { decodeOptionsFor, isPlainJson, lineEncoder, toAnalytics } from '../../../src/spool/json-lines.js';

const oid = new ObjectId('65a4f0c2e4b0a1b2c3d4e5f6');
const uuid = new UUID('0e4f2a8c-3b1d-4e5f-9a6b-7c8d9e0f1a2b');

const sample = {
  _id: oid,
  s: 'GET /api/users',
  b: true,
  n: null,
  i32: new Int32(200),
  dbl: new Double(12.5),
  plainInt: 7,
  nan: NaN,
  inf: -Infinity,
  smallLong: Long.fromNumber(1234),
  bigLong: Long.fromString('9007199254740993'),
  negBigLong: Long.fromString('-9223372036854775808'),
  dec: Decimal128.fromString('1234.50'),
  at: new Date('2024-01-15T00:00:00.123Z'),
  bin: new Binary(Buffer.from('hello')),
  uuid,
  ts: new Timestamp({ t: 1705276800, i: 3 }),
  re: new BSONRegExp('^/api', 'i'),
  jsre: /x+/g,
  code: new Code('function () { return 1; }'),
  ref: new DBRef('users', oid, 'app'),
  min: new MinKey(),
  max: new MaxKey(),
  nested: { arr: [oid, new Date(0), { deep: Long.fromNumber(5) }] },
};

test('analytics mode maps every BSON type to plain JSON, documented type by type', () => {
  assert.deepEqual(toAnalytics(sample), {
    _id: '65a4f0c2e4b0a1b2c3d4e5f6',
    s: 'GET /api/users',
    b: true,
    n: null,
    i32: 200,
    dbl: 12.5,
    plainInt: 7,
    nan: 'NaN',
    inf: '-Infinity',
    smallLong: 1234,
    bigLong: '9007199254740993',
    negBigLong: '-9223372036854775808',
    dec: '1234.50',
    at: '2024-01-15T00:00:00.123Z',
    bin: Buffer.from('hello').toString('base64'),
    uuid: '0e4f2a8c-3b1d-4e5f-9a6b-7c8d9e0f1a2b',
    ts: { t: 1705276800, i: 3 },
    re: '/^/api/i',
    jsre: '/x+/g',
    code: 'function () { return 1; }',
    ref: { $ref: 'users', $id: '65a4f0c2e4b0a1b2c3d4e5f6', $db: 'app' },
    min: 'MinKey',
    max: 'MaxKey',
    nested: { arr: ['65a4f0c2e4b0a1b2c3d4e5f6', '1970-01-01T00:00:00.000Z', { deep: 5 }] },
  });
  const line = lineEncoder('analytics')(sample);
  assert.ok(!line.includes('\n'));
  assert.equal(JSON.parse(line)._id, '65a4f0c2e4b0a1b2c3d4e5f6');
});

test('analytics mode on a document read back from BSON the way the driver reads it (promoteLongs: false)', () => {
  const bytes = BSON.serialize({ _id: oid, big: Long.fromString('9007199254740993'), small: Long.fromNumber(3), n: 4.5 });
  const doc = BSON.deserialize(bytes, { promoteLongs: false });
  assert.deepEqual(JSON.parse(lineEncoder('analytics')(doc)), { _id: oid.toHexString(), big: '9007199254740993', small: 3, n: 4.5 });
});

test('ejson mode is canonical Extended JSON and restores losslessly', () => {
  const original = { _id: oid, i: new Int32(1), d: new Double(1), l: Long.fromString('9007199254740993'), at: new Date(5), dec: Decimal128.fromString('0.1') };
  const bytes = BSON.serialize(original);
  const doc = BSON.deserialize(bytes, { promoteValues: false });
  const line = lineEncoder('ejson')(doc);
  assert.match(line, /"\$numberInt":"1"/);
  assert.match(line, /"\$numberDouble":"1(\.0)?"/);
  assert.match(line, /"\$numberLong":"9007199254740993"/);
  const restored = EJSON.parse(line, { relaxed: false });
  assert.ok(Buffer.from(BSON.serialize(restored)).equals(Buffer.from(bytes)), 'BSON bytes round-trip exactly');
});

test('plain documents take the fast path and encode exactly like the general mapping', () => {
  const plain = { _id: oid, createdAt: new Date('2024-01-15T00:00:00.5Z'), path: '/a "quoted" \u2028 path', status: 200, ok: true, tags: ['x', { y: null }], n: -1.5 };
  assert.ok(isPlainJson(plain));
  assert.equal(lineEncoder('analytics')(plain), JSON.stringify(toAnalytics(plain)));
  for (const odd of [{ a: NaN }, { a: Long.fromNumber(1) }, { a: undefined }, { a: [new Decimal128('1')] }, { a: new Date(NaN) }, { a: new Map() }]) {
    assert.ok(!isPlainJson(odd));
    assert.equal(lineEncoder('analytics')(odd), JSON.stringify(toAnalytics(odd)));
  }
});

test('a regular expression decoded with decodeOptionsFor keeps its stored options in both modes', () => {
  // Every option MongoDB stores (i m s u x), in a nested array too: the JavaScript RegExp the
  // decoder makes by default would turn them into "gim" (and EJSON refuses "g").
  const bytes = BSON.serialize({ re: new BSONRegExp('a.b', 'imsux'), deep: [{ re: new BSONRegExp('^x', 'su') }] });
  const analytics = BSON.deserialize(bytes, decodeOptionsFor('analytics'));
  assert.deepEqual(JSON.parse(lineEncoder('analytics')(analytics)), { re: '/a.b/imsux', deep: [{ re: '/^x/su' }] });
  const ejson = lineEncoder('ejson')(BSON.deserialize(bytes, decodeOptionsFor('ejson')));
  assert.deepEqual(JSON.parse(ejson), {
    re: { $regularExpression: { pattern: 'a.b', options: 'imsux' } },
    deep: [{ re: { $regularExpression: { pattern: '^x', options: 'su' } } }],
  });
  assert.ok(Buffer.from(BSON.serialize(EJSON.parse(ejson, { relaxed: false }))).equals(Buffer.from(bytes)), 'the regexes round-trip exactly');
});
