/**
 * The servers the emulator plays besides a replica-set primary (EMULATOR_PROFILES, by name):
 *  - `--no-sessions`: hello without logicalSessionTimeoutMinutes, so the driver sees a topology
 *    without sessions (no implicit sessions; an explicit one is refused by the driver), and a
 *    command carrying an lsid is refused by the server;
 *  - `--no-post-batch-resume-token`: change stream batches without postBatchResumeToken, so a
 *    client's resume token moves only with the events it receives.
 * Each as a command-line flag and as an option of the start helpers.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MongoCompatibilityError, UUID } from 'mongodb';
import type { Document, MongoClient } from 'mongodb';
import { parseCli } from '../src/cli-args.js';
import { EMULATOR_PROFILES, emulatorOnly, startProfile, uniqueDbName } from '../src/testing.js';
import type { EmulatorProfileName } from '../src/testing.js';
import { connect, runEmulator, spawnEmulator } from './support.js';

const noSessions = emulatorOnly('--no-sessions');
const noPbrt = emulatorOnly('--no-post-batch-resume-token');

async function withClient(profile: EmulatorProfileName, fn: (client: MongoClient) => Promise<void>): Promise<void> {
  await using mongo = await startProfile(profile);
  const client = await connect(mongo.uri);
  try {
    await fn(client);
  } finally {
    await client.close();
  }
}

/** The cursor document of an aggregate opening a change stream, and of one getMore on it. */
async function changeStreamReplies(client: MongoClient): Promise<[Document, Document]> {
  const db = client.db(uniqueDbName('pbrt'));
  await db.createCollection('c');
  const opened = await db.command({ aggregate: 'c', pipeline: [{ $changeStream: {} }], cursor: {} });
  await db.collection('c').insertOne({ a: 1 });
  const more = await db.command({ getMore: opened.cursor.id, collection: 'c', maxTimeMS: 100 });
  return [opened.cursor as Document, more.cursor as Document];
}

test('--no-sessions: hello has no logicalSessionTimeoutMinutes; explicit sessions fail in the driver, commands with an lsid on the server', { skip: noSessions }, async () => {
  await withClient('replica-set', async (client) => {
    const hello = await client.db('admin').command({ hello: 1 });
    assert.equal(hello.logicalSessionTimeoutMinutes, 30, 'the default profile has sessions');
  });
  await withClient('no-sessions', async (client) => {
    const hello = await client.db('admin').command({ hello: 1 });
    assert.equal('logicalSessionTimeoutMinutes' in hello, false);
    const coll = client.db(uniqueDbName('nosess')).collection('c');
    // Implicit-session work goes on: writes, reads, change streams.
    const stream = coll.watch([], { maxAwaitTimeMS: 50 });
    assert.equal(await stream.tryNext(), null);
    await coll.insertOne({ a: 1 });
    assert.equal((await stream.next()).operationType, 'insert');
    await stream.close();
    assert.equal((await coll.findOne({}))?.a, 1);
    const session = client.startSession();
    await assert.rejects(coll.findOne({}, { session }), (err: Error) => err instanceof MongoCompatibilityError && /does not support sessions/.test(err.message));
    await session.endSession();
    await assert.rejects(client.db('admin').command({ ping: 1, lsid: { id: new UUID() } }), (err: Error & { code?: number }) => {
      assert.equal(err.code, 20);
      assert.match(err.message, /does not support logical sessions/);
      return true;
    });
    await assert.rejects(client.db('admin').command({ endSessions: [{ id: new UUID() }] }), { code: 20 });
  });
});

test('--no-post-batch-resume-token: change stream batches have no postBatchResumeToken; the driver token moves with events only', { skip: noPbrt }, async () => {
  await withClient('replica-set', async (client) => {
    const [first, next] = await changeStreamReplies(client);
    assert.ok(first.postBatchResumeToken, 'the default profile sends it on the first batch');
    assert.ok(next.postBatchResumeToken, 'and on getMore');
  });
  await withClient('no-post-batch-resume-token', async (client) => {
    const [first, next] = await changeStreamReplies(client);
    assert.equal('postBatchResumeToken' in first, false);
    assert.equal('postBatchResumeToken' in next, false);
    assert.equal(next.nextBatch.length, 1, 'events still flow');
    const coll = client.db(uniqueDbName('nopbrt')).collection('c');
    const stream = coll.watch([], { maxAwaitTimeMS: 50 });
    assert.equal(await stream.tryNext(), null);
    assert.equal(stream.resumeToken, null, 'an idle stream has no token to advance');
    await coll.insertOne({ a: 1 });
    const ev = await stream.next();
    assert.deepEqual(stream.resumeToken, ev._id, "the last event's _id");
    await client.db(uniqueDbName('other')).collection('x').insertOne({ other: true });
    assert.equal(await stream.tryNext(), null);
    assert.deepEqual(stream.resumeToken, ev._id, 'unrelated writes do not move it');
    await stream.close();
  });
});

test('the profile flags on the command line: parsed into the options of their profile, served by the process, listed in --help', { skip: needsBoth() }, async () => {
  for (const [name, profile] of Object.entries(EMULATOR_PROFILES)) {
    const cmd = parseCli([...profile.flags, '--port', '0']);
    assert.equal(cmd.kind, 'run');
    if (cmd.kind !== 'run') continue;
    for (const [k, v] of Object.entries(profile.options)) assert.equal((cmd.options as Record<string, unknown>)[k], v, `${name}: ${k}`);
  }
  assert.throws(() => parseCli(['--no-sessions=yes']), /--no-sessions takes no value/);
  const help = await runEmulator(['--help']);
  assert.match(help.stdout, /--no-sessions/);
  assert.match(help.stdout, /--no-post-batch-resume-token/);

  const emu = await spawnEmulator(['--port', '0', '--no-sessions', '--no-post-batch-resume-token']);
  try {
    const client = await connect(emu.uri);
    try {
      const hello = await client.db('admin').command({ hello: 1 });
      assert.equal('logicalSessionTimeoutMinutes' in hello, false);
      const [first] = await changeStreamReplies(client);
      assert.equal('postBatchResumeToken' in first, false);
    } finally {
      await client.close();
    }
  } finally {
    assert.equal((await emu.stop('SIGTERM')).code, 0);
  }
});

function needsBoth(): string | false {
  return noSessions || noPbrt;
}
