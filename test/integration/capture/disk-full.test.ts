/**
 * Disk full while capturing: the write fails with ENOSPC (the kernel's /dev/full stands in for
 * a full disk), `run` stops with exit code 4 naming the file, and the checkpoint does not move
 * past what is on disk: after the disk is "freed", a restart archives the document.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { spoolFileName } from '../../../src/spool/spool-files.js';
import { archiveEnv, waitFor } from '../../helpers/archive-env.js';
import { runCli, startCli } from '../../helpers/archiver-process.js';
import { readSpool, spoolNow } from '../../helpers/spool-reader.js';

test('ENOSPC stops capture with exit code 4 and a clear error; nothing is lost after the restart', { timeout: 120_000 }, async () => {
  const env = await archiveEnv();
  try {
    const ns = `${env.db}.apilogs`;
    const first = startCli(['run', '--no-env-file'], env.env());
    await first.waitFor('archiver started', 60_000);
    const at = new Date();
    const hour = Math.floor(at.getTime() / 3_600_000) * 3_600_000;
    const file = join(env.spoolDirectory, ns, 'open', spoolFileName({ hour, part: 1 }));
    await fs.symlink('/dev/full', file);
    await env.client.db(env.db).collection('apilogs').insertOne({ createdAt: at, path: '/full' });
    const res = await first.exited;
    assert.equal(res.code, 4, res.stderr.slice(-2000));
    assert.match(res.stderr, /cannot write spool file .*ndjson\.gz \(ENOSPC: the disk is full\)/);

    await fs.rm(file);
    const second = startCli(['run', '--no-env-file'], env.env());
    await second.waitFor('archiver started', 60_000);
    await waitFor(async () => (await spoolNow(env.spoolDirectory, ns)).length === 1, 20_000, 'the document archived after the restart');
    second.child.kill('SIGTERM');
    assert.equal((await second.exited).code, 0);
    const [doc] = await readSpool(env.spoolDirectory, ns);
    assert.equal(doc!.doc.path, '/full');
  } finally {
    await env.close();
  }
});

test('an unwritable spool directory is refused at start with exit code 4', async () => {
  const env = await archiveEnv();
  try {
    await fs.writeFile(join(env.dir, 'a-file'), 'x');
    const r = await runCli(['run', '--no-env-file'], env.env({ SPOOL_DIRECTORY: join(env.dir, 'a-file') }));
    assert.equal(r.code, 4);
    assert.match(r.stderr, /spool directory .*a-file.* is not writable/);
  } finally {
    await env.close();
  }
});
