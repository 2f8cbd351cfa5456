/**
 * The BSON element walker against the `bson` library as the oracle: for a document holding every
 * BSON type, each member's key, type, value offset and size are those parseToElements reports.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BSON, Binary, Code, DBRef, Decimal128, Double, Int32, Long, MaxKey, MinKey, ObjectId, BSONRegExp, BSONSymbol, Timestamp } from 'bson';
import { findMember, int32, keyBytes, nextMember, readDocumentMembers, valueSize } from '../../../src/bson/elements.js';
import type { Member } from '../../../src/bson/elements.js';

const everyType = {
  double: new Double(1.5),
  string: 'héllo',
  document: { a: 1, b: { c: 'd' } },
  array: [1, 'two', { three: 3 }],
  binary: new Binary(Buffer.from([1, 2, 3]), 4),
  undefinedValue: undefined,
  objectId: new ObjectId('65a4e0c2f1d2c3b4a5968778'),
  bool: true,
  date: new Date('2024-01-15T00:30:00Z'),
  nullValue: null,
  regex: new BSONRegExp('^a.*b$', 'i'),
  dbPointer: new DBRef('coll', new ObjectId('65a4e0c2f1d2c3b4a5968779')),
  code: new Code('function () { return 1; }'),
  symbol: new BSONSymbol('sym'),
  codeWithScope: new Code('function () { return x; }', { x: 1 }),
  int32: new Int32(-7),
  timestamp: new Timestamp({ t: 1_700_000_000, i: 3 }),
  int64: Long.fromString('-9007199254740993'),
  decimal: Decimal128.fromString('1.25'),
  minKey: new MinKey(),
  maxKey: new MaxKey(),
};

test('nextMember walks every BSON type as the bson library does', () => {
  const b = BSON.serialize(everyType, { ignoreUndefined: false });
  const expected = [...BSON.onDemand.parseToElements(b, 0)].map(([type, nameOffset, nameLength, offset, length]) => ({
    type,
    key: Buffer.from(b.subarray(nameOffset, nameOffset + nameLength)).toString('utf8'),
    value: offset,
    size: length,
  }));
  const seen: typeof expected = [];
  const m: Member = { type: 0, keyFrom: 0, keyTo: 0, value: 0 };
  const end = int32(b, 0) - 1;
  for (let i = 4; i < end; ) {
    const next = nextMember(b, i, m);
    assert.ok(next > i, `member at ${i} (type 0x${m.type.toString(16)}) has a size`);
    seen.push({ type: m.type, key: Buffer.from(b.subarray(m.keyFrom, m.keyTo)).toString('utf8'), value: m.value, size: next - m.value });
    i = next;
  }
  assert.deepEqual(seen, expected);
  assert.equal(seen.length, Object.keys(everyType).length);
});

test('valueSize says -1 for a type it does not know; nextMember then stops', () => {
  const b = Uint8Array.from([0x42, 0x61, 0x00, 1, 2, 3, 4]);
  assert.equal(valueSize(0x42, b, 3), -1);
  assert.equal(nextMember(b, 0, { type: 0, keyFrom: 0, keyTo: 0, value: 0 }), -1);
});

test('int32 reads little-endian signed lengths and values', () => {
  const b = Buffer.alloc(8);
  b.writeInt32LE(-123_456_789, 0);
  b.writeInt32LE(2_147_483_647, 4);
  assert.equal(int32(b, 0), -123_456_789);
  assert.equal(int32(b, 4), 2_147_483_647);
});

test('findMember and readDocumentMembers find top-level members by their exact key', () => {
  const b = BSON.serialize({ fullDocumentX: 1, fullDocument: { _id: 7 }, ful: 'no', clusterTime: new Timestamp({ t: 5, i: 6 }) });
  const found = { type: 0 };
  const at = findMember(b, 0, keyBytes('fullDocument'), found);
  assert.equal(found.type, 0x03);
  assert.deepEqual(BSON.deserialize(b.subarray(at, at + int32(b, at))), { _id: 7 });
  assert.equal(findMember(b, 0, keyBytes('full'), found), -1);
  const types: number[] = [];
  const [ts, missing, ful] = readDocumentMembers(b, 0, ['clusterTime', 'nope', 'ful'], types);
  assert.equal(missing, -1);
  assert.equal(types[0], 0x11);
  assert.equal(int32(b, ts as number + 4), 5);
  assert.equal(types[2], 0x02);
  assert.equal(Buffer.from(b.subarray((ful as number) + 4, (ful as number) + 6)).toString(), 'no');
});
