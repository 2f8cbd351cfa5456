/**
 * Reading an object back from the file destination (src/deliver/file.ts get): the bytes the file
 * held when it was opened, in reads of at most 1 MiB sized to what is left (a small object, such
 * as a manifest, costs one buffer of its own size).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { appendFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileDestinationFixture } from '../../helpers/file-destination-fixture.js';

const fx = fileDestinationFixture('cls-file-get-');
const { put } = fx;
const MiB = 1024 * 1024;

async function chunksOf(key: string): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for await (const chunk of await fx.destination().get(key)) out.push(chunk as Buffer);
  return out;
}

test('objects read back exactly, in chunks of at most 1 MiB; an empty one as nothing', async () => {
  const big = randomBytes(MiB + MiB / 2 + 3);
  const small = Buffer.from('{"format":"cron-log-service/manifest@1"}\n');
  await put('a/big.bin', big);
  await put('a/small.json', small);
  await put('a/empty.bin', Buffer.alloc(0));
  const bigChunks = await chunksOf('a/big.bin');
  assert.deepEqual(bigChunks.map((c) => c.length), [MiB, MiB / 2 + 3]);
  assert.ok(Buffer.concat(bigChunks).equals(big));
  const smallChunks = await chunksOf('a/small.json');
  assert.deepEqual(smallChunks.map((c) => [c.length, c.buffer.byteLength]), [[small.length, small.length]], 'one chunk in a buffer of its own size');
  assert.ok(Buffer.concat(smallChunks).equals(small));
  assert.deepEqual(await chunksOf('a/empty.bin'), []);
});

test('a get reads the object as it was when opened: bytes appended in place afterwards are not read', async () => {
  const body = Buffer.from('line 1\nline 2\n');
  await put('b/object.ndjson', body);
  const stream = await fx.destination().get('b/object.ndjson');
  await appendFile(join(fx.dir(), 'archive', 'b', 'object.ndjson'), 'appended in place\n');
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  assert.equal(Buffer.concat(chunks).toString(), body.toString());
});
