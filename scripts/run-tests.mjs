#!/usr/bin/env node
// Runs the test suite with Node's built-in test runner on the TypeScript sources (through tsx).
// Usage: node scripts/run-tests.mjs [unit|integration|<path filter>...]
// Test files are test/**/*.test.ts and the workspace packages' packages/*/test/**/*.test.ts (the
// emulator's conformance suite); a filter keeps files whose path contains it.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

function walk(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...walk(p));
    else if (name.endsWith('.test.ts')) out.push(relative(root, p));
  }
  return out;
}

const filters = process.argv.slice(2);
const packages = join(root, 'packages');
const testDirs = [
  join(root, 'test'),
  ...readdirSync(packages)
    .map((name) => join(packages, name, 'test'))
    .filter((dir) => existsSync(dir)),
];
const files = testDirs
  .flatMap(walk)
  .filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)))
  .sort();
if (files.length === 0) {
  console.error(`no test files match ${filters.join(' ')}`);
  process.exit(2);
}
const concurrency = process.env.TEST_CONCURRENCY ?? '2';
// A failed test can leave a server or an archiver running: its file still ends once its tests
// have (--test-force-exit), and a test that hangs fails after 5 minutes instead of stalling CI.
const result = spawnSync(
  process.execPath,
  ['--import', 'tsx', '--test', `--test-concurrency=${concurrency}`, '--test-force-exit', '--test-timeout=300000', ...files],
  { cwd: root, stdio: 'inherit' },
);
process.exit(result.status ?? 1);
