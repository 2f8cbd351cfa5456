/**
 * Switching capture modes with a checkpoint of the other kind (a standalone converted to a
 * replica set, or captureMode changed): the new mode starts over from the checkpoint's hour and
 * skips what the spool already holds, so documents written before, while stopped and after are
 * each in the spool exactly once.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { ObjectId } from 'mongodb';
import type { Config } from '../../../src/config/index.js';
import { archiveEnv, startArchiver, waitFor } from '../../helpers/archive-env.js';
import type { ArchiveEnv } from '../../helpers/archive-env.js';
import { startTestMongo } from '../../helpers/mongo.js';
import type { TestMongo } from '../../helpers/mongo.js';
import { readSpool } from '../../helpers/spool-reader.js';

let mongo: TestMongo;
before(async () => {
  mongo = await startTestMongo();
});
after(async () => {
  await mongo.close();
});

const newDocs = (n: number, tag: string) => Array.from({ length: n }, (_, i) => ({ _id: new ObjectId(), createdAt: new Date(), path: `/${tag}/${i}` }));

/** Runs `first` mode, then `second`, with inserts before, between and during; checks every _id once. */
async function switchModes(env: ArchiveEnv, first: Config, second: Config): Promise<{ ids: number; spooled: number }> {
  const apilogs = env.client.db(env.db).collection('apilogs');
  const ns = `${env.db}.apilogs`;
  const inserted: string[] = [];
  const insert = async (docs: ReturnType<typeof newDocs>): Promise<void> => {
    await apilogs.insertMany(docs);
    inserted.push(...docs.map((d) => d._id.toHexString()));
  };
  const spooledAll = async (): Promise<boolean> => {
    const ids = new Set((await readSpool(env.spoolDirectory, ns)).map((s) => s.doc._id as string));
    return inserted.every((id) => ids.has(id));
  };
  const a = await startArchiver(first);
  await insert(newDocs(30, 'first'));
  await waitFor(spooledAll, 20_000, 'the first mode to capture');
  await a.close();
  await insert(newDocs(20, 'stopped'));
  const b = await startArchiver(second);
  try {
    await insert(newDocs(25, 'second'));
    await waitFor(spooledAll, 20_000, 'the second mode to capture');
    await new Promise((r) => setTimeout(r, 500));
  } finally {
    await b.close();
  }
  const spooled = await readSpool(env.spoolDirectory, ns);
  const counts = new Map<string, number>();
  for (const s of spooled) counts.set(s.doc._id as string, (counts.get(s.doc._id as string) ?? 0) + 1);
  assert.deepEqual([...counts.entries()].filter(([, n]) => n > 1), [], 'no _id twice in the spool');
  assert.deepEqual(inserted.filter((id) => !counts.has(id)), [], 'no _id missing');
  return { ids: counts.size, spooled: spooled.length };
}

// A settle of 0 s raced the test's own inserts: a poll in the middle of an `insertMany` moved the
// position to "now", past the rest of the batch (their createdAt was taken before the insert), so
// they were left to the seal run's late pass, which this spool-only test does not run (seen in
// CI: 11 of 25 documents not spooled). One second is the smallest settle that covers the batch.
const byQuery = { captureMode: 'query', querySettleSeconds: 1, queryPollIntervalMs: 50 } as const;

test('capture by query, then change streams: the stream starts over from the checkpoint hour, nothing twice', async () => {
  const env = await archiveEnv(mongo);
  try {
    const r = await switchModes(env, env.config(byQuery), env.config({ captureMode: 'auto' }));
    assert.equal(r.spooled, 75);
  } finally {
    await env.close();
  }
});

test('change streams, then capture by query: the query starts over from the checkpoint hour, nothing twice', async () => {
  const env = await archiveEnv(mongo);
  try {
    const r = await switchModes(env, env.config({ captureMode: 'change-stream' }), env.config(byQuery));
    assert.equal(r.spooled, 75);
  } finally {
    await env.close();
  }
});
