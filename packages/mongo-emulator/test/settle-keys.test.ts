/**
 * The sorted keys of an indexed field brought up to date in slices (ordered-keys.ts's
 * refreshSteps, storage.ts's settleKeys, index-scan.ts's settleIndexes): a first build over the
 * collection and a merge of many writes yield to the event loop between steps; writes and
 * removals made meanwhile, and a query arriving in the middle (which finishes the work at once),
 * see the documents a collection scan sees. Steps are made small so that a few hundred documents
 * take many.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { ObjectId, UUID } from 'bson';
import type { Document } from 'bson';
import { documentsToExamine, settleIndexes } from '../src/index-scan.js';
import { setKeyStep } from '../src/ordered-keys.js';
import { compileFilter } from '../src/query.js';
import { Collection } from '../src/storage.js';
import { StoredDoc } from '../src/stored-doc.js';

const T0 = Date.UTC(2024, 0, 15, 10);
const HOUR = 3_600_000;

before(() => setKeyStep(16));
after(() => setKeyStep(16_384));

let n = 0;
function doc(i: number): StoredDoc {
  const d: Document = { _id: ObjectId.createFromTime(Math.floor(T0 / 1000) + ((i * 7919) % 7200)), k: n++ };
  // Out of order, and some values no range selects.
  if (i % 13 === 0) d.createdAt = 'no date';
  else if (i % 17 !== 0) d.createdAt = new Date(T0 + ((i * 104_729) % (2 * HOUR)));
  return StoredDoc.fromObject(d);
}

function collection(docs: number): Collection {
  const coll = new Collection('db', 'c', new UUID(), {});
  coll.addIndex({ v: 2, key: { createdAt: 1 }, name: 'createdAt_1' });
  for (let i = 0; i < docs; i++) coll.put(doc(i));
  return coll;
}

const FILTERS: Document[] = [
  { createdAt: { $gte: new Date(T0 + HOUR / 2), $lt: new Date(T0 + HOUR) } },
  { $or: [{ createdAt: { $lt: new Date(T0 + 600_000) } }, { _id: { $gte: ObjectId.createFromTime(Math.floor(T0 / 1000) + 7000) } }] },
];

/** What a read with `filter` finds: through the index, and by a scan of the collection. */
function found(coll: Collection, filter: Document): { indexed: unknown[]; scanned: unknown[] } {
  const test = compileFilter(filter);
  const ids = (docs: Iterable<StoredDoc>) => [...docs].filter((d) => test(d.view())).map((d) => d.idKey);
  return { indexed: ids(documentsToExamine(coll, filter)), scanned: ids(coll.docs.values()) };
}

test('the first build of the keys is done in slices, writes made meanwhile are found', async () => {
  const coll = collection(400);
  let turns = 0;
  const turn = (): Promise<void> =>
    new Promise((resolve) =>
      setImmediate(() => {
        turns++;
        // Writes between two steps: a new document, a replaced one, a removed one.
        coll.put(doc(1000 + turns));
        const docs = [...coll.docs.values()];
        const some = docs[(turns * 3) % docs.length]!;
        coll.put(StoredDoc.fromObject({ ...some.view(), createdAt: new Date(T0 + turns * 1000) }));
        coll.remove(docs[(turns * 5 + 1) % docs.length]!);
        resolve();
      }),
    );
  await coll.settleKeys('createdAt', turn);
  assert.ok(turns > 10, `the build yielded (${turns} turns)`);
  for (const filter of FILTERS) {
    const { indexed, scanned } = found(coll, filter);
    assert.ok(scanned.length > 10);
    assert.deepEqual(indexed, scanned, JSON.stringify(filter));
  }
});

test('a query arriving in the middle of a sliced refresh finishes it; the refresh then ends', async () => {
  const coll = collection(50);
  await settleIndexes(coll, FILTERS[0]!);
  for (let i = 0; i < 300; i++) coll.put(doc(2000 + i));
  let turns = 0;
  let midway: { indexed: unknown[]; scanned: unknown[] } | undefined;
  await coll.settleKeys('createdAt', async () => {
    await new Promise((resolve) => setImmediate(resolve));
    if (++turns === 2) midway = found(coll, FILTERS[0]!);
  });
  assert.ok(midway, 'the refresh of 300 writes took turns');
  assert.deepEqual(midway.indexed, midway.scanned);
  assert.deepEqual(found(coll, FILTERS[0]!).indexed, found(coll, FILTERS[0]!).scanned);
});

test('settleIndexes prepares the indexed fields a filter names, through $or', async () => {
  const coll = collection(200);
  coll.addIndex({ v: 2, key: { k: 1 }, name: 'k_1' });
  await settleIndexes(coll, { $or: [{ createdAt: { $gte: new Date(T0) } }, { k: { $lt: 10 } }], other: 1 });
  // Both keys exist and are up to date: a query plans without building them.
  assert.equal(coll.orderedKeys('createdAt').backlog, 0);
  assert.equal(coll.orderedKeys('k').backlog, 0);
  const { indexed, scanned } = found(coll, { $or: [{ createdAt: { $gte: new Date(T0 + HOUR) } }, { k: { $lt: 10 } }] });
  assert.deepEqual(indexed, scanned);
});

test('a compaction after many removals is done in slices; removals made meanwhile are still found out', async () => {
  const coll = collection(3000);
  await settleIndexes(coll, FILTERS[0]!);
  const docs = [...coll.docs.values()];
  for (let i = 0; i < 1200; i++) coll.remove(docs[i * 2]!);
  let turns = 0;
  await coll.settleKeys('createdAt', async () => {
    await new Promise((resolve) => setImmediate(resolve));
    turns++;
    coll.remove(docs[2401 + turns]!);
  });
  assert.ok(turns > 10, `the compaction yielded (${turns} turns)`);
  for (const filter of FILTERS) {
    const { indexed, scanned } = found(coll, filter);
    assert.deepEqual(indexed, scanned, JSON.stringify(filter));
  }
});
