/**
 * A SIGTERM to the benchmark harness stops the processes its benchmarks started: the harness
 * (`bench/run.ts --only deliver --quick`) is SIGTERMed once its s3rver and emulator children
 * run; then it exits 128 + 15 and neither child (nor anything they started) runs any more.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { descendantsOf, processRunning } from '../../bench/lib/stop-children.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

test('SIGTERM to the bench harness stops its emulator and s3rver children', { timeout: 60_000 }, async () => {
  const bench = spawn(process.execPath, ['--import', 'tsx', 'bench/run.ts', '--only', 'deliver', '--quick', '--json'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  bench.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = once(bench, 'exit');
  let started: number[] = [];
  try {
    // Both servers started (the deliver benchmark's s3rver, then its emulator).
    const deadline = Date.now() + 45_000;
    while (started.length < 2 && Date.now() < deadline && bench.exitCode === null) {
      await sleep(100);
      started = descendantsOf(bench.pid!);
    }
    assert.ok(started.length >= 2, `two children started: ${started.join(', ')}\n${stderr}`);
    bench.kill('SIGTERM');
    const [code, signal] = (await exited) as [number | null, NodeJS.Signals | null];
    assert.deepEqual([code, signal], [128 + 15, null], stderr);
    assert.deepEqual(started.filter(processRunning), [], `children still running after the harness exited\n${stderr}`);
  } finally {
    if (bench.exitCode === null) bench.kill('SIGKILL');
    for (const pid of started.filter(processRunning)) process.kill(pid, 'SIGKILL');
  }
});
