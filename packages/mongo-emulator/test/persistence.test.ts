/**
 * --dbpath: data, indexes and the oplog survive a SIGTERM and a restart, so a change stream
 * resumes with a token from before the restart; acknowledged writes also survive SIGKILL;
 * a dbpath used by a running emulator is refused.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChangeStream, Document, ResumeToken } from 'mongodb';
import { needsEmulator } from '../src/testing.js';
import { connect, runEmulator, spawnEmulator } from './support.js';

async function take(stream: ChangeStream<Document>, n: number): Promise<Document[]> {
  const out: Document[] = [];
  while (out.length < n) out.push((await stream.next()) as Document);
  return out;
}

test('data, indexes and oplog survive SIGTERM and a restart; old resume tokens stay valid', { skip: needsEmulator }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'emulator-dbpath-'));
  try {
    let emu = await spawnEmulator(['--port', '0', '--dbpath', dir]);
    let client = await connect(emu.uri);
    let coll = client.db('persist').collection('logs');
    await coll.createIndex({ key: 1 }, { unique: true, name: 'key_unique' });
    await coll.createIndex({ createdAt: 1 }, { expireAfterSeconds: 3600, name: 'ttl' });
    const stream = coll.watch([], { maxAwaitTimeMS: 100 });
    assert.equal(await stream.tryNext(), null);
    await coll.insertMany(Array.from({ length: 5 }, (_, i) => ({ key: `k${i}`, createdAt: new Date() })));
    await coll.updateOne({ key: 'k4' }, { $set: { updated: true } });
    const events = await take(stream, 6);
    const token = events[1]!._id as ResumeToken;
    await stream.close();
    await client.close();
    assert.deepEqual(await emu.stop('SIGTERM'), { code: 0, signal: null });

    emu = await spawnEmulator(['--port', '0', '--dbpath', dir]);
    client = await connect(emu.uri);
    coll = client.db('persist').collection('logs');
    assert.equal(await coll.countDocuments(), 5);
    assert.equal((await coll.findOne({ key: 'k4' }))?.updated, true);
    const indexes = await coll.listIndexes().toArray();
    assert.equal(indexes.find((i) => i.name === 'key_unique')?.unique, true);
    assert.equal(indexes.find((i) => i.name === 'ttl')?.expireAfterSeconds, 3600);
    await assert.rejects(coll.insertOne({ key: 'k0' }), { code: 11000 });

    const resumed = coll.watch([], { maxAwaitTimeMS: 100, resumeAfter: token });
    const replay = await take(resumed, 4);
    assert.deepEqual(
      replay.map((e) => [e.operationType, e.fullDocument?.key ?? (e.documentKey as Document)._id]),
      [['insert', 'k2'], ['insert', 'k3'], ['insert', 'k4'], ['update', events[4]!.documentKey._id]],
    );
    assert.deepEqual(replay.map((e) => (e._id as Document)._data), events.slice(2).map((e) => (e._id as Document)._data));
    await coll.insertOne({ key: 'k5' });
    assert.equal(((await resumed.next()) as Document).fullDocument.key, 'k5');
    await resumed.close();
    await client.close();
    assert.equal((await emu.stop('SIGTERM')).code, 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('acknowledged writes survive SIGKILL (journal); a dbpath in use is refused', { skip: needsEmulator }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'emulator-dbpath-'));
  try {
    let emu = await spawnEmulator(['--port', '0', '--dbpath', dir]);
    const busy = await runEmulator(['--port', '0', '--dbpath', dir]);
    assert.equal(busy.code, 3);
    assert.match(busy.stderr, /in use/);

    let client = await connect(emu.uri);
    let coll = client.db('persist').collection('killed');
    const stream = coll.watch([], { maxAwaitTimeMS: 100 });
    assert.equal(await stream.tryNext(), null);
    await coll.insertMany(Array.from({ length: 100 }, (_, i) => ({ i })));
    const [first] = await take(stream, 1);
    await coll.deleteOne({ i: 99 });
    await client.close();
    assert.equal((await emu.stop('SIGKILL')).signal, 'SIGKILL');

    emu = await spawnEmulator(['--port', '0', '--dbpath', dir]);
    client = await connect(emu.uri);
    coll = client.db('persist').collection('killed');
    assert.equal(await coll.countDocuments(), 99);
    const resumed = coll.watch([], { maxAwaitTimeMS: 100, resumeAfter: first!._id as ResumeToken });
    const rest = await take(resumed, 100);
    assert.deepEqual(rest.slice(0, 99).map((e) => e.fullDocument.i), Array.from({ length: 99 }, (_, i) => i + 1));
    assert.equal(rest[99]!.operationType, 'delete');
    await resumed.close();
    await client.close();
    assert.equal((await emu.stop('SIGTERM')).code, 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
