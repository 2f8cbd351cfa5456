/**
 * A new spool file is listed in the checkpoint (at offset 0) before its first byte is written,
 * so a crash between its first flush and the next checkpoint leaves a file the checkpoint
 * covers: the restart cuts it back and the stream delivers its events again, and nothing is set
 * aside as unrecognized (which is kept for files that are not the capture's own).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { ObjectId } from 'mongodb';
import { tailerFor } from '../../../src/archiver.js';
import type { CaptureCheckpoint } from '../../../src/ledger/checkpoints.js';
import { silentLogger } from '../../../src/log.js';
import { archiveEnv, waitFor } from '../../helpers/archive-env.js';
import { HOUR } from '../../helpers/archive-keys.js';
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

test('a crash after the first flush of a new file: the checkpoint lists it, the restart cuts it back and captures its events once', async () => {
  const env = await archiveEnv(mongo);
  try {
    const ns = `${env.db}.apilogs`;
    const hour = Math.floor(Date.now() / HOUR) * HOUR - 2 * HOUR;
    const tailer = tailerFor(env.config(), env.client, silentLogger);
    await tailer.start();
    // From now on only checkpoints that hold no byte of the new hour's file are saved: the
    // process "crashes" right after the file's first flush.
    const save = tailer.checkpoints.save.bind(tailer.checkpoints);
    let refused = 0;
    tailer.checkpoints.save = async (cp: Omit<CaptureCheckpoint, 'updatedAt'>) => {
      if (cp.spool.files.some((f) => f.hour === hour && f.offset > 0)) {
        refused++;
        throw new Error('injected: crashed before this checkpoint');
      }
      return save(cp);
    };
    const id = new ObjectId();
    await env.client.db(env.db).collection('apilogs').insertOne({ _id: id, createdAt: new Date(hour + 60_000) });
    await waitFor(() => refused > 0, 20_000, 'the flush of the new file');
    assert.equal((await readSpool(env.spoolDirectory, ns)).length, 1, 'the line is on disk');
    const cp = await env.client.db(env.db).collection('jobs').findOne({ _id: `capture:${ns}` as never });
    assert.deepEqual(
      (cp?.spool.files as Array<{ hour: Date; offset: number }>).map((f) => [f.hour.getTime(), f.offset]),
      [[hour, 0]],
      'listed at offset 0 before its first byte',
    );
    tailer.fail(new Error('crash'));
    await tailer.stop().catch(() => undefined);

    const again = tailerFor(env.config(), env.client, silentLogger);
    await again.start();
    await waitFor(() => again.stats().captured === 1, 20_000, 'the event delivered again');
    await again.stop();
    const spooled = await readSpool(env.spoolDirectory, ns);
    assert.deepEqual(spooled.map((s) => s.doc._id), [id.toHexString()], 'exactly once');
    await assert.rejects(fs.stat(join(env.spoolDirectory, ns, 'unrecognized')), { code: 'ENOENT' }, 'nothing set aside');
  } finally {
    await env.close();
  }
});
