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
import { Readable, Writable } from 'node:stream';
import { IntegrityError } from '../../../src/deliver/errors.js';
import { payloadSha256, rangeBody } from '../../../src/deliver/part-body.js';

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
