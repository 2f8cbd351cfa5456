import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ObjectId } from 'mongodb';
import { sealScan, scanSpoolFile } from '../../../src/seal/scan.js';
import { factsPath, readFactsFile } from '../../../src/spool/facts-file.js';
import { lineEncoder } from '../../../src/spool/json-lines.js';
import { Spool } from '../../../src/spool/spool.js';
import type { SpoolState } from '../../../src/spool/spool.js';
import { spoolFileName, spoolLayout } from '../../../src/spool/spool-files.js';

const H0 = Date.parse('2024-01-15T00:00:00Z');
const id = { hour: H0, part: 1 };

async function tempSpool(timestampField: string | null = 'createdAt'): Promise<{ make: () => Spool; path: () => string; sealedPath: () => string }> {
  const dir = await fs.mkdtemp(join(tmpdir(), 'facts-test-'));
  const layout = spoolLayout(dir, 'app.apilogs');
  return {
    make: () => new Spool({ layout, gzipLevel: 6, ...(timestampField ? { timestampField } : {}) }),
    path: () => join(layout.open, spoolFileName(id)),
    sealedPath: () => join(layout.sealed, spoolFileName(id)),
  };
}

/** Documents of every shape the facts must read like the decoder does. */
function docs(n: number, from = 0): Array<Record<string, unknown>> {
  return Array.from({ length: n }, (_, i) => {
    const k = from + i;
    const d: Record<string, unknown> = { _id: new ObjectId(), createdAt: new Date(H0 + ((k * 7919) % 3_600_000)), path: `/api/${k}`, status: 200 };
    if (k % 11 === 3) delete d.createdAt; // no timestamp: not in first/last
    if (k % 13 === 5) d._id = `order-"${k}"`; // an _id the fast reader declines (escaped quote)
    if (k % 17 === 7) d.meta = { createdAt: new Date(H0 - 86_400_000) }; // a nested field of the same name
    return d;
  });
}

async function fill(spool: Spool, mode: 'analytics' | 'ejson', batches: number, perBatch: number): Promise<SpoolState> {
  const encode = lineEncoder(mode);
  let state: SpoolState | undefined;
  for (let b = 0; b < batches; b++) {
    for (const d of docs(perBatch, b * perBatch)) spool.append(id, encode(d));
    state = await spool.flush();
  }
  return state as SpoolState;
}

for (const mode of ['analytics', 'ejson'] as const) {
  test(`${mode}: a closed file's facts give exactly what decoding it gives, without reading it`, async () => {
    const t = await tempSpool();
    const spool = t.make();
    await spool.open(undefined);
    await fill(spool, mode, 5, 400);
    const closed = await spool.detach(id);
    await spool.close();
    assert.ok(closed?.facts !== undefined && closed.facts > 0, 'the checkpoint state records the sidecar length');
    const decoded = await scanSpoolFile(t.path(), 'createdAt');
    const checked = await sealScan(t.path(), 'createdAt');
    assert.equal(checked.method, 'facts', checked.reason);
    assert.deepEqual(checked.scan, decoded);
    assert.equal(decoded.lines, 2000);
    assert.ok(decoded.firstTimestamp !== undefined && decoded.firstTimestamp < decoded.lastTimestamp!);
    const facts = await readFactsFile(factsPath(t.path()), decoded.bytes);
    assert.ok(!('unusable' in facts));
    assert.equal(facts.sha256, decoded.sha256, 'the closing record holds the SHA-256 of the whole file');
    assert.equal(facts.members.length, 5, 'one record per gzip member');
  });
}

test('a file reopened after a crash keeps the checkpointed facts; the seal then checks each member by CRC-32', async () => {
  const t = await tempSpool();
  const a = t.make();
  await a.open(undefined);
  const checkpoint = await fill(a, 'analytics', 2, 300);
  // Written after the checkpoint, then lost with the process: file and sidecar have a torn tail.
  for (const d of docs(100, 600)) a.append(id, lineEncoder('analytics')(d));
  await a.flush();
  await a.close();
  const b = t.make();
  await b.open(checkpoint);
  assert.equal((await fs.stat(t.path())).size, checkpoint.files[0]!.offset);
  assert.equal((await fs.stat(factsPath(t.path()))).size, checkpoint.files[0]!.facts);
  for (const d of docs(200, 600)) b.append(id, lineEncoder('analytics')(d));
  await b.flush();
  await b.detach(id);
  await b.close();
  const decoded = await scanSpoolFile(t.path(), 'createdAt');
  assert.equal(decoded.lines, 800);
  const facts = await readFactsFile(factsPath(t.path()), decoded.bytes);
  assert.ok(!('unusable' in facts));
  assert.equal(facts.sha256, undefined, 'no process wrote all of the file: no closing SHA-256');
  const checked = await sealScan(t.path(), 'createdAt');
  assert.equal(checked.method, 'facts', checked.reason);
  assert.deepEqual(checked.scan, decoded);
});

test('a checkpoint without facts (an older version wrote it) drops the sidecar; the seal decodes the file', async () => {
  const t = await tempSpool();
  const a = t.make();
  await a.open(undefined);
  const checkpoint = await fill(a, 'analytics', 1, 100);
  await a.close();
  const old: SpoolState = { files: checkpoint.files.map(({ facts: _facts, ...f }) => f) };
  const b = t.make();
  await b.open(old);
  await assert.rejects(fs.stat(factsPath(t.path())), { code: 'ENOENT' });
  for (const d of docs(50, 100)) b.append(id, lineEncoder('analytics')(d));
  const state = await b.flush();
  assert.equal(state.files[0]!.facts, undefined, 'the file records no facts from then on');
  await b.detach(id);
  await b.close();
  await assert.rejects(fs.stat(factsPath(t.path())), { code: 'ENOENT' });
  const checked = await sealScan(t.path(), 'createdAt');
  assert.equal(checked.method, 'decode');
  assert.match(checked.reason ?? '', /no facts file/);
  assert.equal(checked.scan.lines, 150);
});

test('a damaged sidecar or a file that differs from its facts is decoded instead', async () => {
  const t = await tempSpool();
  const spool = t.make();
  await spool.open(undefined);
  await fill(spool, 'analytics', 3, 200);
  await spool.close(); // not detached: no closing record, so the seal must read the file
  const good = await sealScan(t.path(), 'createdAt');
  assert.equal(good.method, 'facts', good.reason);

  // One bit of an _id hash in the sidecar: the record's CRC-32 catches it.
  const sidecar = await fs.readFile(factsPath(t.path()));
  const bad = Buffer.from(sidecar);
  bad[100] = (bad[100] as number) ^ 1;
  await fs.writeFile(factsPath(t.path()), bad);
  const r1 = await sealScan(t.path(), 'createdAt');
  assert.equal(r1.method, 'decode');
  assert.match(r1.reason ?? '', /fails its checksum/);
  assert.deepEqual(r1.scan, good.scan);

  // The sidecar intact but the file changed: a member's CRC-32 differs.
  await fs.writeFile(factsPath(t.path()), sidecar);
  const bytes = await fs.readFile(t.path());
  const copy = join(t.path() + '.copy');
  await fs.writeFile(copy, bytes);
  bytes[bytes.length - 12] = (bytes[bytes.length - 12] as number) ^ 0xff;
  await fs.writeFile(t.path(), bytes);
  const { scanWithFacts } = await import('../../../src/seal/scan.js');
  const r2 = await scanWithFacts(t.path());
  assert.ok('unusable' in r2);
  assert.match(r2.unusable, /member 3 .* does not match its facts/);

  // Cut short: the facts describe more bytes than the file has.
  await fs.writeFile(t.path(), (await fs.readFile(copy)).subarray(0, 100));
  const r3 = await scanWithFacts(t.path());
  assert.ok('unusable' in r3);
  assert.match(r3.unusable, /describe|cover/);
});

test('possible duplicate _ids send the file to the decoder, which finds them exactly', async () => {
  const t = await tempSpool();
  const spool = t.make();
  await spool.open(undefined);
  const encode = lineEncoder('analytics');
  const batch = docs(300);
  for (const d of batch) spool.append(id, encode(d));
  await spool.flush();
  for (const d of batch.slice(0, 5)) spool.append(id, encode(d));
  await spool.flush();
  await spool.detach(id);
  await spool.close();
  const checked = await sealScan(t.path(), 'createdAt');
  assert.equal(checked.method, 'decode');
  assert.match(checked.reason ?? '', /possible duplicate/);
  assert.equal(checked.scan.lines, 305);
  assert.equal(checked.scan.duplicateLines, 5);
});

test('moving a closed file to sealed/ takes its sidecar along; a spool without a timestamp field writes none', async () => {
  const t = await tempSpool();
  const spool = t.make();
  await spool.open(undefined);
  await fill(spool, 'analytics', 1, 10);
  await spool.detach(id);
  await spool.moveToSealed(id);
  await spool.close();
  assert.equal((await sealScan(t.sealedPath(), 'createdAt')).method, 'facts');
  await assert.rejects(fs.stat(factsPath(t.path())), { code: 'ENOENT' });

  const plain = await tempSpool(null);
  const p = plain.make();
  await p.open(undefined);
  const state = await fill(p, 'analytics', 1, 10);
  await p.close();
  assert.equal(state.files[0]!.facts, undefined);
  await assert.rejects(fs.stat(factsPath(plain.path())), { code: 'ENOENT' });
});
