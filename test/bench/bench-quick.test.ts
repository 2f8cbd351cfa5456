/**
 * Keeps the benchmark harness working: runs `bench/run.ts --quick --json` once as a child process
 * and checks the shape of its JSON. No timing is asserted: the figures only have to be measured
 * (finite numbers > 0).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const NAMES = ['spool', 'capture', 'ceiling', 'latency', 'memory', 'deliver', 'reconcile', 'backfill', 'restore', 'purge', 'startup', 'scale'];

function runQuick(): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'bench/run.ts', '--quick', '--json'], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 150_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

const positive = (v: unknown): boolean => typeof v === 'number' && Number.isFinite(v) && v > 0;

test('npm run bench -- --quick --json prints one JSON object with every benchmark measured', { timeout: 180_000 }, async () => {
  const { code, stdout, stderr } = await runQuick();
  assert.equal(code, 0, `bench exited with ${String(code)}:\n${stderr.slice(-3000)}`);
  const result = JSON.parse(stdout) as Record<string, unknown> & {
    machine: Record<string, unknown>;
    options: Record<string, unknown>;
    summary: { met: string[]; missed: string[]; failed: string[] };
    sizes: Record<string, unknown>;
    benchmarks: Record<string, Record<string, unknown>>;
  };
  assert.ok(positive(result.machine.cores), 'machine.cores');
  assert.equal(typeof result.machine.cpuModel, 'string');
  assert.equal(result.machine.node, process.version);
  assert.equal(result.options.profile, 'quick');
  assert.deepEqual(result.summary.failed, []);
  assert.deepEqual(Object.keys(result.benchmarks), NAMES);
  assert.deepEqual([...result.summary.met, ...result.summary.missed].sort(), [...NAMES].sort());
  for (const name of NAMES) {
    const b = result.benchmarks[name] as Record<string, unknown> & {
      spread: Record<'figure' | 'baseline' | 'ratio', { median: number; min: number; max: number; runs: number[] }>;
      target: { text: string; met: boolean; checks: Array<{ actual: number; met: boolean }> };
    };
    assert.ok(b, `benchmark ${name} is reported`);
    assert.equal(b.error, undefined, `${name} failed: ${String(b.error)}`);
    assert.ok(positive(b.seconds), `${name}.seconds (its wall time) is reported`);
    assert.equal(b.runs, 1, `${name}.runs: --quick makes one paired run`);
    for (const k of ['figure', 'baseline', 'ratio'] as const) {
      assert.ok(positive(b[k]), `${name}.${k} is a number > 0 (got ${String(b[k])})`);
      const s = b.spread[k];
      assert.ok(s.runs.length >= 1 && s.runs.every(positive), `${name}.spread.${k}.runs`);
      assert.ok(s.min <= s.median && s.median <= s.max, `${name}.spread.${k} is ordered`);
    }
    assert.equal(typeof b.unit, 'string');
    assert.ok(b.better === 'higher' || b.better === 'lower');
    assert.equal(typeof b.target.text, 'string');
    assert.equal(typeof b.target.met, 'boolean');
    assert.ok(b.target.checks.length >= 1 && b.target.checks.every((c) => typeof c.met === 'boolean' && Number.isFinite(c.actual)));
    assert.equal(typeof result.sizes[name], 'object', `sizes of ${name}`);
  }
});
