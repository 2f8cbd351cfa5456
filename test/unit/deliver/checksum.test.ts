import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { CronLogError } from '../../../src/errors.js';
import { ObjectDigester, crc32c, digestBuffer, expectedS3Checksum, isMultipart, sourceMismatch } from '../../../src/deliver/checksum.js';

function crc32cBitwise(data: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of data) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
  }
  return ~c >>> 0;
}

const sha = (b: Buffer): Buffer => createHash('sha256').update(b).digest();

test('crc32c: standard check value, empty input, incremental = one shot = bitwise reference', () => {
  assert.equal(crc32c(Buffer.from('123456789')), 0xe3069283);
  assert.equal(crc32c(Buffer.alloc(0)), 0);
  assert.equal(crc32c(Buffer.alloc(32)), 0x8a9136aa);
  const data = randomBytes(10_007);
  const whole = crc32c(data);
  assert.equal(whole, crc32cBitwise(data));
  let inc = 0;
  for (let i = 0; i < data.length; i += 333) inc = crc32c(data.subarray(i, i + 333), inc);
  assert.equal(inc, whole);
});

test('ObjectDigester splits parts exactly where the upload does (every part partSize bytes but the last)', () => {
  const partSize = 1000;
  for (const size of [0, 1, 999, 1000, 1001, 2000, 2500, 3000]) {
    const data = randomBytes(size);
    const d = new ObjectDigester(partSize, 'SHA256');
    // Feed in awkward chunk sizes.
    for (let i = 0; i < size; i += 377) d.update(data.subarray(i, i + 377));
    const out = d.finish();
    const expectedParts = Math.max(1, Math.ceil(size / partSize));
    assert.equal(out.parts.length, expectedParts, `size ${size}`);
    assert.equal(out.size, size);
    assert.equal(out.sha256, sha(data).toString('hex'));
    for (let p = 0; p < expectedParts; p++) {
      assert.deepEqual(out.parts[p], sha(data.subarray(p * partSize, (p + 1) * partSize)), `size ${size} part ${p + 1}`);
    }
    assert.equal(isMultipart(size, partSize), expectedParts > 1 || size > partSize);
  }
  const c = digestBuffer(Buffer.from('123456789'), 4, 'CRC32C');
  assert.deepEqual(c.parts.map((b) => b.readUInt32BE()), [crc32c(Buffer.from('1234')), crc32c(Buffer.from('5678')), crc32c(Buffer.from('9'))]);
});

test('expectedS3Checksum: the digest for one PUT, checksum-of-checksums "-N" for multipart', () => {
  const data = randomBytes(2500);
  const single = digestBuffer(data, 5000, 'SHA256');
  assert.equal(expectedS3Checksum(single), sha(data).toString('base64'));
  const multi = digestBuffer(data, 1000, 'SHA256');
  const parts = [0, 1, 2].map((i) => sha(data.subarray(i * 1000, (i + 1) * 1000)));
  assert.equal(expectedS3Checksum(multi, 'COMPOSITE'), `${sha(Buffer.concat(parts)).toString('base64')}-3`);
  assert.equal(expectedS3Checksum(multi), `${sha(Buffer.concat(parts)).toString('base64')}-3`);
  assert.equal(expectedS3Checksum(multi, 'FULL_OBJECT'), undefined);
  const crcMulti = digestBuffer(data, 1000, 'CRC32C');
  const raw = Buffer.alloc(4);
  raw.writeUInt32BE(crc32c(Buffer.concat(crcMulti.parts)));
  assert.equal(expectedS3Checksum(crcMulti), `${raw.toString('base64')}-3`);
});

test('sourceMismatch names the source and what differs: its size first, then its sha256', () => {
  const data = randomBytes(5000);
  const good = { size: data.length, sha256: sha(data).toString('hex'), label: 'f' };
  assert.equal(sourceMismatch(digestBuffer(data, 1000, 'SHA256'), good), null);
  const short = sourceMismatch(digestBuffer(data.subarray(0, 4999), 1000, 'SHA256'), good);
  assert.ok(short instanceof CronLogError && short.code === 'INTEGRITY_MISMATCH' && short.exitCode === 3);
  assert.match(short.message, /^f has 4999 bytes, expected 5000: the source changed after it was sealed$/);
  const changed = Buffer.from(data);
  changed[100] = (changed[100] as number) ^ 1;
  assert.match(sourceMismatch(digestBuffer(changed, 1000, 'SHA256'), good)?.message ?? '', new RegExp(`^f has sha256 [0-9a-f]{64}, expected ${good.sha256}: the source changed after it was sealed$`));
});
