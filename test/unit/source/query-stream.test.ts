/**
 * Capture by query's cursor (src/source/query-stream.ts) against a standalone server: documents
 * come in (timestamp, `_id`) order once their timestamp is settled; the resume token covers
 * exactly the documents returned, moves to the query's bound once it read everything up to it,
 * and a stream reopened at a token reads on without repeating or skipping a document. The
 * position survives a checkpoint round trip, and the capture mode follows the deployment.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { MongoClient, ObjectId } from 'mongodb';
import type { Collection, Document } from 'mongodb';
import { CheckpointStore } from '../../../src/ledger/checkpoints.js';
import type { QueryPosition } from '../../../src/ledger/checkpoints.js';
import { captureModeFor } from '../../../src/source/capture-mode.js';
import { isQueryPosition, queryFilter, queryPositionBefore, QueryStream } from '../../../src/source/query-stream.js';
import { needsEmulator, startTestMongo, uniqueDbName } from '../../helpers/mongo.js';
import type { TestMongo } from '../../helpers/mongo.js';

let mongo: TestMongo;
let client: MongoClient;
let coll: Collection<Document>;

before(async () => {
  mongo = await startTestMongo(needsEmulator === false ? { standalone: true } : {});
  client = new MongoClient(mongo.uri);
  await client.connect();
  coll = client.db(uniqueDbName('qstream')).collection('apilogs');
});
after(async () => {
  await coll.db.dropDatabase().catch(() => undefined);
  await client.close();
  await mongo.close();
});

const T0 = Date.parse('2026-03-01T10:00:00Z');
const oid = (n: number): ObjectId => new ObjectId(n.toString(16).padStart(24, '0'));

/** Reads every document the stream returns until a fetch brings nothing new; returns their _id numbers and the tokens after each. */
async function drain(stream: QueryStream): Promise<{ ids: number[]; tokens: QueryPosition[] }> {
  const ids: number[] = [];
  const tokens: QueryPosition[] = [];
  for (let fetches = 0; fetches < 50; fetches++) {
    let any = false;
    for (let ev = stream.read(); ev !== undefined; ev = stream.read()) {
      any = true;
      const doc = ev.decode({}) as { fullDocument: { _id: ObjectId } };
      ids.push(Number.parseInt(doc.fullDocument._id.toHexString(), 16));
      tokens.push(stream.resumeToken);
    }
    if (!any && fetches > 0) break;
    await stream.fetch();
  }
  return { ids, tokens };
}

function streamAt(position: QueryPosition, now: number, batchSize = 3): QueryStream {
  return new QueryStream({ collection: coll, timestampField: 'createdAt', position, settleMs: 5000, pollIntervalMs: 10, batchSize, now: () => now });
}

test('the filter: after (ts, _id) with a tie breaker, or after ts inclusive without an _id', () => {
  const ts = new Date(T0);
  const upTo = new Date(T0 + 1000);
  assert.deepEqual(queryFilter('createdAt', { kind: 'query', ts }, upTo), { createdAt: { $gt: ts, $lte: upTo } });
  assert.deepEqual(queryFilter('meta.t', { kind: 'query', ts, id: oid(7) }, upTo), {
    $or: [{ 'meta.t': { $gt: ts, $lte: upTo } }, { 'meta.t': ts, _id: { $gt: oid(7) } }],
  });
  assert.deepEqual(queryPositionBefore(T0), { kind: 'query', ts: new Date(T0 - 1) });
  assert.ok(isQueryPosition({ kind: 'query', ts }));
  assert.ok(!isQueryPosition({ _data: '82...' }));
});

test('documents in (timestamp, _id) order, ties broken by _id, only once settled; the token follows each one', async () => {
  // Inserted out of order; three share one timestamp.
  await coll.insertMany([
    { _id: oid(5), createdAt: new Date(T0 + 2000) },
    { _id: oid(3), createdAt: new Date(T0 + 1000) },
    { _id: oid(1), createdAt: new Date(T0 + 1000) },
    { _id: oid(2), createdAt: new Date(T0 + 1000) },
    { _id: oid(4), createdAt: new Date(T0 - 1000) }, // before the start: not read
    { _id: oid(6), createdAt: new Date(T0 + 9000) }, // not settled at T0 + 12 s (settle 5 s)
    { _id: oid(8), createdAt: 'not a date' }, // no date in the field: not read by the query
  ]);
  const stream = streamAt(queryPositionBefore(T0), T0 + 12_000);
  const { ids, tokens } = await drain(stream);
  assert.deepEqual(ids, [1, 2, 3, 5]);
  assert.deepEqual(tokens.slice(0, 3), [
    { kind: 'query', ts: new Date(T0 + 1000), id: oid(1) },
    { kind: 'query', ts: new Date(T0 + 1000), id: oid(2) },
    { kind: 'query', ts: new Date(T0 + 1000), id: oid(3) },
  ]);
  // The second query returned fewer than its batch: everything up to its bound was read.
  assert.deepEqual(stream.resumeToken, { kind: 'query', ts: new Date(T0 + 7000) });
  await stream.close();
  assert.equal(await stream.fetch(), false, 'closed');
  await coll.deleteMany({});
});

test('a stream reopened at any token reads on without repeating or skipping a document', async () => {
  const docs = Array.from({ length: 10 }, (_, i) => ({ _id: oid(100 + i), createdAt: new Date(T0 + Math.floor(i / 3) * 1000) }));
  await coll.insertMany(docs);
  const all = await drain(streamAt(queryPositionBefore(T0), T0 + 60_000));
  assert.deepEqual(all.ids, docs.map((_, i) => 100 + i));
  for (let k = 0; k < all.tokens.length; k++) {
    const rest = await drain(streamAt(all.tokens[k] as QueryPosition, T0 + 60_000));
    assert.deepEqual(rest.ids, all.ids.slice(k + 1), `reopened after document ${k}`);
  }
  await coll.deleteMany({});
});

test('a document written after capture passed its timestamp is behind the position: late, not read', async () => {
  const stream = streamAt(queryPositionBefore(T0), T0 + 20_000);
  await coll.insertOne({ _id: oid(200), createdAt: new Date(T0 + 1000) });
  assert.deepEqual((await drain(stream)).ids, [200]);
  await coll.insertOne({ _id: oid(201), createdAt: new Date(T0 + 2000) }); // before the bound (T0 + 15 s): late
  assert.deepEqual((await drain(stream)).ids, []);
  await stream.close();
  await coll.deleteMany({});
});

test('the checkpoint stores a query position and loads it back (with and without an _id)', async () => {
  const store = new CheckpointStore(coll.db.collection('jobs'), `${coll.dbName}.apilogs`);
  const spool = { files: [] };
  for (const position of [
    { kind: 'query', ts: new Date(T0), id: oid(9) },
    { kind: 'query', ts: new Date(T0 + 1) },
  ] as QueryPosition[]) {
    await store.save({ position, spool, closedHours: [], since: T0 });
    assert.deepEqual((await store.load())?.position, position);
  }
});

test('capture mode: change streams where the deployment has them, else by query; an explicit mode wins', () => {
  const plain = { loadBalanced: false };
  assert.equal(captureModeFor('auto', plain, { isWritablePrimary: true }).mode, 'query');
  assert.match(captureModeFor('auto', plain, { isWritablePrimary: true }).reason, /standalone/);
  assert.equal(captureModeFor('auto', plain, { setName: 'rs0' }).mode, 'change-stream');
  assert.equal(captureModeFor('auto', plain, { msg: 'isdbgrid' }).mode, 'change-stream');
  assert.equal(captureModeFor('auto', { loadBalanced: true }, {}).mode, 'change-stream');
  assert.equal(captureModeFor('query', plain, { setName: 'rs0' }).mode, 'query');
  assert.equal(captureModeFor('change-stream', plain, {}).mode, 'change-stream');
});
