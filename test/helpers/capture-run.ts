/**
 * End to end through real processes: `run` captures documents inserted into the watched
 * collection into the spool, stops on SIGTERM, and `seal` then seals and delivers every due
 * hour; the delivered objects are read back by _id.
 */
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { constants, gunzipSync } from 'node:zlib';
import type { Document } from 'mongodb';
import { waitFor } from './archive-env.js';
import type { ArchiveEnv } from './archive-env.js';
import { runCli, startCli } from './archiver-process.js';
import type { CliResult } from './archiver-process.js';
import { readArchiveDir } from './spool-reader.js';

/**
 * Complete lines in every spool file of the namespace, whatever its name (a file whose name the
 * archiver cannot read counts too); a member still being written is left out.
 */
export async function spooledLines(env: ArchiveEnv): Promise<number> {
  let n = 0;
  for (const sub of ['open', 'sealed']) {
    const dir = join(env.spoolDirectory, `${env.db}.apilogs`, sub);
    const names = await fs.readdir(dir).catch(() => [] as string[]);
    for (const name of names) {
      if (!name.endsWith('.ndjson.gz')) continue;
      const text = gunzipSync(await fs.readFile(join(dir, name)), { finishFlush: constants.Z_SYNC_FLUSH }).toString('utf8');
      n += text.split('\n').length - 1;
    }
  }
  return n;
}

/**
 * Starts `run` with `vars`, inserts `docs`, waits until the spool holds them, stops it with
 * SIGTERM (exit 0 expected), calls `beforeSeal` if given, and runs `seal --json`, killed after
 * `timeoutMs`.
 */
export async function captureThenSeal(
  env: ArchiveEnv,
  vars: Record<string, string>,
  docs: Document[],
  timeoutMs = 60_000,
  beforeSeal?: () => Promise<void>,
): Promise<CliResult> {
  const run = startCli(['run', '--no-env-file'], vars);
  try {
    await run.waitFor('archiver started', 60_000);
    await env.client.db(env.db).collection('apilogs').insertMany(docs);
    await waitFor(() => spooledLines(env).then((n) => n >= docs.length, () => false), 30_000, `${docs.length} documents in the spool`);
  } finally {
    run.child.kill('SIGTERM');
  }
  const stopped = await run.exited;
  assert.equal(stopped.code, 0, `run exits 0 on SIGTERM:\n${stopped.stderr.slice(-2000)}`);
  await beforeSeal?.();
  return runCli(['seal', '--no-env-file', '--json'], vars, { timeoutMs });
}

/** Every delivered data object's key for each `_id` (analytics JSON: `_id` as its hex string), in key order. */
export async function deliveredKeysById(archiveDirectory: string): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  for (const { key, lines } of (await readArchiveDir(archiveDirectory)).sort((a, b) => (a.key < b.key ? -1 : 1))) {
    for (const line of lines) {
      const id = String((JSON.parse(line) as { _id: unknown })._id);
      out.set(id, [...(out.get(id) ?? []), key]);
    }
  }
  return out;
}
