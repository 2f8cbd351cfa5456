import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { dropDuplicateLines } from '../../../src/seal/dedupe.js';
import { scanSpoolFile } from '../../../src/seal/scan.js';
import { readGzipLines } from '../../../src/spool/gzip-members.js';

async function file(members: string[][]): Promise<string> {
  const dir = await fs.mkdtemp(join(tmpdir(), 'scan-'));
  const path = join(dir, 'h.ndjson.gz');
  await fs.writeFile(path, Buffer.concat(members.map((lines) => gzipSync(lines.map((l) => `${l}\n`).join('')))));
  return path;
}

async function lines(path: string): Promise<string[]> {
  const out: string[] = [];
  for await (const l of readGzipLines(path)) out.push(l);
  return out;
}

test('scan counts lines across gzip members, finds first/last timestamps and hashes the bytes', async () => {
  const path = await file([
    ['{"_id":"a","createdAt":"2024-01-15T00:10:00.000Z"}', '{"_id":"b","createdAt":"2024-01-15T00:05:00.000Z"}'],
    ['{"_id":{"$oid":"65a4f0c2e4b0a1b2c3d4e5f6"},"createdAt":{"$date":{"$numberLong":"1705277400000"}}}'],
  ]);
  const r = await scanSpoolFile(path, 'createdAt');
  assert.equal(r.lines, 3);
  assert.equal(r.duplicateLines, 0);
  assert.equal(r.firstTimestamp, '2024-01-15T00:05:00.000Z');
  assert.equal(r.lastTimestamp, '2024-01-15T00:10:00.000Z');
  const bytes = await fs.readFile(path);
  assert.equal(r.bytes, bytes.length);
  assert.equal(r.sha256, createHash('sha256').update(bytes).digest('hex'));
});

test('duplicate _ids are found and removed, keeping the first occurrence', async () => {
  const path = await file([
    ['{"_id":"a","n":1}', '{"_id":"b","n":2}', '{"_id":"a","n":3}'],
    ['{"_id":"c","n":4}', '{"_id":"b","n":5}', '{"_id":"a","n":6}'],
  ]);
  const r = await scanSpoolFile(path, 'createdAt');
  assert.equal(r.lines, 6);
  assert.deepEqual(r.duplicateIds.sort(), ['"a"', '"b"']);
  assert.equal(r.duplicateLines, 3);
  assert.equal(await dropDuplicateLines(path, r.duplicateIds, 6), 3);
  assert.deepEqual(await lines(path), ['{"_id":"a","n":1}', '{"_id":"b","n":2}', '{"_id":"c","n":4}']);
  const again = await scanSpoolFile(path, 'createdAt');
  assert.equal(again.lines, 3);
  assert.equal(again.duplicateLines, 0);
});

test('a file that does not decode is reported as SPOOL_CORRUPT', async () => {
  const dir = await fs.mkdtemp(join(tmpdir(), 'scan-'));
  const path = join(dir, 'bad.ndjson.gz');
  await fs.writeFile(path, Buffer.concat([gzipSync('{"_id":1}\n'), Buffer.from('garbage that is not gzip')]));
  await assert.rejects(scanSpoolFile(path, 'createdAt'), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'SPOOL_CORRUPT');
    assert.match(err.message, /does not decode/);
    return true;
  });
});

test('the fast _id and timestamp readers agree with a full parse, and decline what they cannot read', async () => {
  const { fastIdKey, fastTimestamp } = await import('../../../src/spool/line-facts.js');
  const { idKeyOfLine } = await import('../../../src/spool/document-ids.js');
  const lines = [
    '{"_id":"65a4f0c2e4b0a1b2c3d4e5f6","createdAt":"2024-01-15T00:10:00.000Z","n":1}',
    '{"_id":{"$oid":"65a4f0c2e4b0a1b2c3d4e5f6"},"createdAt":{"$date":{"$numberLong":"1"}}}',
    '{"_id":"a\\"b","createdAt":"2024-01-15T00:10:00.000Z"}',
    '{"_id":7,"meta":{"createdAt":"2024-01-15T09:00:00.000Z"},"createdAt":"2024-01-15T00:10:00.000Z"}',
    '{"_id":"x","note":"\\"createdAt\\":\\"2024-01-15T09:00:00.000Z","createdAt":"2024-01-15T00:11:00.000Z"}',
  ];
  assert.equal(fastIdKey(lines[0]!), idKeyOfLine(lines[0]!));
  assert.equal(fastIdKey(lines[1]!), idKeyOfLine(lines[1]!));
  assert.equal(fastIdKey(lines[2]!), undefined, 'escaped strings are parsed instead');
  assert.equal(fastIdKey(lines[3]!), undefined);
  assert.equal(fastTimestamp(lines[0]!, 'createdAt'), '2024-01-15T00:10:00.000Z');
  assert.equal(fastTimestamp(lines[1]!, 'createdAt'), '1970-01-01T00:00:00.001Z', 'canonical Extended JSON, read as lineTimestamp reads it');
  assert.equal(fastTimestamp('{"_id":1,"createdAt":{"$date":{"$numberLong":"99999999999999999999"}}}', 'createdAt'), undefined, 'out of range: parsed instead');
  assert.equal(fastTimestamp(lines[3]!, 'createdAt'), '2024-01-15T00:10:00.000Z', 'a nested key of the same name first: skipped');
  assert.equal(fastTimestamp(lines[4]!, 'createdAt'), '2024-01-15T00:11:00.000Z', 'text inside strings is skipped');
});

test('the fast timestamp reader follows a nested timestampField as a full parse does, and declines what it cannot read', async () => {
  const { fastTimestamp, lineTimestamp } = await import('../../../src/spool/line-facts.js');
  const { lineEncoder } = await import('../../../src/spool/json-lines.js');
  const path = ['meta', 'createdAt'];
  const at = (line: string): string | undefined => lineTimestamp(JSON.parse(line) as Record<string, unknown>, path);
  // Lines as the encoders write them, in both modes: read without parsing, equal to a full parse.
  const docs = Array.from({ length: 200 }, (_, i) => ({
    _id: `id${i}`,
    ...(i % 3 === 0 ? { createdAt: new Date(Date.UTC(2024, 0, 1)) } : {}),
    ...(i % 4 === 0 ? { tags: [{ meta: { createdAt: 'not this one' } }] } : {}),
    meta: { ...(i % 5 === 0 ? { note: '"createdAt":"2020-01-01T00:00:00.000Z"', inner: { createdAt: 'nor this' } } : {}), createdAt: new Date(Date.UTC(2024, 0, 15, 10, 0, i)), n: i },
    after: { meta: { createdAt: 'nor this' } },
  }));
  for (const mode of ['analytics', 'ejson'] as const) {
    const encode = lineEncoder(mode);
    for (const doc of docs) {
      const line = encode(doc);
      const fast = fastTimestamp(line, path);
      assert.equal(fast, at(line), line);
      assert.notEqual(fast, undefined, `read without parsing: ${line}`);
    }
  }
  // Keys found only as members of the object the path leads to.
  assert.equal(fastTimestamp('{"x":{"meta":{"createdAt":"2024-01-15T00:10:00.000Z"}},"meta":{"createdAt":"2024-01-15T00:11:00.000Z"}}', path), '2024-01-15T00:11:00.000Z', 'a nested "meta" first: skipped');
  assert.equal(fastTimestamp('{"s":"\\\\","meta":{"createdAt":"2024-01-15T00:12:00.000Z"}}', path), '2024-01-15T00:12:00.000Z', 'an escaped backslash ends no string early');
  assert.equal(fastTimestamp('{"s":"\\"meta\\":{","meta":{"createdAt":"2024-01-15T00:13:00.000Z"}}', path), '2024-01-15T00:13:00.000Z', 'a key-like text inside a string is skipped');
  assert.equal(fastTimestamp('{"meta":{"a":1},"createdAt":"2024-01-15T00:10:00.000Z"}', path), undefined, 'not inside meta: declined');
  assert.equal(fastTimestamp('{"meta":[{"createdAt":"2024-01-15T00:10:00.000Z"}]}', path), undefined, 'meta is an array');
  assert.equal(fastTimestamp('{"meta":"x","createdAt":"2024-01-15T00:10:00.000Z"}', path), undefined, 'meta is not an object');
  assert.equal(fastTimestamp('{"meta":{"createdAt":{"$date":"2024-01-15T00:10:00.000Z"}}}', path), '2024-01-15T00:10:00.000Z', 'relaxed Extended JSON');
  assert.equal(fastTimestamp('{"meta":{"b":"}","createdAt":"2024-01-15T00:10:00.000Z"}}', path), '2024-01-15T00:10:00.000Z', 'braces inside strings are skipped');
  assert.equal(fastTimestamp('{"a":{"meta":1}}', ['a', 'meta', 'createdAt']), undefined);
});
