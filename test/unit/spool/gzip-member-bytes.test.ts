/**
 * gzipMember (src/spool/gzip-members.ts) hands zlib a larger output buffer than its default, so a
 * 1 MiB slab compresses in one thread-pool step: the member's bytes must stay exactly those of
 * zlib's default (spool files are byte-identical whatever the chunking; level 0's stored blocks
 * would not be, so it keeps the default), and hold no more memory than their length.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gunzipSync, gzipSync } from 'node:zlib';
import { gzipMember, gzipOptions } from '../../../src/spool/gzip-members.js';

function slab(bytes: number): Buffer {
  let x = 7;
  const lines: string[] = [];
  let n = 0;
  while (n < bytes) {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    const line = JSON.stringify({ _id: x.toString(16), status: [200, 404, 500][x % 3], latencyMs: (x % 10000) / 10, path: `/api/v1/orders/${x % 99999}` });
    lines.push(line);
    n += line.length + 1;
  }
  return Buffer.from(`${lines.join('\n')}\n`);
}

test('a member is the bytes zlib writes with its default output chunks, and only those', async () => {
  for (const [size, level] of [
    [1 << 20, 6],
    [2 << 20, 1],
    [400_000, 0],
    [2000, 6],
  ] as const) {
    const data = slab(size);
    const member = await gzipMember(data, level);
    assert.ok(member.equals(gzipSync(data, gzipOptions(level))), `${size} bytes at level ${level}`);
    assert.ok(gunzipSync(member).equals(data));
    assert.ok(member.buffer.byteLength <= member.length + 16 * 1024, 'no 256 KiB step buffer kept behind a small member');
  }
});
