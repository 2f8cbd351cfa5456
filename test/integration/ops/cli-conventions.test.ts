import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runCli, stderrText } from '../../helpers/archiver-process.js';

const COMMANDS = ['run', 'seal', 'reconcile', 'backfill', 'restore', 'purge', 'status', 'doctor', 'dashboard'];

test('--help of the program and of every command exits 0 with examples', async () => {
  const top = await runCli(['--help'], {});
  assert.equal(top.code, 0);
  for (const c of COMMANDS) assert.match(top.stdout, new RegExp(`\\b${c}\\b`));
  assert.match(top.stdout, /Exit codes:/);
  for (const c of COMMANDS) {
    const r = await runCli([c, '--help'], {});
    assert.equal(r.code, 0, `${c} --help`);
    assert.match(r.stdout, /Examples:/, `${c} --help shows examples`);
  }
  const v = await runCli(['--version'], {});
  assert.equal(v.code, 0);
  assert.match(v.stdout.trim(), /^\d+\.\d+\.\d+$/);
});

test('bad flags exit 2 with a message naming the flag', async () => {
  const unknown = await runCli(['seal', '--frobnicate'], {});
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /--frobnicate/);
  const missing = await runCli(['reconcile', '--from', '2024-01-01T00:00:00Z'], {});
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /--to/);
  const bad = await runCli(['reconcile', '--from', 'yesterday', '--to', '2024-01-02T00:00:00Z'], {});
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--from: expected an ISO-8601 date-time/);
  const cmd = await runCli(['archive-everything'], {});
  assert.equal(cmd.code, 2);
  assert.match(cmd.stderr, /archive-everything/);
  // The demo needs the emulator package and s3rver, which an installed package does not have: it
  // is `npm run demo` in a checkout (test/integration/demo), not a command.
  const demo = await runCli(['demo'], {});
  assert.equal(demo.code, 2);
  assert.match(demo.stderr, /unknown command 'demo'/);
});

test('bad configuration exits 2, names the option, and prints no secret', async () => {
  const secret = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYzz';
  const password = 'pa55w0rd-never-printed';
  const r = await runCli(['seal', '--no-env-file'], {
    DB_URI: `mongodb://archiver:${password}@127.0.0.1:1/app`,
    S3_BUCKET: 'Not_A_Bucket',
    AWS_ACCESS_KEY_ID: 'AKIAEXAMPLE',
    AWS_SECRET_ACCESS_KEY: secret,
    GZIP_LEVEL: '11',
  });
  assert.equal(r.code, 2);
  const text = stderrText(r.stderr);
  assert.match(text, /S3_BUCKET \(s3\.bucket\)/);
  assert.match(text, /GZIP_LEVEL \(gzipLevel\): expected an integer from 1 to 9, got "11"/);
  assert.ok(!(r.stdout + r.stderr).includes(secret));
  assert.ok(!(r.stdout + r.stderr).includes(password));
});
