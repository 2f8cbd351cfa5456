/**
 * Issue 15, item 9: a connection string the driver cannot use is bad input (exit 2), found when
 * the configuration is validated, with DB_URI named and what was expected. It used to pass
 * validation: `mongodb://u:p@host:notaport/db` made doctor exit 1 later, and an empty
 * `authSource=` made every command exit 3 with "unexpected error: MongoAPIError".
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli, stderrLines } from '../helpers/archiver-process.js';

const CASES: Array<[string, RegExp]> = [
  ['mongodb://u:p@127.0.0.1:notaport/app', /DB_URI \(dbUri\): the port "notaport" of host "127\.0\.0\.1" in the URI: expected a number from 1 to 65535/],
  ['mongodb://u:p@127.0.0.1:27017/app?authSource=', /DB_URI \(dbUri\): the URI option "authSource" has no value: expected "authSource=<value>"/],
  ['mongodb://127.0.0.1:27017/app?readPreference=sometimes', /DB_URI \(dbUri\): the MongoDB driver cannot use this connection string: Invalid read preference mode "sometimes"; expected/],
];

test('every command exits 2 naming DB_URI for a connection string the driver cannot parse', { timeout: 120_000 }, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'cls-bad-uri-'));
  try {
    for (const [uri, problem] of CASES) {
      const env = { DB_URI: uri, UPLOAD_PROVIDER: 'file', LOCAL_DIRECTORY: join(dir, 'archive'), SPOOL_DIRECTORY: join(dir, 'spool') };
      const runs = await Promise.all(
        [['run'], ['status'], ['doctor', '--json']].map(async (args) => ({ args, r: await runCli([...args, '--no-env-file'], env, { timeoutMs: 60_000 }) })),
      );
      for (const { args, r } of runs) {
        const what = `${args.join(' ')} with ${uri}`;
        assert.equal(r.code, 2, `${what}: exit 2\n${r.stdout}${r.stderr}`);
        assert.ok(!`${r.stdout}${r.stderr}`.includes('unexpected error'), `${what}: no "unexpected error"`);
        if (args[0] === 'doctor') {
          const report = JSON.parse(r.stdout) as { ok: boolean; checks: Array<{ name: string; ok: boolean; message: string }> };
          assert.deepEqual(report.checks.map((c) => [c.name, c.ok]), [['configuration', false]], what);
          assert.match(report.checks[0]?.message ?? '', problem, what);
        } else {
          const [line, ...more] = stderrLines(r.stderr);
          assert.equal(more.length, 0, `${what}: one line\n${r.stderr}`);
          assert.equal(line?.level, 'error');
          assert.deepEqual(line?.meta?.exitCode, 2);
          assert.deepEqual(line?.meta?.code, 'CONFIG_INVALID');
          assert.match(line?.message ?? '', problem, what);
        }
      }
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
