/**
 * Closing hours when the checkpoint that lists the closed files cannot be saved (MongoDB
 * refuses the write): the files stay listed as closing until they moved to sealed/. The next
 * close retries their move, even with no other hour due, and a later close adds to the list
 * instead of replacing it (issue 15, item 1: the replaced list left a file in open/ that the
 * checkpoint no longer covered).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { tailerFor } from '../../../src/archiver.js';
import type { CaptureCheckpoint } from '../../../src/ledger/checkpoints.js';
import { silentLogger } from '../../../src/log.js';
import { spoolFileName } from '../../../src/spool/spool-files.js';
import type { Tailer } from '../../../src/source/tailer.js';
import { archiveEnv, waitFor } from '../../helpers/archive-env.js';
import type { ArchiveEnv } from '../../helpers/archive-env.js';
import { HOUR } from '../../helpers/archive-keys.js';
import { startTestMongo } from '../../helpers/mongo.js';
import type { TestMongo } from '../../helpers/mongo.js';

let mongo: TestMongo;
before(async () => {
  mongo = await startTestMongo();
});
after(async () => {
  await mongo.close();
});

const H0 = Math.floor(Date.now() / HOUR) * HOUR - 3 * HOUR;
const H1 = H0 + HOUR;

/** A started tailer that captured 10 documents in each of H0 and H1. */
async function capturing(env: ArchiveEnv): Promise<Tailer> {
  const tailer = tailerFor(env.config(), env.client, silentLogger);
  await tailer.start();
  const docs = [H0, H1].flatMap((h) => Array.from({ length: 10 }, (_, i) => ({ createdAt: new Date(h + i * 60_000), i })));
  await env.client.db(env.db).collection('apilogs').insertMany(docs);
  await waitFor(() => tailer.stats().captured === docs.length, 20_000, 'the documents captured');
  return tailer;
}

/** Makes the next checkpoint that lists closing files fail, as a refused write to `jobs` would. */
function failNextClosingCheckpoint(tailer: Tailer): void {
  const save = tailer.checkpoints.save.bind(tailer.checkpoints);
  let armed = true;
  tailer.checkpoints.save = async (cp: Omit<CaptureCheckpoint, 'updatedAt'>) => {
    if (armed && (cp.spool.closing?.length ?? 0) > 0) {
      armed = false;
      throw new Error('injected: the checkpoint write was refused');
    }
    return save(cp);
  };
}

async function where(env: ArchiveEnv, hour: number): Promise<string[]> {
  const root = join(env.spoolDirectory, `${env.db}.apilogs`);
  const out: string[] = [];
  for (const dir of ['open', 'sealed']) {
    if (await fs.stat(join(root, dir, spoolFileName({ hour, part: 1 }))).then(() => true, () => false)) out.push(dir);
  }
  return out;
}

async function checkpointClosing(env: ArchiveEnv): Promise<unknown[]> {
  const cp = await env.client.db(env.db).collection('jobs').findOne({ _id: `capture:${env.db}.apilogs` as never });
  return (cp?.spool?.closing ?? []) as unknown[];
}

test('a close whose checkpoint failed is finished by the next close, even with no other hour due', async () => {
  const env = await archiveEnv(mongo);
  try {
    const tailer = await capturing(env);
    failNextClosingCheckpoint(tailer);
    await assert.rejects(tailer.closeDueHours(H0 + HOUR), /injected/);
    assert.deepEqual(await where(env, H0), ['open']);
    await tailer.closeDueHours(H0 + HOUR);
    assert.deepEqual(await where(env, H0), ['sealed'], 'moved by the retry');
    assert.deepEqual(await checkpointClosing(env), []);
    await tailer.stop();
  } finally {
    await env.close();
  }
});

test('a later close adds to the pending moves instead of replacing them; a restart finds nothing unaccounted for', async () => {
  const env = await archiveEnv(mongo);
  try {
    const tailer = await capturing(env);
    failNextClosingCheckpoint(tailer);
    await assert.rejects(tailer.closeDueHours(H0 + HOUR), /injected/);
    const closed = await tailer.closeDueHours(H1 + HOUR);
    assert.deepEqual(closed.map((f) => f.hour), [H1]);
    assert.deepEqual(await where(env, H0), ['sealed']);
    assert.deepEqual(await where(env, H1), ['sealed']);
    assert.deepEqual(await checkpointClosing(env), []);
    await tailer.stop();

    const again = tailerFor(env.config(), env.client, silentLogger);
    await again.recover();
    await again.stop();
    await assert.rejects(fs.stat(join(env.spoolDirectory, `${env.db}.apilogs`, 'unrecognized')), { code: 'ENOENT' }, 'no file set aside');
  } finally {
    await env.close();
  }
});
