/**
 * The bundled command (scripts/bundle.ts, what `npm run build` writes to dist/bundle/) in a
 * package laid out as installed — bin/cron-log-service.js, dist/bundle/, package.json,
 * static/, node_modules/, no src/ — run by the shipped bin with plain node: --version, --help,
 * and the dashboard's page, read from static/dashboard/ by a path built from its module's
 * `import.meta.url` (the bundle rewrites it to the module's place in dist/: three levels up from
 * dist/ops/dashboard/ is the package, not the folder above it).
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readFile, readdir, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { BUNDLE_ENTRY, bundleCli } from '../../../scripts/bundle.js';
import { uriWithDb } from '../../helpers/archiver-process.js';
import { startTestMongo } from '../../helpers/mongo.js';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));

/** A package directory as `npm install` leaves it, with the bundle built into it. */
async function installedLayout(t: { after(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'cls-bundle-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await mkdir(join(dir, 'bin'));
  await copyFile(join(ROOT, 'bin', 'cron-log-service.js'), join(dir, 'bin', 'cron-log-service.js'));
  await copyFile(join(ROOT, 'package.json'), join(dir, 'package.json'));
  await symlink(join(ROOT, 'static'), join(dir, 'static'), 'dir');
  await symlink(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
  const files = await bundleCli(join(dir, 'dist', 'bundle'));
  assert.ok(files.includes(BUNDLE_ENTRY), `the bundle has its entry ${BUNDLE_ENTRY}: ${files.join(', ')}`);
  return dir;
}

test('the shipped bin runs the bundle: --version, --help, and the dashboard serves static/dashboard/', { timeout: 60_000 }, async (t) => {
  const dir = await installedLayout(t);
  const bin = join(dir, 'bin', 'cron-log-service.js');
  // Every subcommand a chunk of its own: `run` does not load the others.
  assert.ok((await readdir(join(dir, 'dist', 'bundle'))).length > 9);

  const env = { PATH: process.env.PATH ?? '' };
  const { version } = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { version: string };
  const printed = spawnSync(process.execPath, [bin, '--version'], { cwd: dir, env, encoding: 'utf8' });
  assert.equal(printed.status, 0, printed.stderr);
  assert.equal(printed.stdout.trim(), version);
  const help = spawnSync(process.execPath, [bin, '--help'], { cwd: dir, env, encoding: 'utf8' });
  assert.equal(help.status, 0, help.stderr);
  assert.match(help.stdout, /^Usage: cron-log-service \[options\] \[command\]/);
  for (const command of ['run', 'seal', 'reconcile', 'backfill', 'restore', 'purge', 'status', 'doctor', 'dashboard']) assert.match(help.stdout, new RegExp(`\\n  ${command}\\b`));

  const mongo = await startTestMongo();
  t.after(() => mongo.close());
  const child = spawn(process.execPath, [bin, 'dashboard', '--port', '0', '--json', '--no-env-file'], {
    cwd: dir,
    env: { ...env, DB_URI: uriWithDb(mongo.uri, 'bundle_test'), UPLOAD_PROVIDER: 'file', LOCAL_DIRECTORY: join(dir, 'archive'), LOG_FORMAT: 'json' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      try {
        resolve((JSON.parse(out) as { url: string }).url); // --json: one JSON document on stdout
      } catch {
        // not whole yet
      }
    });
    void exited.then((code) => reject(new Error(`the dashboard exited (${String(code)}): ${stderr}`)));
  });
  const css = await fetch(new URL('dashboard.css', url));
  assert.equal(css.status, 200, await css.clone().text());
  assert.equal(await css.text(), await readFile(join(ROOT, 'static', 'dashboard', 'dashboard.css'), 'utf8'));
  child.kill('SIGTERM');
  assert.equal(await exited, 0, stderr);
});
