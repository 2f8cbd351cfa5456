/** The local-directory destination on real files. */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CronLogError } from '../../../src/errors.js';
import { createDestination, isObjectNotFound, type Destination } from '../../../src/deliver/index.js';
import { destinationContract, readAll } from '../../helpers/destination-contract.js';
import { makeUnwritable } from '../../helpers/unwritable.js';

let root: string;
const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

async function tree(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) out.push(join(e.parentPath ?? e.path, e.name).slice(dir.length + 1));
  }
  return out.sort();
}

function fileDest(name: string): Destination {
  return createDestination({ kind: 'file', directory: join(root, name), retryAttempts: 1 });
}

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'cls-file-dest-'));
});

after(async () => {
  await rm(root, { recursive: true, force: true });
});

test('put from a file: same bytes at the key, no temp file left, head gives size and sha256', async () => {
  await using d = fileDest('a');
  const data = randomBytes(3 * 1024 * 1024 + 17);
  const src = join(root, 'src.bin');
  await writeFile(src, data);
  const key = 'api-logs/2024-01-15/00-01.ndjson.gz';
  const r = await d.put({ key, source: { path: src }, size: data.length, sha256: sha256(data) });
  assert.deepEqual(r, { key, size: data.length, sha256: sha256(data), attempts: 1 });
  assert.ok((await readFile(join(root, 'a', key))).equals(data));
  assert.deepEqual(await tree(join(root, 'a')), [key]);
  assert.deepEqual(await d.head(key), { key, size: data.length, sha256: sha256(data) });
  assert.equal(d.describe(), `file://${join(root, 'a')}`);
  // head() tells the truth about the bytes on disk, also after someone else rewrote them.
  const other = Buffer.from('changed\n');
  await writeFile(join(root, 'a', key), other);
  assert.deepEqual(await d.head(key), { key, size: other.length, sha256: sha256(other) });
});

test('put from a body is idempotent: the same bytes again leave one identical file', async () => {
  await using d = fileDest('b');
  const body = Buffer.from('{"manifest":true}\n');
  const key = 'api-logs/2024-01-15/00-01.manifest.json';
  await d.put({ key, source: { body }, size: body.length, sha256: sha256(body) });
  const again = await d.put({ key, source: { body }, size: body.length, sha256: sha256(body) });
  assert.equal(again.attempts, 1);
  assert.deepEqual(await tree(join(root, 'b')), [key]);
  assert.ok((await readFile(join(root, 'b', key))).equals(body));
  const empty = Buffer.alloc(0);
  const src = join(root, 'empty.bin');
  await writeFile(src, empty);
  await d.put({ key: 'api-logs/empty.ndjson.gz', source: { path: src }, size: 0, sha256: sha256(empty) });
  assert.deepEqual(await d.head('api-logs/empty.ndjson.gz'), { key: 'api-logs/empty.ndjson.gz', size: 0, sha256: sha256(empty) });
});

test('a mismatching source never replaces the object at the key, and leaves no temp file', async () => {
  await using d = fileDest('c');
  const key = 'api-logs/2024-01-15/05-06.ndjson.gz';
  const v1 = Buffer.from('version 1\n');
  await d.put({ key, source: { body: v1 }, size: v1.length, sha256: sha256(v1) });
  const v2 = randomBytes(2 * 1024 * 1024);
  const src = join(root, 'v2.bin');
  await writeFile(src, v2);
  await assert.rejects(
    d.put({ key, source: { path: src }, size: v2.length, sha256: sha256(v1) }),
    (e: unknown) => e instanceof CronLogError && e.code === 'DELIVERY_FAILED' && e.message.includes(key) && /the source changed after it was sealed/.test(e.message) && (e.cause as CronLogError).code === 'INTEGRITY_MISMATCH',
  );
  await assert.rejects(d.put({ key, source: { path: src }, size: v2.length + 1, sha256: sha256(v2) }), /has 2097152 bytes, expected 2097153/);
  await assert.rejects(d.put({ key, source: { path: join(root, 'nope') }, size: 1, sha256: sha256(v1) }), /does not exist \(ENOENT\)/);
  const aborted = AbortSignal.abort(new Error('shutdown'));
  await assert.rejects(d.put({ key, source: { path: src }, size: v2.length, sha256: sha256(v2), signal: aborted }), (e: unknown) => e instanceof CronLogError && e.code === 'ABORTED');
  assert.ok((await readFile(join(root, 'c', key))).equals(v1), 'the old object is intact');
  assert.deepEqual(await tree(join(root, 'c')), [key], 'no temp file left behind');
  await assert.rejects(d.put({ key: '../escape', source: { body: v1 }, size: v1.length, sha256: sha256(v1) }), (e: unknown) => e instanceof CronLogError && e.code === 'USAGE');
});

test('`after` gates the write: nothing at the key until it resolves; a rejection fails the put with its error', async () => {
  await using d = fileDest('g');
  const body = Buffer.from('{"a":1}\n');
  const key = 'api-logs/2024-01-15/06-07.ndjson.gz';
  let release!: () => void;
  let sending = 0;
  const put = d.put({ key, source: { body }, size: body.length, sha256: sha256(body), after: new Promise<void>((r) => (release = r)), onSourceRead: () => sending++ });
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(await d.head(key), undefined);
  assert.equal(sending, 1, 'onSourceRead is called at once, while `after` is pending (the file destination reads nothing before `after`)');
  release();
  await put;
  assert.equal(sending, 1);
  assert.ok((await readFile(join(root, 'g', key))).equals(body));
  const failure = new Error('the ledger write failed');
  await assert.rejects(d.put({ key: 'api-logs/x.ndjson.gz', source: { body }, size: body.length, sha256: sha256(body), after: Promise.reject(failure) }), (e: unknown) => e === failure);
  assert.deepEqual(await tree(join(root, 'g')), [key]);
});

test('list in key order with prefix filtering (temp files never listed), get and delete', async () => {
  await using d = fileDest('d');
  const keys = ['api-logs/2024-01-16/00-01.ndjson.gz', 'api-logs/2024-01-15/01-02.ndjson.gz', 'api-logs/2024-01-15/00-01.ndjson.gz', 'api-logs/2024-01-15/00-01.manifest.json', 'other/x.json'];
  for (const key of keys) {
    const body = Buffer.from(key);
    await d.put({ key, source: { body }, size: body.length, sha256: sha256(body) });
  }
  // A temp file from a crashed put.
  await writeFile(join(root, 'd', 'api-logs', '2024-01-15', '.02-03.ndjson.gz.tmp-4242-0123456789ab'), 'partial');
  const list = async (prefix: string): Promise<string[]> => {
    const out: string[] = [];
    for await (const o of d.list(prefix)) out.push(o.key);
    return out;
  };
  assert.deepEqual(await list('api-logs/'), [
    'api-logs/2024-01-15/00-01.manifest.json',
    'api-logs/2024-01-15/00-01.ndjson.gz',
    'api-logs/2024-01-15/01-02.ndjson.gz',
    'api-logs/2024-01-16/00-01.ndjson.gz',
  ]);
  assert.deepEqual(await list('api-logs/2024-01-15/00'), ['api-logs/2024-01-15/00-01.manifest.json', 'api-logs/2024-01-15/00-01.ndjson.gz']);
  assert.deepEqual(await list('api-logs/2024-01-1'), (await list('api-logs/')));
  assert.deepEqual(await list(''), [...(await list('api-logs/')), 'other/x.json']);
  assert.deepEqual(await list('missing/'), []);
  for await (const o of d.list('other/')) assert.deepEqual(o, { key: 'other/x.json', size: 'other/x.json'.length });

  assert.equal((await readAll(await d.get('other/x.json'))).toString(), 'other/x.json');
  await d.delete('other/x.json');
  await d.delete('other/x.json');
  assert.equal(await d.head('other/x.json'), undefined);
  await assert.rejects(d.get('other/x.json'), (e: unknown) => isObjectNotFound(e) && e.code === 'OBJECT_NOT_FOUND' && /no object at other\/x\.json in file:\/\//.test((e as Error).message));
  await assert.rejects(d.get('api-logs/2024-01-15'), (e: unknown) => isObjectNotFound(e));
  assert.equal(await d.head('api-logs/2024-01-15'), undefined);
});

test('probe: directory, put, get, delete OK and nothing left behind', async () => {
  await using d = fileDest('e');
  const r = await d.probe('api-logs');
  assert.equal(r.ok, true, JSON.stringify(r));
  assert.deepEqual(r.steps.map((s) => [s.name, s.status]), [['directory', 'ok'], ['put', 'ok'], ['get', 'ok'], ['delete', 'ok']]);
  assert.deepEqual(await tree(join(root, 'e')), []);
});

test('probe of a directory that cannot be created fails clearly', async () => {
  await writeFile(join(root, 'plain-file'), 'x');
  await using d = createDestination({ kind: 'file', directory: join(root, 'plain-file', 'archive') });
  const r = await d.probe('api-logs');
  assert.equal(r.ok, false);
  assert.equal(r.steps[0]?.name, 'directory');
  assert.equal(r.steps[0]?.status, 'failed');
  assert.equal(r.steps[0]?.reason, 'enotdir');
  assert.equal(r.steps[0]?.message, `cannot use ${join(root, 'plain-file', 'archive', 'api-logs')}: a component of ${join(root, 'plain-file', 'archive', 'api-logs')} is not a directory (ENOTDIR)`);
  assert.deepEqual(r.steps.map((s) => s.status), ['failed', 'skipped', 'skipped', 'skipped']);
  const body = Buffer.from('x');
  await assert.rejects(
    d.put({ key: 'api-logs/k.json', source: { body }, size: 1, sha256: sha256(body) }),
    (e: unknown) => e instanceof CronLogError && e.code === 'DELIVERY_FAILED' && /cannot deliver api-logs\/k\.json to file:\/\/.*not a directory \(ENOTDIR\)/.test(e.message),
  );
});

test('probe of a read-only directory fails with "permission denied"', async () => {
  const dir = join(root, 'readonly');
  await mkdir(join(dir, 'api-logs'), { recursive: true });
  const unwritable = await makeUnwritable(join(dir, 'api-logs'));
  try {
    await using d = createDestination({ kind: 'file', directory: dir });
    const r = await d.probe('api-logs');
    assert.equal(r.ok, false);
    assert.equal(r.steps[0]?.reason, unwritable.code.toLowerCase());
    assert.match(r.steps[0]?.message ?? '', new RegExp(`permission denied on .*api-logs \\(${unwritable.code}\\): check the owner and mode of the directory`));
  } finally {
    await unwritable.restore();
  }
});

test('close() is idempotent; later calls fail clearly', async () => {
  const d = fileDest('f');
  await d.close();
  await d.close();
  await d.destroy();
  await d[Symbol.asyncDispose]();
  await assert.rejects(d.head('a/b'), (e: unknown) => e instanceof CronLogError && e.code === 'DESTINATION_UNAVAILABLE' && /is closed/.test(e.message));
});

test('close() waits for a put in flight to finish; the put succeeds', async () => {
  const d = fileDest('close-waits');
  const body = Buffer.from('{"close":"waits"}\n');
  const key = 'api-logs/2024-01-15/10-11.ndjson.gz';
  let release!: () => void;
  const put = d.put({ key, source: { body }, size: body.length, sha256: sha256(body), after: new Promise<void>((r) => (release = r)) });
  let closed = false;
  const closing = d.close().then(() => (closed = true));
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(closed, false, 'close() waits while the put runs');
  await assert.rejects(d.put({ key: 'api-logs/other.json', source: { body }, size: body.length, sha256: sha256(body) }), /is closed/);
  release();
  assert.equal((await put).key, key);
  await closing;
  assert.ok((await readFile(join(root, 'close-waits', key))).equals(body));
});

test('destroy() aborts a put in flight: ABORTED, nothing at the key, no temp file', async () => {
  const d = fileDest('destroy-aborts');
  const data = randomBytes(1024 * 1024);
  const src = join(root, 'destroy.bin');
  await writeFile(src, data);
  const key = 'api-logs/2024-01-15/11-12.ndjson.gz';
  const put = d.put({ key, source: { path: src }, size: data.length, sha256: sha256(data), after: new Promise<void>(() => undefined) });
  put.catch(() => undefined);
  await new Promise((r) => setTimeout(r, 20));
  await d.destroy();
  await assert.rejects(put, (e: unknown) => e instanceof CronLogError && e.code === 'ABORTED' && e.message.includes(key) && /was destroyed/.test(e.message));
  await d.close();
  assert.deepEqual(await tree(join(root, 'destroy-aborts')).catch(() => []), [], 'nothing at the key, no temp file');
});

destinationContract('file', () => ({
  make: () => createDestination({ kind: 'file', directory: join(root, 'contract'), retryAttempts: 1 }),
  describe: /^file:\/\/\/.*\/contract$/,
  probeFirstStep: 'directory',
  largeSize: 3 * 1024 * 1024 + 17,
}));
