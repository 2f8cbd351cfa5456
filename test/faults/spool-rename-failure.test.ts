/**
 * Fault: the move of closed spool files into sealed/ fails (issue 15, item 1). `sealed/` is made
 * unwritable (`chattr +i` as root, see test/helpers/unwritable.ts) while a real `run` process
 * seals an hour of 1,000 documents; 500 more documents follow (a late part of that hour and the
 * next hour); `sealed/` is restored and `run` restarted. Every inserted `_id` must then be in
 * exactly one delivered object (read back with gunzip + JSON.parse), and the first `run` must
 * have stopped with exit code 4 and a message naming the file it could not move.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { ObjectId } from 'mongodb';
import { archiveEnv, waitFor } from '../helpers/archive-env.js';
import { HOUR } from '../helpers/archive-keys.js';
import { startCli } from '../helpers/archiver-process.js';
import type { CliResult, RunningCli } from '../helpers/archiver-process.js';
import { readArchiveDir } from '../helpers/spool-reader.js';
import { makeUnwritable } from '../helpers/unwritable.js';

/** How often each `_id` occurs in the delivered objects under `root`. */
async function deliveredIds(root: string): Promise<Map<string, number>> {
  const seen = new Map<string, number>();
  for (const { lines } of await readArchiveDir(root)) {
    for (const line of lines) {
      const id = String((JSON.parse(line) as { _id: unknown })._id);
      seen.set(id, (seen.get(id) ?? 0) + 1);
    }
  }
  return seen;
}

/** Resolves true once `cond` holds, false after `ms` (the caller's assertions say what failed). */
async function within(ms: number, cond: () => boolean | Promise<boolean>): Promise<boolean> {
  return waitFor(cond, ms).then(
    () => true,
    () => false,
  );
}

function occurrences(run: RunningCli, text: string): number {
  return run.output().stderr.split(text).length - 1;
}

test('sealed/ unwritable across a seal: run exits 4 naming the file; after the restart every _id is delivered exactly once', { timeout: 120_000 }, async () => {
  const env = await archiveEnv();
  const vars = env.env({ SEAL_SCHEDULE: '* * * * * *' });
  const ns = `${env.db}.apilogs`;
  const sealedDir = join(env.spoolDirectory, ns, 'sealed');
  const apilogs = env.client.db(env.db).collection('apilogs');
  const h0 = Math.floor(Date.now() / HOUR) * HOUR - 2 * HOUR;
  const batch = (n: number, start: number, span: number): Array<{ _id: ObjectId; createdAt: Date; path: string }> =>
    Array.from({ length: n }, (_, i) => ({ _id: new ObjectId(), createdAt: new Date(start + Math.floor((i * span) / n)), path: `/p/${i}` }));
  const first = batch(1000, h0, HOUR);
  const second = [...batch(250, h0, HOUR), ...batch(250, h0 + HOUR, HOUR)];
  let restore: (() => Promise<void>) | undefined;
  try {
    const run1 = startCli(['run', '--no-env-file'], vars);
    await run1.waitFor('archiver started', 60_000);
    restore = (await makeUnwritable(sealedDir)).restore;
    await apilogs.insertMany(first);
    let run1Exit: CliResult | undefined;
    void run1.exited.then((r) => (run1Exit = r));
    // The seal of h0 fails: the fixed archiver stops; the old one logged "seal run failed" and went on.
    await within(30_000, () => run1Exit !== undefined || occurrences(run1, 'seal run failed') >= 1);
    await apilogs.insertMany(second);
    // A second seal while sealed/ is still unwritable (only when the first run is still capturing).
    await within(15_000, () => run1Exit !== undefined || occurrences(run1, 'seal run failed') >= 2);
    await restore();
    restore = undefined;
    if (run1Exit === undefined) {
      await new Promise((r) => setTimeout(r, 2000));
      run1.child.kill('SIGTERM');
    }
    const res1 = await run1.exited;

    const run2 = startCli(['run', '--no-env-file'], vars);
    await run2.waitFor('archiver started', 60_000);
    const all = [...first, ...second].map((d) => d._id.toHexString());
    await within(40_000, async () => {
      const seen = await deliveredIds(env.archiveDirectory);
      return all.every((id) => seen.has(id));
    });
    run2.child.kill('SIGTERM');
    const res2 = await run2.exited;

    const seen = await deliveredIds(env.archiveDirectory);
    const missing = all.filter((id) => !seen.has(id)).length;
    const duplicated = [...seen.values()].filter((n) => n > 1).length;
    assert.deepEqual({ missing, duplicated, delivered: seen.size }, { missing: 0, duplicated: 0, delivered: all.length }, 'every inserted _id delivered exactly once');
    assert.equal(res1.code, 4, `the first run exits 4 on the failed move:\n${res1.stderr.slice(-3000)}`);
    assert.match(res1.stderr, /cannot move spool file \S+\/open\/\S+\.ndjson\.gz into \S+\/sealed \((EPERM: operation not permitted|EACCES: permission denied)\)/);
    assert.equal(res2.code, 0, res2.stderr.slice(-3000));
  } finally {
    await restore?.();
    await env.close();
  }
});
