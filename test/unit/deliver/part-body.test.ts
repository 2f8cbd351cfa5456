/**
 * Range bodies (src/deliver/part-body.ts): each try a fresh stream of the range, and a range that
 * cannot be read whole (the file vanished or shrank after the digest pass) fails the request it
 * is piped into at once (as the HTTP handler pipes a body), never an unhandled stream error.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable, Writable } from 'node:stream';
import { IntegrityError } from '../../../src/deliver/errors.js';
import { RANGE_STREAM_CHUNK, payloadSha256, rangeBody } from '../../../src/deliver/part-body.js';

/** A request stand-in: collects what is piped into it; resolves with the bytes, or the error it was destroyed with. */
function pipeIntoRequest(body: Buffer | Readable): Promise<Buffer | Error> {
  assert.ok(body instanceof Readable);
  const chunks: Buffer[] = [];
  const request = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk);
      cb();
    },
  });
  return new Promise((resolve) => {
    request.on('finish', () => resolve(Buffer.concat(chunks)));
    request.on('error', resolve);
    body.pipe(request);
  });
}

test('a range body: a fresh stream per try, the same bytes, its SHA-256 for the signer; a vanished or shrunk file fails the request', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'cls-part-body-'));
  try {
    const data = randomBytes(700_000);
    const path = join(dir, 'f.bin');
    await writeFile(path, data);
    const range = data.subarray(100_000, 600_000);
    const hash = createHash('sha256').update(range).digest('hex');
    const part = rangeBody(path, 100_000, range.length, hash);
    const first = part.body();
    const second = part.body();
    assert.notEqual(first, second, 'each try its own stream');
    assert.equal(payloadSha256(second), hash);
    assert.ok(((await pipeIntoRequest(second)) as Buffer).equals(range));
    assert.ok(((await pipeIntoRequest(part.body())) as Buffer).equals(range), 'a retry sends the same bytes');
    part.release();

    await truncate(path, 300_000);
    const shrunk = await pipeIntoRequest(rangeBody(path, 100_000, range.length, hash).body());
    assert.ok(shrunk instanceof IntegrityError && shrunk.phase === 'source', String(shrunk));
    assert.match(shrunk.message, /ended at byte 300000, expected 500000 bytes from byte 100000: the source changed after it was sealed/);

    await rm(path);
    const gone = await pipeIntoRequest(rangeBody(path, 0, 10, hash).body());
    assert.ok(gone instanceof Error && (gone as NodeJS.ErrnoException).code === 'ENOENT', String(gone));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

/** Pipes `body` into a real HTTP request to `url` (as the S3 client's handler does); the ArrayBuffers its chunks were written from, and the request's outcome. */
function pipeIntoHttp(url: string, body: Buffer | Readable): Promise<{ buffers: Set<ArrayBufferLike>; writes: number; outcome: 'sent' | Error }> {
  assert.ok(body instanceof Readable);
  const request = httpRequest(url, { method: 'PUT' });
  const buffers = new Set<ArrayBufferLike>();
  let writes = 0;
  const write = request.write.bind(request) as (chunk: Buffer, cb?: (err?: Error | null) => void) => boolean;
  request.write = ((chunk: Buffer, ...rest: unknown[]) => {
    buffers.add(chunk.buffer);
    writes++;
    return write(chunk, rest.find((r) => typeof r === 'function') as ((err?: Error | null) => void) | undefined);
  }) as typeof request.write;
  return new Promise((resolve) => {
    request.on('response', (res) => {
      res.resume();
      res.on('end', () => resolve({ buffers, writes, outcome: 'sent' }));
    });
    request.on('error', (err) => resolve({ buffers, writes, outcome: err }));
    body.pipe(request);
  });
}

test('a range body piped into an HTTP request reuses two buffers for the whole range, sends its exact bytes, and fails the request when the range cannot be read', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'cls-part-body-http-'));
  const received: Buffer[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push(Buffer.concat(chunks));
      res.end('ok');
    });
    req.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/part`;
  try {
    // 40 chunks' worth: a read stream would write from 40 buffers.
    const data = randomBytes(40 * RANGE_STREAM_CHUNK + 1000);
    const path = join(dir, 'f.bin');
    await writeFile(path, data);
    const range = data.subarray(500, data.length - 100);
    const part = rangeBody(path, 500, range.length, createHash('sha256').update(range).digest('hex'));
    const sent = await pipeIntoHttp(url, part.body());
    assert.equal(sent.outcome, 'sent');
    assert.ok(received.at(-1)?.equals(range), 'the server received the range byte for byte');
    assert.ok(sent.writes >= 40, `written in ${sent.writes} chunks`);
    assert.ok(sent.buffers.size <= 2, `written from ${sent.buffers.size} distinct buffers, expected at most 2 (reused)`);
    const again = await pipeIntoHttp(url, part.body());
    assert.equal(again.outcome, 'sent');
    assert.ok(received.at(-1)?.equals(range), 'a retry sends the same bytes');
    part.release();

    await truncate(path, 3 * RANGE_STREAM_CHUNK);
    const shrunk = await pipeIntoHttp(url, rangeBody(path, 500, range.length, 'x').body());
    assert.ok(shrunk.outcome instanceof IntegrityError && shrunk.outcome.phase === 'source', String(shrunk.outcome));
    assert.match(shrunk.outcome.message, new RegExp(`ended at byte ${3 * RANGE_STREAM_CHUNK}, expected ${range.length} bytes from byte 500`));

    await rm(path);
    const gone = await pipeIntoHttp(url, rangeBody(path, 0, 10, 'x').body());
    assert.ok(gone.outcome instanceof Error && (gone.outcome as NodeJS.ErrnoException).code === 'ENOENT', String(gone.outcome));
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await rm(dir, { recursive: true, force: true });
  }
});
