/**
 * Issue 18, purge against S3 (s3rver over real HTTP): the proof reads the archive through the
 * Destination interface, so an hour archived to S3 is purged, and an hour whose object was
 * replaced in the bucket by other bytes of the same size is skipped as tampered, its documents
 * left in MongoDB.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, test } from 'node:test';
import { ObjectId } from 'mongodb';
import { createDestination } from '../../../src/deliver/index.js';
import { archiveEnv } from '../../helpers/archive-env.js';
import { HOUR, hourKey } from '../../helpers/archive-keys.js';
import { runCli } from '../../helpers/archiver-process.js';
import { s3EnvVars, s3Options, startTestS3 } from '../../helpers/s3.js';
import type { TestS3 } from '../../helpers/s3.js';

let s3: TestS3;
before(async () => {
  s3 = await startTestS3();
});
after(async () => {
  await s3.close();
});

test('purge proves hours archived in S3: a sound hour is purged, a tampered object keeps its hour in MongoDB', async () => {
  const env = await archiveEnv();
  try {
    const prefix = `purge-${env.db}`;
    const vars = env.env({ ...s3EnvVars(s3), OUTPUT_DIRECTORY: prefix });
    const h0 = Math.floor(Date.now() / HOUR) * HOUR - 40 * HOUR;
    const apilogs = env.client.db(env.db).collection('apilogs');
    await apilogs.insertMany(Array.from({ length: 10 }, (_, i) => ({ _id: new ObjectId(), createdAt: new Date(h0 + (i % 2) * HOUR + 1000 + i), i })));
    const bf = await runCli(['backfill', '--no-env-file', '--from', new Date(h0).toISOString(), '--to', new Date(h0 + 2 * HOUR).toISOString(), '--json'], vars);
    assert.equal(bf.code, 0, bf.stdout + bf.stderr);

    // The second hour's object replaced by other bytes of the same size.
    const dest = createDestination({ kind: 's3', s3: { ...s3Options(s3), partSizeMB: 5, queueSize: 2, checksumAlgorithm: 'SHA256' }, retryAttempts: 0 });
    const key = hourKey(h0 + HOUR, { prefix });
    const info = await dest.head(key);
    assert.ok(info, `${key} archived`);
    const body = Buffer.alloc(info.size, 0x61);
    await dest.put({ key, source: { body }, size: body.length, sha256: createHash('sha256').update(body).digest('hex'), replace: true });
    await dest.close();

    const r = await runCli(['purge', '--no-env-file', '--older-than', '1d', '--json'], vars);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    const report = JSON.parse(r.stdout) as { hours: Array<{ action: string; deleted: number; reason?: string }> };
    assert.deepEqual(report.hours.map((h) => [h.action, h.deleted, h.reason ?? null]), [
      ['purged', 5, null],
      ['skipped', 0, 'tampered-object'],
    ]);
    assert.equal(await apilogs.countDocuments({ createdAt: { $lt: new Date(h0 + HOUR) } }), 0);
    assert.equal(await apilogs.countDocuments({ createdAt: { $gte: new Date(h0 + HOUR) } }), 5, 'the tampered hour is left in MongoDB');
  } finally {
    await env.close();
  }
});
