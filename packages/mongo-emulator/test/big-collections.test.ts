/**
 * What lets the emulator hold and serve collections of millions of documents: with
 * `--lean-documents` (keepDecodedDocuments(false)) a stored document read by a scan is decoded
 * for the read and not kept decoded (a decoded document
 * costs several times its BSON; kept, every collection scan made the whole collection resident
 * as objects), its `_id` value is decoded only when asked for, and a find without a sort
 * produces its results batch by batch instead of all at once; the documents of an insert are
 * views of one copy of their message section (a copy each took a slice of Buffer's pool each,
 * and made inserts slower as the collection grew). Unit level: no server.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BSON, ObjectId, UUID } from 'bson';
import type { Document } from 'bson';
import { BatchWriter, ResultCursor } from '../src/cursors.js';
import { documentsToExamine, objectsOf } from '../src/index-scan.js';
import { keyOf } from '../src/keys.js';
import { findDocumentsLazily } from '../src/query.js';
import { OP_MSG, parseOpMsg } from '../src/wire.js';
import { Collection } from '../src/storage.js';
import { StoredDoc, keepDecodedDocuments } from '../src/stored-doc.js';

/** Runs `fn` as an emulator started with --lean-documents. */
function lean(fn: () => void): () => void {
  return () => {
    keepDecodedDocuments(false);
    try {
      fn();
    } finally {
      keepDecodedDocuments(true);
    }
  };
}

function stored(doc: Document): StoredDoc {
  const d = StoredDoc.fromStoredRaw(BSON.serialize(doc));
  assert.ok(d);
  return d;
}

test('by default a read keeps the document it decodes (repeated scans decode once)', () => {
  const d = stored({ _id: new ObjectId(), n: 1 });
  const a = d.view();
  assert.equal(d.cachedObj, a);
  assert.equal(d.view(), a);
});

test('lean: a document stored from its bytes is read without being kept decoded; its _id is the one stored', lean(() => {
  const oid = new ObjectId();
  const d = stored({ _id: oid, n: 1, at: new Date(5) });
  assert.equal(d.idKey, keyOf(oid));
  const a = d.view();
  assert.deepEqual(a, { _id: oid, n: 1, at: new Date(5) });
  assert.equal(d.cachedObj, undefined, 'view() keeps no decoded object');
  assert.notEqual(d.view(), a, 'each view is a fresh decode');
  assert.ok(d.id instanceof ObjectId && (d.id as ObjectId).equals(oid));
  // A document holding its decoded object hands that one out.
  const kept = d.obj;
  assert.equal(d.view(), kept);
  // Other `_id` types keep their value.
  assert.equal(stored({ _id: 'x', n: 2 }).id, 'x');
  assert.equal(stored({ _id: 7, n: 2 }).idKey, keyOf(7));
}));

test('lean: a collection scan (find, count, aggregate source) leaves the stored documents undecoded', lean(() => {
  const coll = new Collection('db', 'c', new UUID(), {});
  for (let i = 0; i < 50; i++) coll.put(stored({ _id: new ObjectId(), i, at: new Date(i) }));
  const seen = [...objectsOf(documentsToExamine(coll, { i: { $gte: 10 } }))].filter((o) => (o.i as number) >= 10);
  assert.equal(seen.length, 40);
  assert.equal([...coll.objects()].length, 50);
  for (const d of coll.docs.values()) assert.equal(d.cachedObj, undefined);
}));

test('a find without a sort reads its documents batch by batch, with the read-ahead of one', () => {
  const docs: Document[] = Array.from({ length: 10 }, (_, i) => ({ _id: i, i }));
  let pulled = 0;
  const source = (function* () {
    for (const d of docs) {
      pulled++;
      yield d;
    }
  })();
  const cursor = new ResultCursor(1n, 'db.c', findDocumentsLazily(source, { filter: { i: { $gte: 2 } }, skip: 1, limit: 5, projection: { i: 1 } }));
  const first = new BatchWriter(true);
  assert.equal(cursor.next(2, first).exhausted, false);
  assert.equal(first.count, 2);
  // i = 0, 1 filtered out, 2 skipped, 3 and 4 sent, 5 read ahead.
  assert.equal(pulled, 6);
  const rest = new BatchWriter(false);
  assert.equal(cursor.next(0, rest).exhausted, true);
  assert.equal(rest.count, 3, 'the limit of 5 holds across batches');
  assert.equal(pulled, 8);
});

test('the documents of an OP_MSG document sequence are views of one copy of the section, not of the message', () => {
  const docs = [0, 1, 2].map((i) => BSON.serialize({ _id: i, pad: 'x'.repeat(5000) }));
  const body = BSON.serialize({ insert: 'c', $db: 'db' });
  const id = Buffer.from('documents\0');
  const seqSize = 4 + id.length + docs.reduce((n, d) => n + d.length, 0);
  const size = 16 + 4 + 1 + body.length + 1 + seqSize;
  const data = Buffer.alloc(size);
  data.writeInt32LE(size, 0);
  data.writeInt32LE(OP_MSG, 12);
  let pos = 20;
  data[pos++] = 0;
  data.set(body, pos);
  pos += body.length;
  data[pos++] = 1;
  data.writeInt32LE(seqSize, pos);
  data.set(id, pos + 4);
  pos += 4 + id.length;
  for (const d of docs) {
    data.set(d, pos);
    pos += d.length;
  }
  const parsed = parseOpMsg({ data, requestId: 1, responseTo: 0, opCode: OP_MSG }).sequences.get('documents')!;
  assert.equal(parsed.length, 3);
  assert.equal(parsed[0]!.buffer, parsed[2]!.buffer, 'one copy for the section');
  assert.notEqual(parsed[0]!.buffer, data.buffer, 'not the message buffer');
  data.fill(0);
  assert.deepEqual(parsed.map((d) => BSON.deserialize(d)._id as number), [0, 1, 2]);
});
