/**
 * Fault: a spool file the checkpoint does not cover is found in open/ at start-up (issue 15,
 * item 1: a file a buggy release dropped from the checkpoint, a file restored from a backup, a
 * `jobs` collection reset). A real `run` must keep it, byte for byte, out of the way (under
 * unrecognized/), say so in a warning naming it, and `status` must list it under attention; it
 * is never delivered (its documents may be archived already) and never removed, and capture and
 * the seal of the real hours go on.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { ObjectId } from 'mongodb';
import { spoolFileName } from '../../src/spool/spool-files.js';
import { archiveEnv, waitFor } from '../helpers/archive-env.js';
import { HOUR } from '../helpers/archive-keys.js';
import { runCli, startCli } from '../helpers/archiver-process.js';
import { readArchiveDir, spoolNow } from '../helpers/spool-reader.js';

interface LogLine {
  message: string;
  meta?: Record<string, unknown>;
}

function logLines(stderr: string): LogLine[] {
  return stderr
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as LogLine);
}

test('an unknown file in open/ at start-up is kept whole under unrecognized/, reported by the log and status, never delivered', { timeout: 120_000 }, async () => {
  const env = await archiveEnv();
  try {
    const ns = `${env.db}.apilogs`;
    const openDir = join(env.spoolDirectory, ns, 'open');
    const h1 = Math.floor(Date.now() / HOUR) * HOUR - HOUR;
    const real = Array.from({ length: 3 }, (_, i) => ({ _id: new ObjectId(), createdAt: new Date(h1 + i * 1000), path: `/real/${i}` }));

    const run1 = startCli(['run', '--no-env-file'], env.env());
    await run1.waitFor('archiver started', 60_000);
    await env.client.db(env.db).collection('apilogs').insertMany(real);
    await waitFor(async () => (await spoolNow(env.spoolDirectory, ns)).length === 3, 20_000, 'the documents captured');
    run1.child.kill('SIGTERM');
    assert.equal((await run1.exited).code, 0);

    // A file no checkpoint lists, for an hour capture never saw.
    const name = spoolFileName({ hour: h1 - 2 * HOUR, part: 1 });
    const planted = join(openDir, name);
    const bytes = gzipSync('{"_id":"planted-1","path":"/planted"}\n{"_id":"planted-2","path":"/planted"}\n');
    await fs.writeFile(planted, bytes);

    // This run also seals every second: the real hour is delivered, the kept file is not.
    const run2 = startCli(['run', '--no-env-file'], env.env({ SEAL_SCHEDULE: '* * * * * *' }));
    await run2.waitFor('archiver started', 60_000);
    const warning = logLines(run2.output().stderr).find((l) => l.message.startsWith('spool file not covered by the checkpoint'));
    assert.ok(warning, `a warning names the file:\n${run2.output().stderr.slice(-3000)}`);
    assert.equal(warning.meta?.file, planted);
    const keptAs = String(warning.meta?.keptAs);
    assert.ok(keptAs.startsWith(join(env.spoolDirectory, ns, 'unrecognized') + '/') && keptAs.endsWith(`/${name}`), keptAs);
    assert.deepEqual(await fs.readFile(keptAs), bytes, 'kept byte for byte');
    await assert.rejects(fs.stat(planted), { code: 'ENOENT' }, 'out of open/: capture never writes over it');

    const status = await runCli(['status', '--no-env-file', '--json'], env.env());
    assert.equal(status.code, 1, status.stdout + status.stderr);
    const report = JSON.parse(status.stdout) as { unrecognizedFiles: Array<{ file: string; bytes: number }>; attention: string[] };
    assert.deepEqual(report.unrecognizedFiles, [{ file: keptAs.split('/').slice(-2).join('/'), bytes: bytes.length }]);
    assert.equal(report.attention.length, 1, report.attention.join('\n'));
    assert.match(report.attention[0]!, /^1 spool file\(s\) the checkpoint did not cover are kept in \S+\/unrecognized: /);

    const delivered = async (): Promise<string[]> =>
      (await readArchiveDir(env.archiveDirectory)).flatMap((o) => o.lines.map((l) => String((JSON.parse(l) as { _id: unknown })._id))).sort();
    await waitFor(async () => (await delivered()).length >= real.length, 20_000, 'the real hour delivered');
    run2.child.kill('SIGTERM');
    assert.equal((await run2.exited).code, 0);
    assert.deepEqual(await delivered(), real.map((d) => d._id.toHexString()).sort(), 'the real hour only');
    assert.deepEqual(await fs.readFile(keptAs), bytes, 'still kept after the seal');
  } finally {
    await env.close();
  }
});
