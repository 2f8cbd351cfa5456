/**
 * Issue 17, item 2: no hard dependency on optional server features. `run` (a real child process)
 * against the emulator playing a server without logical sessions, and one whose change stream
 * batches carry no postBatchResumeToken: it says which change-stream client it reads with and
 * why, captures the documents written while it runs and while it was stopped (the checkpoint
 * holds the last event's resume token), seal delivers each once, and reconcile says ok.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ObjectId } from 'mongodb';
import { archiveEnv, waitFor } from '../../helpers/archive-env.js';
import type { ArchiveEnv } from '../../helpers/archive-env.js';
import { HOUR, hourKey } from '../../helpers/archive-keys.js';
import { runCli, startCli, stderrText } from '../../helpers/archiver-process.js';
import { deliveredKeysById, spooledLines } from '../../helpers/capture-run.js';
import { profileSkip, startProfile } from '../../helpers/mongo.js';
import type { EmulatorProfileName } from '../../helpers/mongo.js';

/** The hour (UTC) the documents' timestamps fall in: long past, so seal closes it. */
const H = Date.parse('2024-06-01T10:00:00Z');
const CLI_TIMEOUT_MS = 60_000;

function documents(from: number, n: number): Array<{ _id: ObjectId; createdAt: Date; n: number }> {
  return Array.from({ length: n }, (_, i) => ({ _id: new ObjectId(), createdAt: new Date(H + (from + i) * 1000), n: from + i }));
}

/** Starts `run`, inserts `docs`, waits until the spool holds `expected` lines, stops it (exit 0); returns its stderr. */
async function runUntilSpooled(env: ArchiveEnv, docs: Array<{ _id: ObjectId }>, expected: number): Promise<string> {
  const run = startCli(['run', '--no-env-file'], env.env());
  try {
    await run.waitFor('archiver started', 60_000);
    if (docs.length > 0) await env.client.db(env.db).collection('apilogs').insertMany(docs);
    await waitFor(() => spooledLines(env).then((n) => n >= expected, () => false), 30_000, `${expected} documents in the spool`).catch((err: unknown) => {
      throw new Error(`${(err as Error).message}; run's output:\n${run.output().stderr.slice(-3000)}`);
    });
  } finally {
    run.child.kill('SIGTERM');
  }
  const stopped = await run.exited;
  assert.equal(stopped.code, 0, `run exits 0 on SIGTERM:\n${stopped.stderr.slice(-3000)}`);
  return stopped.stderr;
}

const PROFILES: Array<{ profile: EmulatorProfileName; client: RegExp }> = [
  {
    profile: 'no-sessions',
    client: /capture reads its change stream with the driver's change stream: the server does not support logical sessions/,
  },
  {
    profile: 'no-post-batch-resume-token',
    client: /capture reads its change stream with the driver's change stream: the server sends change stream batches without postBatchResumeToken/,
  },
];

for (const { profile, client } of PROFILES) {
  test(`${profile}: run says which client and why, captures across a restart, seal delivers each document once, reconcile ok`, { skip: profileSkip(profile), timeout: 240_000 }, async () => {
    await using mongo = await startProfile(profile);
    const env = await archiveEnv(mongo);
    try {
      const first = documents(0, 30);
      const log1 = stderrText(await runUntilSpooled(env, first, first.length));
      assert.match(log1, client);
      assert.doesNotMatch(log1, /unexpected error|does not support sessions/);
      // Written while run is stopped: the next run resumes after the checkpointed token.
      const second = documents(30, 20);
      await env.client.db(env.db).collection('apilogs').insertMany(second);
      const log2 = stderrText(await runUntilSpooled(env, [], first.length + second.length));
      assert.match(log2, client);

      const seal = await runCli(['seal', '--no-env-file', '--json'], env.env(), { timeoutMs: CLI_TIMEOUT_MS });
      assert.equal(seal.code, 0, seal.stdout + seal.stderr.slice(-2000));
      const keys = await deliveredKeysById(env.archiveDirectory);
      for (const d of [...first, ...second]) assert.deepEqual(keys.get(d._id.toHexString()), [hourKey(H)], d._id.toHexString());
      assert.equal(keys.size, first.length + second.length, 'nothing else delivered');

      const rec = await runCli(['reconcile', '--no-env-file', '--json', '--from', new Date(H).toISOString(), '--to', new Date(H + HOUR).toISOString()], env.env(), {
        timeoutMs: CLI_TIMEOUT_MS,
      });
      assert.equal(rec.code, 0, rec.stdout + rec.stderr.slice(-2000));
      assert.deepEqual(
        (JSON.parse(rec.stdout) as Array<{ mongo: number; archived: number; status: string }>).map((r) => [r.mongo, r.archived, r.status]),
        [[50, 50, 'ok']],
      );
    } finally {
      await env.close();
    }
  });
}
