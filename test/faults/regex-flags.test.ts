/**
 * Issue 15, item 6: a regular expression's stored options reach the archive exactly. A document
 * holding `{ $regularExpression: { pattern: 'a.b', options: 'imsux' } }` used to be written as
 * "/a.b/gim" in analytics mode (the decoder turned `s` into `g` and dropped `x` and `u`) and
 * could not be written at all in ejson mode (EJSON refuses a `g` flag). Every path that decodes
 * documents is driven here: capture by `run` (raw change stream), `run --reset-from` (repair
 * from a query), `backfill` (an hour rebuilt from a query), and the driver's change stream.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { BSONRegExp, ObjectId } from 'mongodb';
import { tailerFor } from '../../src/archiver.js';
import { silentLogger } from '../../src/log.js';
import { Tailer } from '../../src/source/tailer.js';
import { archiveEnv, waitFor } from '../helpers/archive-env.js';
import type { ArchiveEnv } from '../helpers/archive-env.js';
import { HOUR } from '../helpers/archive-keys.js';
import { runCli, startCli } from '../helpers/archiver-process.js';
import { startTestMongo } from '../helpers/mongo.js';
import type { TestMongo } from '../helpers/mongo.js';
import { readArchiveDir, readSpool } from '../helpers/spool-reader.js';

let mongo: TestMongo;
before(async () => {
  mongo = await startTestMongo();
});
after(async () => {
  await mongo.close();
});

type Mode = 'analytics' | 'ejson';

/** The stored regex, and how each mode must write it. */
const stored = (): BSONRegExp => new BSONRegExp('a.b', 'imsux');
const written: Record<Mode, unknown> = {
  analytics: '/a.b/imsux',
  ejson: { $regularExpression: { pattern: 'a.b', options: 'imsux' } },
};

function regexDoc(at: number): Record<string, unknown> {
  return { _id: new ObjectId(), createdAt: new Date(at), re: stored(), nested: { list: [stored()] } };
}

function assertFlags(line: string, mode: Mode, where: string): void {
  const doc = JSON.parse(line) as { re: unknown; nested: { list: unknown[] } };
  assert.deepEqual(doc.re, written[mode], `${where}: the top-level regex`);
  assert.deepEqual(doc.nested.list[0], written[mode], `${where}: the nested regex`);
}

async function archivedLines(env: ArchiveEnv): Promise<string[]> {
  return (await readArchiveDir(env.archiveDirectory)).flatMap((o) => o.lines);
}

for (const mode of ['analytics', 'ejson'] as const) {
  test(`${mode}: run captures a regex with its exact flags, and seal delivers it`, { timeout: 120_000 }, async () => {
    const env = await archiveEnv(mongo);
    try {
      const vars = env.env({ JSON_MODE: mode });
      const run = startCli(['run', '--no-env-file'], vars);
      await run.waitFor('archiver started', 60_000);
      const h = Math.floor(Date.now() / HOUR) * HOUR - HOUR;
      await env.client.db(env.db).collection('apilogs').insertOne(regexDoc(h + 60_000));
      await waitFor(async () => (await readSpool(env.spoolDirectory, `${env.db}.apilogs`).catch(() => [])).length === 1, 30_000, 'the document in the spool').catch(
        (err: unknown) => {
          throw new Error(`${(err as Error).message}; run's output:\n${run.output().stderr.slice(-3000)}`);
        },
      );
      run.child.kill('SIGTERM');
      assert.equal((await run.exited).code, 0, run.output().stderr.slice(-2000));
      const sealed = await runCli(['seal', '--no-env-file', '--json'], vars);
      assert.equal(sealed.code, 0, sealed.stdout + sealed.stderr);
      const lines = await archivedLines(env);
      assert.equal(lines.length, 1);
      assertFlags(lines[0] as string, mode, 'run + seal');
    } finally {
      await env.close();
    }
  });

  test(`${mode}: backfill and run --reset-from (both read by query) keep a regex's exact flags`, { timeout: 120_000 }, async () => {
    const env = await archiveEnv(mongo);
    try {
      const vars = env.env({ JSON_MODE: mode });
      const coll = env.client.db(env.db).collection('apilogs');
      const old = Math.floor(Date.now() / HOUR) * HOUR - 5 * HOUR;
      await coll.insertOne(regexDoc(old + 60_000));
      const bf = await runCli(['backfill', '--no-env-file', '--json', '--from', new Date(old).toISOString(), '--to', new Date(old + HOUR).toISOString()], vars);
      assert.equal(bf.code, 0, bf.stdout + bf.stderr);
      const backfilled = await archivedLines(env);
      assert.equal(backfilled.length, 1);
      assertFlags(backfilled[0] as string, mode, 'backfill');

      const recent = Math.floor(Date.now() / HOUR) * HOUR - HOUR;
      await coll.insertOne(regexDoc(recent + 60_000));
      const run = startCli(['run', '--no-env-file', '--reset-from', new Date(recent).toISOString()], vars);
      await run.waitFor('archiver started', 60_000);
      await waitFor(async () => (await readSpool(env.spoolDirectory, `${env.db}.apilogs`).catch(() => [])).length === 1, 30_000, 'the repaired document in the spool');
      run.child.kill('SIGTERM');
      assert.equal((await run.exited).code, 0, run.output().stderr.slice(-2000));
      const [spooled] = await readSpool(env.spoolDirectory, `${env.db}.apilogs`);
      assertFlags(JSON.stringify(spooled?.doc), mode, 'run --reset-from');
    } finally {
      await env.close();
    }
  });

  test(`${mode}: the driver's change stream keeps a regex's exact flags`, { timeout: 60_000 }, async () => {
    const env = await archiveEnv(mongo);
    try {
      const base = tailerFor(env.config({ jsonMode: mode }), env.client, silentLogger);
      const tailer = new Tailer({ ...base.options, streamClient: 'driver' });
      await tailer.start();
      try {
        await env.client.db(env.db).collection('apilogs').insertOne(regexDoc(Date.now()));
        await waitFor(() => tailer.stats().captured === 1, 20_000, 'the event');
        await tailer.checkpoint();
      } finally {
        await tailer.stop();
      }
      const [spooled] = await readSpool(env.spoolDirectory, `${env.db}.apilogs`);
      assertFlags(JSON.stringify(spooled?.doc), mode, 'driver change stream');
    } finally {
      await env.close();
    }
  });
}
