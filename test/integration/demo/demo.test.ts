/**
 * `npm run demo` (demo/main.ts, run through tsx from a checkout): the whole archiver on the
 * emulator, non-interactively, ending with a reconciled archive; its help and bad flags.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ROOT, cleanEnv } from '../../helpers/archiver-process.js';

const execFileAsync = promisify(execFile);

/** Runs demo/main.ts as `npm run demo` does, to completion. */
async function runDemo(args: string[], timeoutMs = 60_000): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await execFileAsync(process.execPath, ['--import', 'tsx', 'demo/main.ts', ...args], {
      cwd: ROOT,
      env: cleanEnv({}),
      timeout: timeoutMs,
      maxBuffer: 16 * 1024 * 1024,
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const failed = err as { code?: unknown; stdout?: string; stderr?: string };
    if (typeof failed.code !== 'number') throw err;
    return { code: failed.code, stdout: failed.stdout ?? '', stderr: failed.stderr ?? '' };
  }
}

test('the demo runs non-interactively and its archive reconciles', { timeout: 180_000 }, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'cls-demo-'));
  try {
    const r = await runDemo(['--seconds', '3', '--dir', join(dir, 'demo-archive')], 170_000);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /reconcile \(finished hours\)/);
    assert.match(r.stdout, /dashboard: http:\/\/127\.0\.0\.1:\d+\//);
    const rows = r.stdout.split('\n').filter((l) => /^\d{4}-\d{2}-\d{2}T\d{2}:00/.test(l));
    assert.ok(rows.length >= 3 && rows.every((l) => / ok$/.test(l)), r.stdout);
    assert.match(r.stdout, /\.ndjson\.gz/);
    assert.match(r.stdout, /zcat /);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('npm run demo -- --azure delivers to Azurite (Azure Blob Storage over real HTTP) and its archive reconciles', { timeout: 180_000 }, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'cls-demo-azure-'));
  try {
    const r = await runDemo(['--azure', '--seconds', '2', '--dir', join(dir, 'demo-archive')], 170_000);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const rows = r.stdout.split('\n').filter((l) => /^\d{4}-\d{2}-\d{2}T\d{2}:00/.test(l));
    assert.ok(rows.length >= 3 && rows.every((l) => / ok$/.test(l)), r.stdout);
    assert.match(r.stdout, /objects in azure:\/\/devstoreaccount1\/demo-archive-[0-9a-f]+ \(endpoint http:\/\/127\.0\.0\.1:\d+\/devstoreaccount1\)/);
    assert.match(r.stdout, /\.ndjson\.gz/);
    assert.doesNotMatch(r.stdout + r.stderr, /AccountKey=|Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1/, 'the account key is never printed');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('the demo explains its flags with examples; a bad flag exits 2 naming it', async () => {
  const help = await runDemo(['--help']);
  assert.equal(help.code, 0, help.stderr);
  for (const flag of ['--s3', '--azure', '--follow', '--seconds', '--dir']) assert.ok(help.stdout.includes(flag), `help mentions ${flag}`);
  assert.match(help.stdout, /Examples:\n\s+\$ npm run demo/);
  const bad = await runDemo(['--frobnicate']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--frobnicate/);
  assert.equal(bad.stdout, '');
});
