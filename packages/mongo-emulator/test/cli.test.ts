/**
 * The `mongo-emulator` command (bin/mongo-emulator.js): the one stdout line, clean shutdown on
 * SIGTERM/SIGINT, flags (--repl-set, --standalone, --oplog-size), bad flags (exit 2, message
 * naming the flag), --help, and a port in use (exit 3).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Document } from 'mongodb';
import { needsEmulator } from '../src/testing.js';
import { connect, runEmulator, spawnEmulator } from './support.js';

test('prints exactly one line, the connection string, and exits 0 on SIGTERM', { skip: needsEmulator }, async () => {
  const emu = await spawnEmulator(['--port', '0']);
  try {
    assert.match(emu.uri, /^mongodb:\/\/127\.0\.0\.1:\d+\/\?replicaSet=rs0$/);
    const client = await connect(emu.uri);
    await client.db('cli').collection('c').insertOne({ ok: true });
    assert.equal(await client.db('cli').collection('c').countDocuments(), 1);
    await client.close();
  } finally {
    const exit = await emu.stop('SIGTERM');
    assert.deepEqual(exit, { code: 0, signal: null });
  }
  assert.equal(emu.stdout(), `${emu.uri}\n`, 'nothing else on stdout');
});

test('--repl-set names the replica set; SIGINT also exits 0', { skip: needsEmulator }, async () => {
  const emu = await spawnEmulator(['--port', '0', '--repl-set', 'other_set', '--host', '127.0.0.1']);
  try {
    assert.match(emu.uri, /\/\?replicaSet=other_set$/);
    const client = await connect(emu.uri);
    const hello: Document = await client.db('admin').command({ hello: 1 });
    assert.equal(hello.setName, 'other_set');
    await client.close();
  } finally {
    assert.equal((await emu.stop('SIGINT')).code, 0);
  }
});

test('--standalone prints a connection string without replicaSet', { skip: needsEmulator }, async () => {
  const emu = await spawnEmulator(['--port=0', '--standalone']);
  try {
    assert.match(emu.uri, /^mongodb:\/\/127\.0\.0\.1:\d+\/$/);
    const client = await connect(emu.uri);
    const hello: Document = await client.db('admin').command({ hello: 1 });
    assert.equal(hello.setName, undefined);
    await client.close();
  } finally {
    await emu.stop();
  }
});

test('--oplog-size caps the oplog', { skip: needsEmulator }, async () => {
  const emu = await spawnEmulator(['--port', '0', '--oplog-size', '10']);
  try {
    const client = await connect(emu.uri);
    await client.db('cli').collection('c').insertMany(Array.from({ length: 50 }, (_, i) => ({ i })));
    const oplog = await client.db('local').collection('oplog.rs').find({}).toArray();
    assert.equal(oplog.length, 10);
    assert.equal((oplog.at(-1)!.o as Document).i, 49);
    await client.close();
  } finally {
    await emu.stop();
  }
});

test('bad flags exit 2 with a message naming the flag', { skip: needsEmulator }, async () => {
  const cases = [
    [['--bogus'], '--bogus'],
    [['--port', 'abc'], '--port'],
    [['--port', '70000'], '--port'],
    [['--oplog-size', '0'], '--oplog-size'],
    [['--dbpath'], '--dbpath'],
    [['--standalone', '--repl-set', 'x'], '--standalone'],
  ] as const;
  const results = await Promise.all(cases.map(([args]) => runEmulator([...args])));
  cases.forEach(([args, flag], i) => {
    const r = results[i]!;
    assert.equal(r.code, 2, `exit code for ${args.join(' ')}`);
    assert.ok(r.stderr.includes(flag), `the message names ${flag}: ${r.stderr}`);
    assert.equal(r.stdout, '');
  });
});

test('--help explains every flag and exits 0', { skip: needsEmulator }, async () => {
  const r = await runEmulator(['--help']);
  assert.equal(r.code, 0);
  for (const flag of ['--port', '--host', '--repl-set', '--dbpath', '--oplog-size', '--standalone', '--help']) {
    assert.ok(r.stdout.includes(flag), `help mentions ${flag}`);
  }
});

test('a port already in use fails with exit code 3', { skip: needsEmulator }, async () => {
  const first = await spawnEmulator(['--port', '0']);
  try {
    const port = /:(\d+)\//.exec(first.uri)![1]!;
    const second = await runEmulator(['--port', port]);
    assert.equal(second.code, 3);
    assert.match(second.stderr, /cannot start/);
  } finally {
    await first.stop();
  }
});
