/**
 * Capture's change stream runs its own getMore commands, which a load balancer may route to
 * another mongos than the one holding the cursor: a loadBalanced connection is refused at start,
 * with an error that says what to do, before anything is read or written.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { MongoClient } from 'mongodb';
import { CronLogError } from '../../../src/errors.js';
import { Tailer } from '../../../src/source/tailer.js';

test('capture refuses a loadBalanced=true connection with a clear error', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'lb-'));
  const client = new MongoClient('mongodb://127.0.0.1:1/app?loadBalanced=true');
  try {
    const tailer = new Tailer({
      client,
      database: 'app',
      collection: 'apilogs',
      jobsCollection: 'jobs',
      spoolDirectory: dir,
      timestampField: 'createdAt',
      timezone: 'UTC',
      jsonMode: 'analytics',
      gzipLevel: 6,
      checkpointIntervalMs: 1000,
      captureOperations: ['insert'],
    });
    await assert.rejects(tailer.start(), (err: unknown) => {
      assert.ok(err instanceof CronLogError);
      assert.equal(err.code, 'CONFIG_INVALID');
      assert.match(err.message, /loadBalanced=true is not supported for capture/);
      assert.match(err.message, /backfill/);
      return true;
    });
    assert.deepEqual(await readdir(dir), [], 'nothing written');
  } finally {
    await client.close();
    await rm(dir, { recursive: true, force: true });
  }
});
