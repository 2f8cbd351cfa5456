import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Binary, BSON, Decimal128, Double, Int32, Long, ObjectId, Timestamp, UUID } from 'bson';
import { sealScan } from '../../../src/seal/scan.js';
import { BsonLineWriter } from '../../../src/spool/bson-lines.js';
import { factsPath } from '../../../src/spool/facts-file.js';
import { decodeOptionsFor, lineEncoder } from '../../../src/spool/json-lines.js';
import { Spool } from '../../../src/spool/spool.js';
import { spoolFileName, spoolLayout } from '../../../src/spool/spool-files.js';
import { MAX_TYPE_DEPTH, MAX_TYPE_PATHS, TypeTree, mergeTypes, splitPath, typesKnown } from '../../../src/spool/type-summary.js';
import type { KnownTypes } from '../../../src/spool/type-summary.js';

const H0 = Date.parse('2024-01-15T00:00:00Z');

/** Documents the BSON writer handles itself (no Decimal128, regex, …). */
function writerDocs(): Array<Record<string, unknown>> {
  return [
    { _id: new ObjectId(), createdAt: new Date(H0 + 1), latencyMs: new Int32(5), body: { user: { id: Long.fromNumber(7) } }, tags: ['a', 'b'], ok: true },
    { _id: new ObjectId(), createdAt: new Date(H0 + 2), latencyMs: new Double(5.5), body: { user: { id: Long.fromString('9007199254740993') } }, tags: [], n: null },
    { _id: new ObjectId(), createdAt: new Date(H0 + 3), raw: new Binary(Buffer.from('abc'), 0), u: new UUID(), ts: new Timestamp({ t: 5, i: 1 }), items: [{ sku: 'x', q: new Int32(1) }, { sku: 'y', q: new Double(2) }] },
  ];
}

function writerTypes(docs: Array<Record<string, unknown>>): KnownTypes {
  const tree = new TypeTree();
  const writer = new BsonLineWriter();
  for (const d of docs) {
    const bytes = BSON.serialize(d);
    const out = new Uint8Array(bytes.length * 6 + 1);
    assert.ok(writer.write(bytes, 0, out, 0, tree) > 0);
    writer.commitTypes();
  }
  return tree.summary();
}

function decodedTypes(docs: Array<Record<string, unknown>>): KnownTypes {
  const tree = new TypeTree();
  for (const d of docs) tree.recordDocument(BSON.deserialize(BSON.serialize(d), decodeOptionsFor('analytics')));
  return tree.summary();
}

test('the BSON writer and the decoded-document walker give the same summary', () => {
  const docs = writerDocs();
  const fromBytes = writerTypes(docs);
  assert.deepEqual(fromBytes, decodedTypes(docs));
  assert.deepEqual(fromBytes.paths._id, ['objectId']);
  assert.deepEqual(fromBytes.paths.createdAt, ['date']);
  assert.deepEqual(fromBytes.paths.latencyMs, ['double', 'int']);
  assert.deepEqual(fromBytes.paths['body.user.id'], ['long']);
  assert.deepEqual(fromBytes.paths['tags[]'], ['string']);
  assert.deepEqual(fromBytes.paths['items[].q'], ['double', 'int']);
  assert.deepEqual(fromBytes.paths.raw, ['binData']);
  assert.deepEqual(fromBytes.paths.u, ['uuid']);
  assert.deepEqual(fromBytes.paths.ts, ['timestamp']);
  assert.deepEqual(fromBytes.paths.n, ['null']);
  assert.deepEqual(fromBytes.mixed, ['items[].q', 'latencyMs']);
  assert.equal(fromBytes.capped, undefined);
});

test('a write that is not committed (left to the caller, or written again) adds no type', () => {
  const tree = new TypeTree();
  const writer = new BsonLineWriter();
  const bytes = BSON.serialize({ a: new Int32(1), d: new Decimal128('1.5') });
  assert.equal(writer.write(bytes, 0, new Uint8Array(bytes.length * 6), 0, tree), -1);
  const ok = BSON.serialize({ b: 'x' });
  assert.ok(writer.write(ok, 0, new Uint8Array(ok.length * 6), 0, tree) > 0);
  writer.commitTypes();
  assert.deepEqual(tree.summary().paths, { b: ['string'] });
});

test('depth and path caps are said, never guessed past', () => {
  let deep: Record<string, unknown> = { leaf: 1 };
  for (let i = 0; i < MAX_TYPE_DEPTH + 2; i++) deep = { d: deep };
  const wide: Record<string, unknown> = {};
  for (let i = 0; i < MAX_TYPE_PATHS + 10; i++) wide[`f${i}`] = i;
  const a = new TypeTree();
  a.recordDocument(deep);
  assert.equal(a.summary().capped?.depth, true);
  assert.equal(Object.keys(a.summary().paths).length, MAX_TYPE_DEPTH);
  const b = new TypeTree();
  b.recordDocument(wide);
  assert.equal(b.summary().capped?.paths, true);
  assert.equal(Object.keys(b.summary().paths).length, MAX_TYPE_PATHS);
});

test('paths with dots and brackets in keys split back into their keys', () => {
  const t = new TypeTree();
  t.recordDocument({ 'a.b': { 'c[]': [1] } });
  const paths = Object.keys(t.summary().paths);
  assert.deepEqual(paths, ['a\\.b', 'a\\.b.c\\[\\]', 'a\\.b.c\\[\\][]']);
  assert.deepEqual(splitPath('a\\.b.c\\[\\][]'), ['a.b', 'c[]', '[]']);
  assert.deepEqual(splitPath('items[].sku'), ['items', '[]', 'sku']);
});

test('merging: a part without types makes the merge unknown', () => {
  const known = decodedTypes(writerDocs());
  assert.ok(typesKnown(mergeTypes([known, known])));
  assert.equal(typesKnown(mergeTypes([known, undefined])), false);
});

async function spoolWith(append: (spool: Spool, id: { hour: number; part: number }) => void): Promise<{ path: string; dir: string }> {
  const dir = await fs.mkdtemp(join(tmpdir(), 'types-test-'));
  const layout = spoolLayout(dir, 'app.apilogs');
  const spool = new Spool({ layout, gzipLevel: 6, timestampField: 'createdAt' });
  await spool.open(undefined);
  const id = { hour: H0, part: 1 };
  append(spool, id);
  await spool.flush();
  await spool.detach(id);
  await spool.close();
  return { path: join(layout.open, spoolFileName(id)), dir };
}

test('spool → seal: the facts carry the summary of BSON-written and decoded lines; without facts, analytics is unknown and ejson exact', async () => {
  const docs = writerDocs();
  const writer = new BsonLineWriter();
  const { path, dir } = await spoolWith((spool, id) => {
    for (const d of docs.slice(0, 2)) assert.ok(spool.appendBson(id, BSON.serialize(d), 0, writer));
    const decoded = BSON.deserialize(BSON.serialize(docs[2] as object), decodeOptionsFor('analytics'));
    spool.append(id, lineEncoder('analytics')(decoded), decoded);
  });
  const sealed = await sealScan(path, 'createdAt', 'analytics');
  assert.equal(sealed.method, 'facts');
  assert.deepEqual(sealed.types, decodedTypes(docs));
  await fs.rm(factsPath(path));
  const without = await sealScan(path, 'createdAt', 'analytics');
  assert.equal(without.method, 'decode');
  assert.equal(typesKnown(without.types), false, 'analytics lines without facts: unknown, not guessed');
  await fs.rm(dir, { recursive: true, force: true });

  const ejson = await spoolWith((spool, id) => {
    for (const d of docs) {
      const decoded = BSON.deserialize(BSON.serialize(d), decodeOptionsFor('ejson'));
      spool.append(id, lineEncoder('ejson')(decoded), decoded);
    }
  });
  await fs.rm(factsPath(ejson.path));
  const fromLines = await sealScan(ejson.path, 'createdAt', 'ejson');
  assert.deepEqual(fromLines.types, decodedTypes(docs), 'ejson lines carry every type');
  await fs.rm(ejson.dir, { recursive: true, force: true });
});

test('a line appended without its document makes the part unknown', async () => {
  const { path, dir } = await spoolWith((spool, id) => {
    spool.append(id, '{"_id":"a","createdAt":"2024-01-15T00:00:00.000Z"}');
  });
  const sealed = await sealScan(path, 'createdAt', 'analytics');
  assert.equal(sealed.method, 'facts');
  assert.equal(typesKnown(sealed.types), false);
  await fs.rm(dir, { recursive: true, force: true });
});
