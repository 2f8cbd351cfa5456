/**
 * The npm package installs and runs: `npm pack` (its `prepack` builds dist/ from a clean slate)
 * into a temporary directory, `npm install <tarball>` into an empty project there, then the CLI
 * (`npx cron-log-service --help`, `--version`: the bin runs the bundle in dist/bundle/) and the
 * library import, with only the package's production dependencies installed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../../..', import.meta.url));
const NPM_QUIET = ['--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'];

/** Every value `import ... from 'cron-log-service'` offers (README "Library API"). */
const PUBLIC_VALUES = [
  'ConfigError',
  'CronLogError',
  'DEFAULT_KEY_TEMPLATE',
  'ExitCode',
  'READY_MAX_LAG_SECONDS',
  'createArchiver',
  'createLogger',
  'envNames',
  'exitCodeOf',
  'isCronLogError',
  'loadConfig',
  'parseConfig',
  'redact',
  'redactUri',
  'safeConfigView',
  'silentLogger',
  'validateKeyTemplate',
];

/** What the tarball may hold: the CLI, the compiled library and the package's documents. */
function allowedInTarball(path: string): boolean {
  if (/^(README|CHANGELOG|LICENSE)(\.md)?$/.test(path) || path === 'package.json') return true;
  if (path === 'bin/cron-log-service.js') return true;
  if (/^static\/dashboard\/(index\.html|dashboard\.js|dashboard\.css)$/.test(path)) return true;
  return path.startsWith('dist/') && /\.(js|d\.ts)$/.test(path) && !/\.test\.|^dist\/(test|bench|scripts|demo|packages|emulator|sandbox)\//.test(path);
}

test('npm pack ships dist/ and bin/; installed into an empty project, the CLI and the library run', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'cls-install-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const { version } = JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as { version: string };

  await run('npm', ['pack', '--pack-destination', dir, '--loglevel=error'], { cwd: root, maxBuffer: 16 << 20 });
  const tarballs = (await readdir(dir)).filter((f) => f.endsWith('.tgz'));
  assert.deepEqual(tarballs, [`cron-log-service-${version}.tgz`]);
  const tarball = join(dir, tarballs[0] as string);

  const listed = (await run('tar', ['-tzf', tarball], { maxBuffer: 16 << 20 })).stdout.split('\n').filter((l) => l !== '');
  const files = listed.map((l) => l.replace(/^package\//, ''));
  assert.deepEqual(files.filter((f) => !allowedInTarball(f)), [], 'the tarball holds only bin/, dist/ and the package documents');
  for (const needed of ['package.json', 'README.md', 'CHANGELOG.md', 'bin/cron-log-service.js', 'dist/bundle/cli.js', 'dist/index.js', 'dist/index.d.ts', 'dist/cli/main.js', 'static/dashboard/index.html', 'static/dashboard/dashboard.js', 'static/dashboard/dashboard.css']) {
    assert.ok(files.includes(needed), `the tarball holds ${needed}`);
  }

  const project = join(dir, 'project');
  await mkdir(project);
  await writeFile(join(project, 'package.json'), JSON.stringify({ name: 'install-check', version: '1.0.0', private: true }));
  await run('npm', ['install', tarball, ...NPM_QUIET], { cwd: project, maxBuffer: 16 << 20 });
  const installed = join(project, 'node_modules', 'cron-log-service');
  await assert.rejects(stat(join(installed, 'src')), 'no sources: bin/ must load dist/, not tsx');
  await assert.rejects(stat(join(project, 'node_modules', 'tsx')), 'dev dependencies are not installed');
  // The dashboard's page is read from static/dashboard/, three levels above dist/ops/dashboard/routes.js.
  await stat(join(installed, 'dist', 'ops', 'dashboard', 'routes.js'));
  assert.match(await readFile(join(installed, 'dist', 'ops', 'dashboard', '..', '..', '..', 'static', 'dashboard', 'index.html'), 'utf8'), /<script src="\/dashboard\.js"/);

  // `--no`: run the installed bin or fail; never fetch a package of that name from the registry.
  const help = await run('npx', ['--no', '--', 'cron-log-service', '--help'], { cwd: project });
  assert.match(help.stdout, /^Usage: cron-log-service \[options\] \[command\]/);
  for (const command of ['run', 'seal', 'reconcile', 'backfill', 'status', 'doctor', 'dashboard']) assert.match(help.stdout, new RegExp(`\\n  ${command}\\b`));
  const printed = await run('npx', ['--no', '--', 'cron-log-service', '--version'], { cwd: project });
  assert.equal(printed.stdout.trim(), version);

  const script = [
    "import { createArchiver } from 'cron-log-service';",
    "const library = await import('cron-log-service');",
    'console.log(JSON.stringify({ createArchiver: typeof createArchiver, exports: Object.keys(library).sort() }));',
  ].join('\n');
  const imported = await run(process.execPath, ['--input-type=module', '-e', script], { cwd: project });
  const seen = JSON.parse(imported.stdout) as { createArchiver: string; exports: string[] };
  assert.equal(seen.createArchiver, 'function');
  assert.deepEqual(seen.exports, [...PUBLIC_VALUES].sort());
});
