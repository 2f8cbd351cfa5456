/**
 * objectIdKeys (src/seal/hour-objects.ts: an object's `_id` keys read from the gunzipped bytes,
 * no string per line) gives what objectLines gives as `id`, and fills the read the same way (line
 * count, bytes, SHA-256, the error and its line number): both `_id` shapes our encoders write,
 * escapes, non-ASCII, other `_id` types, CRLF and empty lines, a last line without a line end,
 * lines longer than a gunzip chunk and lines across chunks, several gzip members, a line that is
 * not JSON, a gzip stream cut short.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { after, before, test } from 'node:test';
import { FileDestination } from '../../../src/deliver/file.js';
import type { ObjectRead } from '../../../src/seal/hour-objects.js';
import { newObjectRead, objectIdKeys, objectLines } from '../../../src/seal/hour-objects.js';

let dir: string;
let destination: FileDestination;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cls-object-id-keys-'));
  destination = new FileDestination({ directory: join(dir, 'archive') });
});
after(async () => {
  await destination.close();
  await rm(dir, { recursive: true, force: true });
});

let n = 0;
async function put(body: Buffer): Promise<string> {
  const key = `data/object-${n++}.ndjson.gz`;
  await destination.put({ key, source: { body }, size: body.length, sha256: createHash('sha256').update(body).digest('hex') });
  return key;
}

async function both(body: Buffer): Promise<void> {
  const key = await put(body);
  const expected = { ids: [] as string[], read: newObjectRead() };
  for await (const { id } of objectLines(destination, key, expected.read)) expected.ids.push(id);
  const got = { ids: [] as string[], read: newObjectRead() as ObjectRead };
  for await (const keys of objectIdKeys(destination, key, got.read)) got.ids.push(...keys);
  assert.deepEqual(got, expected);
}

const hex = (i: number): string => i.toString(16).padStart(24, '0');
const analytics = (i: number, extra = ''): string => `{"_id":"${hex(i)}","createdAt":"2024-01-15T10:00:00.000Z","path":"/v1/x"${extra}}`;
const ejson = (i: number): string => `{"_id":{"$oid":"${hex(i)}"},"createdAt":{"$date":{"$numberLong":"1705312800000"}}}`;

test('objectIdKeys: the keys and read of objectLines, line shapes', async () => {
  const lines = [
    analytics(1),
    ejson(2),
    '{"_id":"with \\"escaped\\" quotes","a":1}',
    '{"_id":"café ☕ non-ASCII","a":1}',
    '{"_id":{"$oid":"00000000000000000000000é"},"a":1}',
    '{"_id":42,"a":1}',
    '{"_id":{"$numberLong":"9007199254740993"}}',
    '{"a":1,"_id":"not first"}',
    '{"_id":{"a":1,"b":[1,2]}}',
    '{"noId":true}',
  ];
  await both(gzipSync(`${lines.join('\n')}\n`));
  // CRLF line ends, empty lines, a last line without a line end.
  await both(gzipSync(`${analytics(3)}\r\n\r\n\n${ejson(4)}\r\n${analytics(5)}`));
  await both(gzipSync(''));
  await both(gzipSync('\n\n'));
});

test('objectIdKeys: lines across gunzip chunks, long lines, several gzip members', async () => {
  const pad = `,"body":"${'x'.repeat(150_000)}"`;
  const many = Array.from({ length: 3000 }, (_, i) => analytics(i, i % 500 === 7 ? pad : i % 3 === 0 ? ',"s":"é☕é☕é☕"' : ''));
  const text = `${many.join('\n')}\n`;
  await both(gzipSync(text));
  const members = Buffer.concat([gzipSync(text.slice(0, 100_001)), gzipSync(text.slice(100_001, 400_003)), gzipSync(text.slice(400_003))]);
  await both(members);
});

test('objectIdKeys: a line that is not JSON, a last line that is a lone CR, a cut gzip stream', async () => {
  await both(gzipSync(`${analytics(1)}\n${analytics(2)}\n{"_id":5,broken\n${analytics(3)}\n`));
  await both(gzipSync(`${analytics(1)}\nnot json at all`));
  await both(gzipSync(`${analytics(1)}\n\r`));
  const whole = gzipSync(Array.from({ length: 2000 }, (_, i) => analytics(i)).join('\n'));
  await both(whole.subarray(0, Math.floor(whole.length / 2)));
});
