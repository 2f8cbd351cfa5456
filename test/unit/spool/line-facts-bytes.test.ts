/**
 * lineFactsAt (src/spool/line-facts.ts) reads a line's facts from its UTF-8 bytes, for the
 * capture path's lines (written straight from BSON). Whenever it answers, its key and timestamp
 * must be what lineFacts reads from the line's text (the seal's scan decodes lines and uses
 * lineFacts: both ways of sealing an hour must agree); otherwise it declines.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BSON, ObjectId } from 'mongodb';
import { lineFacts, lineFactsAt, memberKeyBytes } from '../../../src/spool/line-facts.js';
import type { LineFactsAt } from '../../../src/spool/line-facts.js';
import { BsonLineWriter } from '../../../src/spool/bson-lines.js';
import { PendingLines, SlabPool } from '../../../src/spool/pending-lines.js';

const TS = '2024-01-15T10:37:37.466Z';

/** Lines of the shapes the fast read takes, and of shapes it must decline or read with care. */
const LINES = [
  `{"_id":"6b169041e838dd0df53cb9c5","createdAt":"${TS}","status":200}`,
  `{"_id":"a","status":200,"createdAt":"${TS}"}`,
  // "createdAt": inside a string, and in a nested object, before the real member.
  `{"_id":"a","note":"\\"createdAt\\":\\"2020-01-01T00:00:00.000Z\\"","createdAt":"${TS}"}`,
  `{"_id":"a","meta":{"createdAt":"2020-01-01T00:00:00.000Z"},"createdAt":"${TS}"}`,
  `{"_id":"a","list":[{"createdAt":"2020-01-01T00:00:00.000Z"}],"createdAt":"${TS}"}`,
  `{"_id":"a","s":"x\\\\","createdAt":"${TS}"}`,
  // Only nested: no top-level timestamp.
  `{"_id":"a","meta":{"createdAt":"${TS}"}}`,
  // Not a timestamp of the ISO shape, or none.
  `{"_id":"a","createdAt":"2024-01-15"}`,
  `{"_id":"a","createdAt":null}`,
  `{"_id":"a","createdAt":"+275760-09-13T00:00:00.000Z"}`,
  `{"_id":"a","createdAt":{"$date":"${TS}"}}`,
  `{"_id":"a"}`,
  // Keys the fast read leaves to lineFacts: escapes, non-ASCII, other _id shapes.
  `{"_id":"a\\"b","createdAt":"${TS}"}`,
  `{"_id":"é","createdAt":"${TS}"}`,
  `{"_id":7,"createdAt":"${TS}"}`,
  `{"_id":{"$oid":"6b169041e838dd0df53cb9c5"},"createdAt":"${TS}"}`,
  `{"createdAt":"${TS}","_id":"a"}`,
  `{"_id":"é","note":"ü","createdAt":"${TS}"}`,
];

test('lineFactsAt answers with lineFacts\' key and timestamp, or declines', () => {
  const key = memberKeyBytes('createdAt');
  let answered = 0;
  for (const line of LINES) {
    const b = Buffer.from(`xx${line}yy`);
    const at: LineFactsAt = { keyFrom: 0, keyTo: 0, tsAt: 0 };
    const want = lineFacts(line, ['createdAt']);
    if (!lineFactsAt(b, 2, b.length - 2, key, at)) continue;
    answered++;
    assert.equal(b.toString('utf8', at.keyFrom, at.keyTo), want.key, line);
    assert.equal(b.toString('latin1', at.tsAt, at.tsAt + 24), want.ts, line);
  }
  assert.equal(answered, 6, 'the lines of the usual shape are read from their bytes');
});

test('lines appended from BSON record the same facts as the same lines appended as text', async () => {
  const docs = [
    { _id: new ObjectId(), createdAt: new Date(Date.UTC(2024, 0, 15, 10, 5)), note: '"createdAt":"2020-01-01T00:00:00.000Z"' },
    { _id: 'plain', meta: { createdAt: new Date(0) }, createdAt: new Date(Date.UTC(2024, 0, 15, 10, 1)) },
    { _id: 'é-id', createdAt: new Date(Date.UTC(2024, 0, 15, 10, 9)) },
    { _id: 42, createdAt: new Date(Date.UTC(2024, 0, 15, 10, 3)) },
    { _id: new ObjectId(), when: 'no timestamp here' },
  ];
  const writer = new BsonLineWriter();
  const fromBson = new PendingLines(new SlabPool(), 1, ['createdAt']);
  const fromText = new PendingLines(new SlabPool(), 1, ['createdAt']);
  for (const d of docs) {
    const bytes = BSON.serialize(d);
    assert.ok(fromBson.appendBson(bytes, 0, writer) > 0);
    const out = Buffer.alloc(4096);
    const end = writer.write(bytes, 0, out, 0);
    fromText.append(out.toString('utf8', 0, end), BSON.deserialize(bytes, { promoteValues: false }));
  }
  const a = await Promise.all(fromBson.take()?.members ?? []);
  const b = await Promise.all(fromText.take()?.members ?? []);
  assert.equal(a.length, 1);
  assert.deepEqual(a[0]?.member, b[0]?.member, 'the same member bytes');
  const fa = a[0]?.facts;
  const fb = b[0]?.facts;
  assert.ok(fa && fb);
  assert.deepEqual(Buffer.from(fa.hashes), Buffer.from(fb.hashes), 'the same _id hashes');
  assert.equal(fa.first, '2024-01-15T10:01:00.000Z');
  assert.equal(fa.last, '2024-01-15T10:09:00.000Z');
  assert.equal(fb.first, fa.first);
  assert.equal(fb.last, fa.last);
  assert.deepEqual(fa.types, fb.types);
});
