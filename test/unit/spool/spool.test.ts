import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BSON, Decimal128, ObjectId } from 'bson';
import { BsonLineWriter } from '../../../src/spool/bson-lines.js';
import { readGzipLines } from '../../../src/spool/gzip-members.js';
import { lineEncoder } from '../../../src/spool/json-lines.js';
import { Spool } from '../../../src/spool/spool.js';
import type { SpoolFileState } from '../../../src/spool/spool.js';
import { spoolFileName, spoolLayout, parseSpoolFileName } from '../../../src/spool/spool-files.js';

const H0 = Date.parse('2024-01-15T00:00:00Z');
const H1 = H0 + 3_600_000;

async function tempSpool(): Promise<{ dir: string; make: () => Spool }> {
  const dir = await fs.mkdtemp(join(tmpdir(), 'spool-test-'));
  const layout = spoolLayout(dir, 'app.apilogs');
  return { dir, make: () => new Spool({ layout, gzipLevel: 6 }) };
}

async function lines(path: string, end?: number): Promise<string[]> {
  const out: string[] = [];
  for await (const l of readGzipLines(path, end)) out.push(l);
  return out;
}

test('file names encode the UTC hour and the part', () => {
  assert.equal(spoolFileName({ hour: H0, part: 1 }), '2024-01-15T00-00Z.ndjson.gz');
  assert.equal(spoolFileName({ hour: H0 + 1_800_000, part: 3 }), '2024-01-15T00-30Z.p3.ndjson.gz');
  assert.deepEqual(parseSpoolFileName('2024-01-15T00-30Z.p3.ndjson.gz'), { hour: H0 + 1_800_000, part: 3 });
  assert.equal(parseSpoolFileName('notes.txt'), undefined);
});

test('each flush appends one gzip member; the file decodes with gzip -dc and at every checkpoint', async () => {
  const { make } = await tempSpool();
  const spool = make();
  await spool.open(undefined);
  spool.append({ hour: H0, part: 1 }, '{"a":1}');
  spool.append({ hour: H1, part: 1 }, '{"b":1}');
  const first = await spool.flush();
  spool.append({ hour: H0, part: 1 }, '{"a":2}');
  spool.append({ hour: H0, part: 1 }, '{"a":3}');
  assert.equal(spool.pendingBytes, 16);
  const second = await spool.flush();
  assert.equal(spool.pendingBytes, 0);
  await spool.close();
  const f0 = second.files.find((f) => f.hour === H0)!;
  assert.equal(f0.lines, 3);
  const path = join(spool.layout.open, spoolFileName(f0));
  assert.equal((await fs.stat(path)).size, f0.offset);
  assert.deepEqual(await lines(path), ['{"a":1}', '{"a":2}', '{"a":3}']);
  const firstOffset = first.files.find((f) => f.hour === H0)!.offset;
  assert.deepEqual(await lines(path, firstOffset), ['{"a":1}']);
  assert.equal(execFileSync('gzip', ['-dc', path]).toString(), '{"a":1}\n{"a":2}\n{"a":3}\n');
});

test('recovery cuts torn tails back to the checkpoint and keeps a file it does not list aside, whole', async () => {
  const { make } = await tempSpool();
  const a = make();
  await a.open(undefined);
  a.append({ hour: H0, part: 1 }, '{"n":1}');
  const checkpoint = await a.flush();
  // Written after the checkpoint, then "crash": a flushed member and a torn one, plus a new file.
  a.append({ hour: H0, part: 1 }, '{"n":2}');
  a.append({ hour: H1, part: 1 }, '{"m":1}');
  await a.flush();
  await a.close();
  const p0 = join(a.layout.open, spoolFileName({ hour: H0, part: 1 }));
  await fs.appendFile(p0, Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0x01]));

  const p1 = join(a.layout.open, spoolFileName({ hour: H1, part: 1 }));
  const p1Bytes = await fs.readFile(p1);

  const b = make();
  const { kept } = await b.open(checkpoint);
  assert.deepEqual(await lines(p0), ['{"n":1}']);
  await assert.rejects(fs.stat(p1), { code: 'ENOENT' });
  assert.equal(kept.length, 1);
  assert.equal(kept[0]!.file, p1);
  assert.equal(kept[0]!.reason, 'the checkpoint does not list it');
  assert.ok(kept[0]!.keptAs.startsWith(`${b.layout.unrecognized}/`), kept[0]!.keptAs);
  assert.deepEqual(await fs.readFile(kept[0]!.keptAs), p1Bytes, 'kept byte for byte');
  b.append({ hour: H0, part: 1 }, '{"n":2}');
  const after = await b.flush();
  await b.close();
  assert.deepEqual(await lines(p0), ['{"n":1}', '{"n":2}']);
  assert.deepEqual(after.files, [{ hour: H0, part: 1, offset: (await fs.stat(p0)).size, lines: 2 }]);
});

test('a file listed before its creation (beforeCreate) is covered by the checkpoint: cut back, not kept aside', async () => {
  const { make, dir } = await tempSpool();
  const layout = spoolLayout(dir, 'app.apilogs');
  let checkpoint = { files: [] as SpoolFileState[] };
  const listed: SpoolFileState[][] = [];
  const a = new Spool({
    layout,
    gzipLevel: 6,
    beforeCreate: async (files) => {
      listed.push(files);
      checkpoint = { files: [...checkpoint.files, ...files] };
    },
  });
  await a.open(undefined);
  a.append({ hour: H0, part: 1 }, '{"n":1}');
  await a.flush();
  a.append({ hour: H0, part: 1 }, '{"n":2}');
  await a.flush();
  await a.close();
  assert.deepEqual(listed, [[{ hour: H0, part: 1, offset: 0, lines: 0 }]], 'listed once, before its first bytes');
  const b = make();
  const { kept } = await b.open(checkpoint);
  assert.deepEqual(kept, []);
  assert.equal((await fs.stat(join(layout.open, spoolFileName({ hour: H0, part: 1 })))).size, 0, 'its bytes are newer than the checkpoint');
  await b.close();
});

test('a failed move to sealed/ names both paths and breaks the spool; a file in sealed/ is never replaced', async () => {
  const { make } = await tempSpool();
  const a = make();
  await a.open(undefined);
  a.append({ hour: H0, part: 1 }, '{"n":1}');
  a.append({ hour: H1, part: 1 }, '{"m":1}');
  await a.flush();
  await a.detach({ hour: H0, part: 1 });
  const name = spoolFileName({ hour: H0, part: 1 });
  await fs.writeFile(join(a.layout.sealed, name), 'another file');
  await assert.rejects(a.moveToSealed({ hour: H0, part: 1 }), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'SPOOL_IO');
    assert.ok(err.message.startsWith(`cannot move spool file ${join(a.layout.open, name)} into ${a.layout.sealed} (`), err.message);
    assert.match(err.message, /already exists and is not replaced/);
    return true;
  });
  assert.equal(await fs.readFile(join(a.layout.sealed, name), 'utf8'), 'another file');
  assert.deepEqual(await lines(join(a.layout.open, name)), ['{"n":1}'], 'the file stays in open/');
  a.append({ hour: H1, part: 1 }, '{"m":2}');
  await assert.rejects(a.flush(), { code: 'SPOOL_IO' }, 'nothing is flushed (hence checkpointed) after it');
  await a.close();
});

test('a file shorter than its checkpoint is reported, not silently accepted', async () => {
  const { make } = await tempSpool();
  const a = make();
  await a.open(undefined);
  a.append({ hour: H0, part: 1 }, '{"n":1}');
  const cp = await a.flush();
  await a.close();
  await fs.truncate(join(a.layout.open, spoolFileName({ hour: H0, part: 1 })), 3);
  await assert.rejects(make().open(cp), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'SPOOL_CORRUPT');
    assert.match(err.message, /has 3 bytes but the checkpoint recorded \d+ durable bytes/);
    assert.match(err.message, /--reset-from/);
    return true;
  });
});

test('disk full (ENOSPC) fails the flush with a clear error and blocks every later flush', async () => {
  const { make } = await tempSpool();
  const s = make();
  // The kernel's /dev/full answers every write with ENOSPC (a file the checkpoint lists empty).
  await fs.mkdir(s.layout.open, { recursive: true });
  await fs.symlink('/dev/full', join(s.layout.open, spoolFileName({ hour: H0, part: 1 })));
  await s.open({ files: [{ hour: H0, part: 1, offset: 0, lines: 0 }] });
  s.append({ hour: H0, part: 1 }, '{"n":1}');
  await assert.rejects(s.flush(), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'SPOOL_IO');
    assert.match(err.message, /ENOSPC: the disk is full/);
    return true;
  });
  assert.deepEqual(s.state().files, [{ hour: H0, part: 1, offset: 0, lines: 0 }]);
  s.append({ hour: H1, part: 1 }, '{"m":1}');
  await assert.rejects(s.flush(), { code: 'SPOOL_IO' });
  await s.close();
});

test('an unwritable spool directory is refused at open', async () => {
  const { dir } = await tempSpool();
  const file = join(dir, 'not-a-dir');
  await fs.writeFile(file, 'x');
  const s = new Spool({ layout: spoolLayout(file, 'app.apilogs'), gzipLevel: 6 });
  await assert.rejects(s.open(undefined), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'SPOOL_IO');
    assert.match(err.message, /spool directory .*not-a-dir.* is not writable/);
    return true;
  });
});

test('a corrupt file makes reading fail with an error instead of crashing the process', async () => {
  const { dir } = await tempSpool();
  const path = join(dir, 'bad.ndjson.gz');
  await fs.writeFile(path, Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, 0, 3, 0xde, 0xad, 0xbe, 0xef]));
  await assert.rejects(lines(path), /unexpected end of file|invalid|incorrect/i);
});

test('lines written from BSON: the same lines as the encoder, a long expanding line included, and facts recorded', async () => {
  const dir = await fs.mkdtemp(join(tmpdir(), 'spool-bson-'));
  const layout = spoolLayout(dir, 'app.apilogs');
  const spool = new Spool({ layout, gzipLevel: 6, timestampField: 'createdAt' });
  await spool.open(undefined);
  const writer = new BsonLineWriter();
  const encode = lineEncoder('analytics');
  const docs = [
    { _id: new ObjectId(), createdAt: new Date(H0 + 1000), path: '/a' },
    // Control characters: each becomes 6 bytes of JSON, more than the room usually left for a line.
    { _id: new ObjectId(), createdAt: new Date(H0 + 2000), blob: '\u0001'.repeat(300_000) },
    { _id: new ObjectId(), createdAt: new Date(H0 + 3000), path: '/b' },
  ];
  const id = { hour: H0, part: 1 };
  for (const d of docs) assert.equal(spool.appendBson(id, BSON.serialize(d), 0, writer), true);
  assert.equal(spool.appendBson(id, BSON.serialize({ v: new Decimal128('1.5') }), 0, writer), false, 'left to the caller');
  const state = await spool.flush();
  await spool.close();
  const f = state.files[0]!;
  assert.equal(f.lines, 3);
  assert.deepEqual(await lines(join(layout.open, spoolFileName(f))), docs.map((d) => encode(d)));
  assert.equal(f.facts !== undefined, true, 'facts recorded for the lines');
  await fs.rm(dir, { recursive: true, force: true });
});
