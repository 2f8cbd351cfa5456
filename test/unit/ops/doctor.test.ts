/** doctor's local checks: the spool directory (real directories) and the MongoDB message. */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { Config } from '../../../src/config/index.js';
import { checkSpool, mongoUnreachable } from '../../../src/ops/doctor.js';
import { makeUnwritable } from '../../helpers/unwritable.js';

const base = await mkdtemp(join(tmpdir(), 'cls-doctor-'));
after(() => rm(base, { recursive: true, force: true }));

const configWith = (values: Partial<Config>): Config => values as Config;

test('a writable spool directory passes, is created when missing, and the probe file is removed', async () => {
  const dir = join(base, 'new', 'spool');
  const check = await checkSpool(configWith({ spoolDirectory: dir }));
  assert.equal(check.ok, true, check.message);
  assert.match(check.message, /is writable, \d+\.\d GiB free/);
  assert.deepEqual(await readdir(dir), []);
});

test('an unwritable spool directory fails, naming the directory and how to fix it', async () => {
  const dir = await mkdtemp(join(base, 'ro-'));
  const lock = await makeUnwritable(dir);
  try {
    const check = await checkSpool(configWith({ spoolDirectory: dir }));
    assert.equal(check.ok, false);
    assert.ok(check.message.startsWith(`${dir} is not writable`), check.message);
    assert.match(check.hint ?? '', /SPOOL_DIRECTORY/);
  } finally {
    await lock.restore();
  }
});

test('an unreachable MongoDB is reported without the password of the URI', () => {
  const check = mongoUnreachable(
    configWith({ dbUri: 'mongodb://archiver:s3cretPassw0rd@db1.internal:27017/app' }),
    new Error('connect ECONNREFUSED 10.0.0.5:27017'),
  );
  assert.equal(check.ok, false);
  assert.match(check.message, /db1\.internal:27017/);
  assert.match(check.message, /ECONNREFUSED/);
  assert.ok(!check.message.includes('s3cretPassw0rd'), check.message);
});
