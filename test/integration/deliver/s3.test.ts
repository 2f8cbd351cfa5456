/**
 * The S3 destination against s3rver over real HTTP, through the fault proxy (no faults here:
 * it records the requests, so the tests can check what was sent).
 */
import { after, before, beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { appendFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CronLogError } from '../../../src/errors.js';
import { createDestination, isObjectNotFound, type Destination, type DestinationTuning, type S3Options } from '../../../src/deliver/index.js';
import { destinationContract, readAll } from '../../helpers/destination-contract.js';
import { startFaultProxy, type FaultProxy } from '../../helpers/fault-proxy.js';
import { startTestS3, type TestS3 } from '../../helpers/s3.js';

const MiB = 1024 * 1024;
let s3: TestS3;
let proxy: FaultProxy;
let dir: string;
let big: { path: string; size: number; sha256: string; data: Buffer };
const open: Destination[] = [];

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const b64sha = (b: Buffer): string => createHash('sha256').update(b).digest('base64');

function dest(over: Partial<S3Options> = {}, retryAttempts = 2, tuning: DestinationTuning = {}): Destination {
  const d = createDestination({
    kind: 's3',
    s3: {
      bucket: s3.bucket,
      region: s3.region,
      endpoint: proxy.endpoint,
      forcePathStyle: true,
      accessKeyId: s3.accessKeyId,
      secretAccessKey: s3.secretAccessKey,
      partSizeMB: 5,
      ...over,
    },
    retryAttempts,
    tuning: { retryBaseDelayMs: 5, retryMaxDelayMs: 50, socketTimeoutMs: 10_000, ...tuning },
  });
  open.push(d);
  return d;
}

async function keys(d: Destination, prefix: string): Promise<string[]> {
  const out: string[] = [];
  for await (const o of d.list(prefix)) out.push(o.key);
  return out;
}

before(async () => {
  s3 = await startTestS3();
  proxy = await startFaultProxy(s3.endpoint);
  dir = await mkdtemp(join(tmpdir(), 'cls-s3-test-'));
  const data = randomBytes(12 * MiB);
  const path = join(dir, 'hour.ndjson.gz');
  await writeFile(path, data);
  big = { path, size: data.length, sha256: sha256(data), data };
});

after(async () => {
  await Promise.all(open.map((d) => d.close()));
  await proxy.close();
  await s3.close();
  await rm(dir, { recursive: true, force: true });
});

beforeEach(() => {
  proxy.clearRules();
  proxy.clearLog();
});

test('a 12 MiB file goes up in 5 MiB parts with header checksums; bytes, size and sha256 verified', async () => {
  const d = dest();
  const key = 'api-logs/2024-01-15/00-01.ndjson.gz';
  const r = await d.put({ key, source: { path: big.path }, size: big.size, sha256: big.sha256, metadata: { 'cls-count': '42' } });
  assert.deepEqual({ key: r.key, size: r.size, sha256: r.sha256, attempts: r.attempts }, { key, size: big.size, sha256: big.sha256, attempts: 1 });
  assert.equal(r.alreadyPresent, undefined);
  assert.match(r.etag ?? '', /^"[0-9a-f]{32}"$/);

  const create = proxy.requests.filter((x) => x.op === 'CreateMultipartUpload');
  assert.equal(create.length, 1);
  assert.equal(create[0]?.headers['x-amz-checksum-algorithm'], 'SHA256');
  assert.equal(create[0]?.headers['x-amz-meta-sha256'], big.sha256);
  assert.equal(create[0]?.headers['x-amz-meta-cls-count'], '42');
  assert.equal(create[0]?.headers['content-type'], 'application/gzip');
  const parts = proxy.requests.filter((x) => x.op === 'UploadPart').sort((a, b) => Number(a.query['partNumber']) - Number(b.query['partNumber']));
  assert.deepEqual(parts.map((p) => p.bodyBytes), [5 * MiB, 5 * MiB, 2 * MiB]);
  for (const [i, p] of parts.entries()) {
    // The checksum travels as a plain header over the raw part bytes: no aws-chunked framing.
    assert.equal(p.headers['content-encoding'], undefined);
    assert.equal(p.headers['x-amz-trailer'], undefined);
    assert.equal(p.headers['x-amz-checksum-sha256'], p.bodySha256);
    assert.equal(p.bodySha256, b64sha(big.data.subarray(i * 5 * MiB, (i + 1) * 5 * MiB)));
    // The signed payload hash is the same digest (computed once per part), in hex.
    assert.equal(p.headers['x-amz-content-sha256'], Buffer.from(p.bodySha256 ?? '', 'base64').toString('hex'));
  }
  assert.equal(proxy.count('CompleteMultipartUpload'), 1);
  assert.equal(proxy.count('HeadObject'), 2, 'one HEAD for idempotency, one to verify');

  assert.ok((await readAll(await d.get(key))).equals(big.data));
  assert.deepEqual(await d.head(key), { key, size: big.size, sha256: big.sha256 });
  assert.deepEqual(await s3.openUploads(), []);
});

test('re-putting the same bytes is a no-op that reports the existing object', async () => {
  const d = dest();
  const key = 'api-logs/2024-01-15/01-02.ndjson.gz';
  const first = await d.put({ key, source: { path: big.path }, size: big.size, sha256: big.sha256 });
  proxy.clearLog();
  const again = await d.put({ key, source: { path: big.path }, size: big.size, sha256: big.sha256 });
  assert.equal(again.alreadyPresent, true);
  assert.equal(again.etag, first.etag);
  assert.equal(again.attempts, 1);
  assert.equal(proxy.count('UploadPart') + proxy.count('PutObject'), 0, 'no data sent');
  assert.deepEqual(await s3.openUploads(), [], 'the multipart upload created meanwhile was aborted');
  // Different bytes at the same key replace the object.
  const other = Buffer.from('{"a":1}\n');
  const replaced = await d.put({ key, source: { body: other }, size: other.length, sha256: sha256(other) });
  assert.equal(replaced.alreadyPresent, undefined);
  assert.deepEqual(await d.head(key), { key, size: other.length, sha256: sha256(other) });
});

test('a put with replace does not look at the key first: it overwrites what is there', async () => {
  const d = dest();
  const key = 'api-logs/2024-01-15/01-02.manifest.json';
  const first = Buffer.from('{"count":1}\n');
  const second = Buffer.from('{"count":2}\n');
  await d.put({ key, source: { body: first }, size: first.length, sha256: sha256(first) });
  proxy.clearLog();
  const r = await d.put({ key, source: { body: second }, size: second.length, sha256: sha256(second), replace: true });
  assert.equal(r.alreadyPresent, undefined);
  assert.equal(proxy.count('HeadObject'), 0, 'no HEAD before the write (and none after: the answer proves it)');
  assert.deepEqual(await d.head(key), { key, size: second.length, sha256: sha256(second) });
  // The same bytes again are written again (nothing was looked up to skip them).
  proxy.clearLog();
  const again = await d.put({ key, source: { body: second }, size: second.length, sha256: sha256(second), replace: true });
  assert.equal(again.alreadyPresent, undefined);
  assert.equal(proxy.count('PutObject'), 1);
  await assert.rejects(
    d.put({ key, source: { body: second }, size: second.length, sha256: sha256(second), replace: true, noOverwrite: true }),
    /replace and noOverwrite cannot be combined/,
  );
});

test('a single PutObject is verified by its answer when the answer proves the bytes, else by a HEAD', async () => {
  const d = dest();
  const key = 'api-logs/2024-01-15/10-11.manifest.json';
  const body = Buffer.from('{"count":3}\n');
  const put = (): Promise<unknown> => d.put({ key, source: { body }, size: body.length, sha256: sha256(body), replace: true });
  // s3rver answers the body's MD5 as the ETag: that proves the stored bytes.
  proxy.clearLog();
  await put();
  assert.equal(proxy.count('HeadObject'), 0);
  // An ETag that is not the MD5 (as S3 answers for SSE-KMS objects), no checksum: a HEAD verifies.
  proxy.clearLog();
  proxy.rule({ op: 'PutObject', times: 1, fault: { type: 'answer-headers', headers: { etag: '"0123456789abcdef0123456789abcdef"' } } });
  await put();
  assert.equal(proxy.count('HeadObject'), 1);
  // The server's checksum of what it stored (real S3 answers it), equal to ours: no HEAD, whatever the ETag.
  proxy.clearLog();
  proxy.rule({ op: 'PutObject', times: 1, fault: { type: 'answer-headers', headers: { etag: '"opaque"', 'x-amz-checksum-sha256': b64sha(body) } } });
  await put();
  assert.equal(proxy.count('HeadObject'), 0);
  // A checksum that differs from ours: not taken as proof, the HEAD decides.
  proxy.clearLog();
  proxy.rule({ op: 'PutObject', times: 1, fault: { type: 'answer-headers', headers: { 'x-amz-checksum-sha256': b64sha(Buffer.from('other')) } } });
  await put();
  assert.equal(proxy.count('HeadObject'), 1);
  proxy.clearRules();
  assert.deepEqual(await d.head(key), { key, size: body.length, sha256: sha256(body) });
});

test('the check for an existing object overlaps creating the upload and reading the source: no data is sent before it answers', async () => {
  const d = dest();
  const key = 'api-logs/2024-01-15/02-03.ndjson.gz';
  const arrivals: { op: string; at: number }[] = [];
  const record = (): void => {
    proxy.rule({ when: (r) => (arrivals.push({ op: r.op, at: performance.now() }), false), fault: { type: 'error', status: 500 } });
  };
  const slowHead = (): void => {
    proxy.rule({ op: 'HeadObject', times: 1, fault: { type: 'stall', ms: 300 } });
  };
  const sent = (): number => proxy.count('UploadPart') + proxy.count('PutObject');
  record();
  slowHead();
  await d.put({ key, source: { path: big.path }, size: big.size, sha256: big.sha256, noOverwrite: true });
  const head = arrivals.find((a) => a.op === 'HeadObject');
  const create = arrivals.find((a) => a.op === 'CreateMultipartUpload');
  const part = arrivals.find((a) => a.op === 'UploadPart');
  assert.ok(head !== undefined && create !== undefined && part !== undefined);
  assert.ok(create.at - head.at < 250, `CreateMultipartUpload did not wait for the HEAD (${(create.at - head.at).toFixed(0)} ms)`);
  assert.ok(part.at - head.at >= 290, `the first UploadPart waited for the HEAD (${(part.at - head.at).toFixed(0)} ms)`);

  // Other content at the key, noOverwrite, a slow check: refused, no data sent, no upload left.
  for (const other of [randomBytes(6 * MiB), Buffer.from('{"other":true}\n')]) {
    proxy.clearRules();
    proxy.clearLog();
    slowHead();
    await assert.rejects(
      d.put({ key, source: { body: other }, size: other.length, sha256: sha256(other), noOverwrite: true }),
      (e: unknown) => e instanceof CronLogError && /refusing to overwrite/.test(e.message),
    );
    assert.equal(sent(), 0);
    assert.deepEqual(await s3.openUploads(), []);
  }
  // The same bytes with a slow check: reported as present, no data sent, no upload left.
  proxy.clearRules();
  proxy.clearLog();
  slowHead();
  const again = await d.put({ key, source: { path: big.path }, size: big.size, sha256: big.sha256, noOverwrite: true });
  assert.equal(again.alreadyPresent, true);
  assert.equal(sent(), 0);
  assert.deepEqual(await d.head(key), { key, size: big.size, sha256: big.sha256 });
  assert.deepEqual(await s3.openUploads(), []);
});

test('`after` gates the object: the parts are sent meanwhile (onSourceRead says when the file has been read); a rejected `after` fails the put with its error, stops the upload and creates nothing', async () => {
  const d = dest();
  const key = 'api-logs/2024-01-15/05-06.ndjson.gz';
  const completing = (): number => proxy.count('CompleteMultipartUpload') + proxy.count('PutObject');
  let release!: () => void;
  const reserved = new Promise<void>((r) => (release = r));
  let sending = 0;
  const put = d.put({ key, source: { path: big.path }, size: big.size, sha256: big.sha256, noOverwrite: true, after: reserved, onSourceRead: () => sending++ });
  assert.equal(sending, 0, 'onSourceRead waits for the file to be read');
  for (let waited = 0; proxy.count('UploadPart') < 3; waited += 20) {
    assert.ok(waited < 10_000, `the 3 parts were not sent while \`after\` was pending (${proxy.count('UploadPart')} sent)`);
    await new Promise((r) => setTimeout(r, 20));
  }
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(proxy.count('HeadObject'), 1, 'the key was checked while waiting');
  assert.equal(completing(), 0, 'the object is not completed before `after` resolved');
  assert.equal(await d.head(key), undefined, 'nothing at the key before `after` resolved');
  assert.equal(sending, 1, 'onSourceRead was called once, while `after` was pending');
  release();
  const r = await put;
  assert.equal(sending, 1);
  assert.equal(r.alreadyPresent, undefined);
  assert.deepEqual(await d.head(key), { key, size: big.size, sha256: big.sha256 });

  // One part in flight at a time (8 parts of 5 MiB): the put reads at most about 10 MiB ahead
  // of the part it sends, so the file's last bytes are read after most parts were sent, and
  // onSourceRead comes then, not when the first part has been read.
  const longer = randomBytes(40 * MiB);
  const longerPath = join(dir, 'longer.ndjson.gz');
  await writeFile(longerPath, longer);
  const serial = dest({ queueSize: 1 });
  proxy.clearLog();
  let partsSentWhenRead = -1;
  await serial.put({ key: 'api-logs/2024-01-15/09-10.ndjson.gz', source: { path: longerPath }, size: longer.length, sha256: sha256(longer), onSourceRead: () => (partsSentWhenRead = proxy.count('UploadPart')) });
  assert.equal(proxy.count('UploadPart'), 8);
  assert.ok(partsSentWhenRead >= 4, `onSourceRead came when ${partsSentWhenRead} of 8 parts had been sent, expected after the file was read`);
  // 8 parts through at most 2 part buffers, reused: the object is the file, byte for byte.
  assert.ok((await readAll(await serial.get('api-logs/2024-01-15/09-10.ndjson.gz'))).equals(longer));

  // Rejected, for a multipart and a single-PUT source: that error, nothing at the keys, no
  // upload left open.
  for (const [k, source, size, sha] of [
    ['api-logs/2024-01-15/06-07.ndjson.gz', { path: big.path }, big.size, big.sha256],
    ['api-logs/2024-01-15/07-08.ndjson.gz', { body: Buffer.from('{"a":1}\n') }, 8, sha256(Buffer.from('{"a":1}\n'))],
  ] as const) {
    proxy.clearLog();
    const failure = new Error('the ledger write failed');
    const rejected = new Promise<void>((_, reject) => setTimeout(() => reject(failure), 100));
    await assert.rejects(d.put({ key: k, source, size, sha256: sha, noOverwrite: true, after: rejected }), (e: unknown) => e === failure);
    assert.equal(completing(), 0);
    assert.equal(await d.head(k), undefined);
  }
  assert.deepEqual(await s3.openUploads(), []);

  // Rejected while the parts are still being sent (one at a time, each held 300 ms): the upload
  // stops there instead of sending the rest, and is aborted.
  const one = dest({ queueSize: 1 });
  proxy.clearLog();
  proxy.rule({ op: 'UploadPart', fault: { type: 'stall', ms: 300 } });
  const k = 'api-logs/2024-01-15/08-09.ndjson.gz';
  const failure = new Error('the facts check failed');
  let reject!: (e: unknown) => void;
  const pending = new Promise<void>((_, rj) => (reject = rj));
  const stopped = one.put({ key: k, source: { path: big.path }, size: big.size, sha256: big.sha256, noOverwrite: true, after: pending });
  for (let waited = 0; proxy.count('UploadPart') === 0; waited += 10) {
    assert.ok(waited < 10_000, 'no part was started');
    await new Promise((r) => setTimeout(r, 10));
  }
  reject(failure);
  await assert.rejects(stopped, (e: unknown) => e === failure);
  proxy.clearRules();
  assert.ok(proxy.count('UploadPart') < 3, `${proxy.count('UploadPart')} of 3 parts were sent`);
  assert.equal(completing(), 0);
  assert.equal(await d.head(k), undefined);
  assert.deepEqual(await s3.openUploads(), []);
});

test('a failed check for an existing object: tolerated without noOverwrite, fatal with it (nothing created)', async () => {
  const d = dest();
  const body = randomBytes(6 * MiB);
  proxy.rule({ op: 'HeadObject', times: 1, fault: { type: 'error', status: 403, code: 'AccessDenied' } });
  const r = await d.put({ key: 'api-logs/2024-01-15/03-04.ndjson.gz', source: { body }, size: body.length, sha256: sha256(body) });
  assert.equal(r.attempts, 1);
  assert.deepEqual(await d.head('api-logs/2024-01-15/03-04.ndjson.gz'), { key: 'api-logs/2024-01-15/03-04.ndjson.gz', size: body.length, sha256: sha256(body) });
  proxy.clearRules();
  proxy.clearLog();
  proxy.rule({ op: 'HeadObject', times: 1, fault: { type: 'error', status: 403, code: 'AccessDenied' } });
  await assert.rejects(
    d.put({ key: 'api-logs/2024-01-15/04-05.ndjson.gz', source: { body }, size: body.length, sha256: sha256(body), noOverwrite: true }),
    (e: unknown) => e instanceof CronLogError && /HeadObject: /.test(e.message),
  );
  assert.equal(proxy.count('UploadPart') + proxy.count('PutObject'), 0, 'no data sent');
  assert.equal(await d.head('api-logs/2024-01-15/04-05.ndjson.gz'), undefined);
  assert.deepEqual(await s3.openUploads(), [], 'the multipart upload created meanwhile was aborted');
});

test('small bodies go up as one PutObject; list pages in key order; get/delete', async () => {
  const d = dest({}, 2, { listPageSize: 2 });
  const names = ['list-test/2024-01-15/b.manifest.json', 'list-test/2024-01-15/a.manifest.json', 'list-test/2024-01-16/c.json', 'list-test/x.json', 'list-test-other/y.json'];
  for (const [i, key] of names.entries()) {
    const body = Buffer.from(JSON.stringify({ i, key }));
    await d.put({ key, source: { body }, size: body.length, sha256: sha256(body) });
  }
  const puts = proxy.requests.filter((x) => x.op === 'PutObject');
  assert.equal(puts.length, names.length);
  assert.equal(proxy.count('CreateMultipartUpload'), 0);
  for (const p of puts) {
    assert.equal(p.headers['x-amz-checksum-sha256'], p.bodySha256);
    assert.equal(p.headers['x-amz-content-sha256'], Buffer.from(p.bodySha256 ?? '', 'base64').toString('hex'));
    assert.equal(p.headers['content-type'], 'application/json');
  }
  assert.deepEqual(await keys(d, 'list-test/'), [
    'list-test/2024-01-15/a.manifest.json',
    'list-test/2024-01-15/b.manifest.json',
    'list-test/2024-01-16/c.json',
    'list-test/x.json',
  ]);
  assert.ok(proxy.count('ListObjectsV2') >= 2, 'paginated');
  assert.deepEqual(await keys(d, 'list-test/2024-01-15/b'), ['list-test/2024-01-15/b.manifest.json']);
  assert.deepEqual(await keys(d, 'nothing-here/'), []);
  const sizes: number[] = [];
  for await (const o of d.list('list-test/x')) sizes.push(o.size);
  assert.deepEqual(sizes, [JSON.stringify({ i: 3, key: 'list-test/x.json' }).length]);

  const empty = Buffer.alloc(0);
  await d.put({ key: 'list-test/empty.json', source: { body: empty }, size: 0, sha256: sha256(empty) });
  assert.deepEqual(await d.head('list-test/empty.json'), { key: 'list-test/empty.json', size: 0, sha256: sha256(empty) });
  assert.equal((await readAll(await d.get('list-test/empty.json'))).length, 0);
  await d.delete('list-test/empty.json');

  const key = 'list-test/x.json';
  assert.equal((await readAll(await d.get(key))).toString(), JSON.stringify({ i: 3, key }));
  await d.delete(key);
  assert.equal(await d.head(key), undefined);
  await d.delete(key); // idempotent
  await assert.rejects(d.get(key), (e: unknown) => isObjectNotFound(e) && e instanceof CronLogError && e.code === 'OBJECT_NOT_FOUND' && /no object at list-test\/x\.json/.test(e.message));
});

test('CRC32C: every part carries an x-amz-checksum-crc32c of its bytes', async () => {
  const d = dest({ checksumAlgorithm: 'CRC32C', queueSize: 1 });
  const key = 'crc/2024-01-15/00-01.ndjson.gz';
  await d.put({ key, source: { path: big.path }, size: big.size, sha256: big.sha256 });
  assert.equal(proxy.requests.find((x) => x.op === 'CreateMultipartUpload')?.headers['x-amz-checksum-algorithm'], 'CRC32C');
  const parts = proxy.requests.filter((x) => x.op === 'UploadPart');
  assert.equal(parts.length, 3);
  for (const p of parts) assert.equal(p.headers['x-amz-checksum-crc32c'], p.bodyCrc32c);
  assert.ok((await readAll(await d.get(key))).equals(big.data));
});

test('SSE-KMS, storage class and Object Lock retention are sent as request parameters', async () => {
  const d = dest({ serverSideEncryption: 'aws:kms', kmsKeyId: 'alias/api-logs', storageClass: 'STANDARD_IA', objectLockMode: 'GOVERNANCE', objectLockDays: 7 });
  const key = 'sse/2024-01-15/00-01.ndjson.gz';
  const before = Date.now();
  await d.put({ key, source: { path: big.path }, size: big.size, sha256: big.sha256 });
  const create = proxy.requests.find((x) => x.op === 'CreateMultipartUpload');
  assert.ok(create);
  assert.equal(create.headers['x-amz-server-side-encryption'], 'aws:kms');
  assert.equal(create.headers['x-amz-server-side-encryption-aws-kms-key-id'], 'alias/api-logs');
  assert.equal(create.headers['x-amz-storage-class'], 'STANDARD_IA');
  assert.equal(create.headers['x-amz-object-lock-mode'], 'GOVERNANCE');
  const until = Date.parse(String(create.headers['x-amz-object-lock-retain-until-date']));
  assert.ok(Math.abs(until - (before + 7 * 86_400_000)) < 60_000, `retain-until ${String(create.headers['x-amz-object-lock-retain-until-date'])}`);
  for (const p of proxy.requests.filter((x) => x.op === 'UploadPart')) {
    assert.equal(p.headers['x-amz-server-side-encryption'], undefined, 'UploadPart must not repeat the SSE header');
  }
  assert.deepEqual(await d.head(key), { key, size: big.size, sha256: big.sha256 });
});

test('a source that does not match its declared size or sha256 is never completed', async () => {
  const d = dest();
  const key = 'bad/2024-01-15/00-01.ndjson.gz';
  await assert.rejects(
    d.put({ key, source: { path: big.path }, size: big.size, sha256: 'f'.repeat(64) }),
    (e: unknown) => e instanceof CronLogError && e.code === 'DELIVERY_FAILED' && e.message.includes(key) && /the source changed after it was sealed/.test(e.message) && (e.cause as CronLogError).code === 'INTEGRITY_MISMATCH',
  );
  assert.ok(proxy.count('UploadPart') >= 1, 'parts were sent before the mismatch was known');
  assert.equal(proxy.count('CompleteMultipartUpload'), 0);
  assert.equal(await d.head(key), undefined);
  assert.deepEqual(await s3.openUploads(), []);
  proxy.clearLog();
  await assert.rejects(d.put({ key, source: { path: big.path }, size: big.size - 1, sha256: big.sha256 }), /has 12582912 bytes, expected 12582911/);
  assert.equal(proxy.count('CreateMultipartUpload') + proxy.count('PutObject'), 0);
  // A body (single part or multipart) is checked whole before any request.
  for (const body of [Buffer.from('{"a":1}\n'), big.data]) {
    await assert.rejects(d.put({ key, source: { body }, size: body.length, sha256: 'e'.repeat(64) }), /the body of .* has sha256 [0-9a-f]{64}, expected e{64}: the source changed after it was sealed/);
  }
  assert.equal(proxy.count('CreateMultipartUpload') + proxy.count('PutObject') + proxy.count('UploadPart'), 0);
  await assert.rejects(d.put({ key, source: { path: join(dir, 'missing') }, size: 1, sha256: 'a'.repeat(64) }), /cannot read the source: .*missing does not exist \(ENOENT\)/);

  // A file that grows while it is uploaded (one part at a time, the first held 300 ms): the bytes
  // past its declared size are noticed before the last part is sent.
  const growing = join(dir, 'growing.ndjson.gz');
  await writeFile(growing, big.data);
  proxy.clearLog();
  proxy.rule({ op: 'UploadPart', times: 1, fault: { type: 'stall', ms: 300 } });
  const put = dest({ queueSize: 1 }).put({ key, source: { path: growing }, size: big.size, sha256: big.sha256 });
  put.catch(() => undefined);
  for (let waited = 0; proxy.count('UploadPart') === 0; waited += 10) {
    assert.ok(waited < 10_000, 'no part was started');
    await new Promise((r) => setTimeout(r, 10));
  }
  await appendFile(growing, '{"late":true}\n');
  await assert.rejects(put, new RegExp(`growing.ndjson.gz has more than ${big.size} bytes, expected ${big.size}: the source changed after it was sealed`));
  proxy.clearRules();
  assert.equal(proxy.count('UploadPart'), 2, 'the last part was not sent');
  assert.equal(proxy.count('CompleteMultipartUpload'), 0);
  assert.equal(await d.head(key), undefined);
  assert.deepEqual(await s3.openUploads(), []);
  await assert.rejects(d.put({ key: '/abs', source: { body: Buffer.alloc(0) }, size: 0, sha256: sha256(Buffer.alloc(0)) }), (e: unknown) => e instanceof CronLogError && e.code === 'USAGE');
});

test('abort mid-upload: rejects with ABORTED, no object, no open multipart upload', async () => {
  const d = dest({ queueSize: 1 });
  const key = 'abort/2024-01-15/00-01.ndjson.gz';
  const ac = new AbortController();
  proxy.rule({
    op: 'UploadPart',
    when: (r) => {
      if (r.query['partNumber'] === '2') ac.abort(new Error('shutting down'));
      return false;
    },
    fault: { type: 'error', status: 500 },
  });
  await assert.rejects(
    d.put({ key, source: { path: big.path }, size: big.size, sha256: big.sha256, signal: ac.signal }),
    (e: unknown) => e instanceof CronLogError && e.code === 'ABORTED' && e.message.includes(key),
  );
  assert.equal(proxy.count('CompleteMultipartUpload'), 0);
  assert.equal(proxy.count('UploadPart'), 2, 'no part is started after the abort');
  assert.equal(proxy.count('AbortMultipartUpload') >= 1, true);
  assert.equal(await d.head(key), undefined);
  assert.deepEqual(await s3.openUploads(), []);
});

test('probe: bucket, put, get, delete all OK and nothing left behind', async () => {
  const d = dest();
  const r = await d.probe('api-logs');
  assert.equal(r.ok, true, JSON.stringify(r));
  assert.deepEqual(r.steps.map((s) => [s.name, s.status]), [['bucket', 'ok'], ['put', 'ok'], ['get', 'ok'], ['delete', 'ok']]);
  assert.match(r.destination, /^s3:\/\/test-[0-9a-f]+ \(endpoint http:\/\/127\.0\.0\.1:\d+\)$/);
  assert.deepEqual((await keys(d, 'api-logs/')).filter((k) => k.includes('probe')), []);
});

test('probe of a missing bucket: "bucket X does not exist in region R"', async () => {
  const d = dest({ bucket: 'no-such-bucket' }, 0);
  const r = await d.probe('api-logs');
  assert.equal(r.ok, false);
  assert.equal(r.steps[0]?.status, 'failed');
  assert.equal(r.steps[0]?.reason, 'no-such-bucket');
  assert.match(r.steps[0]?.message ?? '', /^bucket no-such-bucket does not exist in region us-east-1 \(endpoint http:\/\/127\.0\.0\.1:\d+\)$/);
  assert.deepEqual(r.steps.map((s) => s.status), ['failed', 'failed', 'skipped', 'skipped']);
});

test('probe with an unknown access key id: "the AWS credentials are invalid" (s3rver does not verify SigV4 signatures)', async () => {
  const d = dest({ accessKeyId: 'AKIDUNKNOWN', secretAccessKey: 'wJalrXUtnFEMI-very-secret' }, 0);
  const r = await d.probe('api-logs');
  assert.equal(r.ok, false);
  assert.equal(r.steps[0]?.message, 'the AWS credentials are invalid: the access key id is not known to S3');
  assert.equal(r.steps[0]?.reason, 'invalid-credentials');
  assert.ok(!JSON.stringify(r).includes('wJalrXUtnFEMI-very-secret'));
  // s3rver accepts any secret for a known key id (it does not check V4 signatures), so a wrong
  // secret can only be shown through an injected SignatureDoesNotMatch:
  const lax = await dest({ secretAccessKey: 'not-the-secret' }, 0).probe('api-logs');
  assert.equal(lax.ok, true, 's3rver does not verify signatures');
  proxy.rule({ op: 'ListObjectsV2', times: 1, fault: { type: 'error', status: 403, code: 'SignatureDoesNotMatch' } });
  const sig = await dest({}, 0).probe('api-logs');
  assert.equal(sig.steps[0]?.message, 'the AWS credentials are invalid: the request signature does not match: check the secret access key');
});

test('probe with PutObject denied: "access denied to bucket X ... (s3:PutObject on X/prefix/*)"', async () => {
  proxy.rule({ op: 'PutObject', fault: { type: 'error', status: 403, code: 'AccessDenied', message: 'Access Denied' } });
  const r = await dest({}, 0).probe('api-logs');
  assert.equal(r.ok, false);
  assert.deepEqual(r.steps.map((s) => s.status), ['ok', 'failed', 'skipped', 'skipped']);
  assert.equal(
    r.steps[1]?.message,
    `access denied to bucket ${s3.bucket}: check the credentials and the IAM policy (s3:PutObject on ${s3.bucket}/api-logs/*)`,
  );
});

test('probe of an unreachable endpoint: "cannot reach S3 endpoint ..."', async () => {
  const d = createDestination({
    kind: 's3',
    s3: { bucket: s3.bucket, region: s3.region, endpoint: 'http://127.0.0.1:1', forcePathStyle: true, accessKeyId: 'x', secretAccessKey: 'y' },
    retryAttempts: 0,
  });
  open.push(d);
  const r = await d.probe('api-logs');
  assert.equal(r.ok, false);
  assert.equal(r.steps[0]?.message, 'cannot reach S3 endpoint http://127.0.0.1:1: ECONNREFUSED');
  assert.equal(r.steps[0]?.reason, 'network');
});

test('close() is idempotent and later calls fail clearly', async () => {
  const d = dest();
  await d.close();
  await d.close();
  await d.destroy();
  await d[Symbol.asyncDispose]();
  await assert.rejects(d.head('a/b'), (e: unknown) => e instanceof CronLogError && e.code === 'DESTINATION_UNAVAILABLE' && /is closed/.test(e.message));
});

/** Resolves once `n` UploadPart requests have reached the proxy. */
async function partsSent(n: number): Promise<void> {
  for (let waited = 0; proxy.count('UploadPart') < n; waited += 10) {
    assert.ok(waited < 10_000, `${proxy.count('UploadPart')} of ${n} parts were sent`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

test('close() waits for a put in flight: the put completes, then close() resolves and refuses new work', async () => {
  const d = dest({ queueSize: 1 });
  const key = 'lifecycle/close-waits.ndjson.gz';
  proxy.rule({ op: 'UploadPart', times: 1, fault: { type: 'stall', ms: 300 } });
  const put = d.put({ key, source: { path: big.path }, size: big.size, sha256: big.sha256 });
  await partsSent(1);
  let closed = false;
  const closing = d.close().then(() => (closed = true));
  await assert.rejects(d.head(key), (e: unknown) => e instanceof CronLogError && e.code === 'DESTINATION_UNAVAILABLE' && /is closed/.test(e.message));
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(closed, false, 'close() waits while the put runs');
  const r = await put;
  assert.equal(r.key, key);
  await closing;
  assert.equal(proxy.count('CompleteMultipartUpload'), 1);
  assert.deepEqual(await dest().head(key), { key, size: big.size, sha256: big.sha256 });
});

test('destroy() aborts a put in flight: ABORTED, nothing at the key, its multipart upload aborted', async () => {
  // While a part is being sent (held 300 ms by the proxy).
  const d = dest({ queueSize: 1 });
  const key = 'lifecycle/destroy-mid-parts.ndjson.gz';
  proxy.rule({ op: 'UploadPart', times: 1, fault: { type: 'stall', ms: 300 } });
  const put = d.put({ key, source: { path: big.path }, size: big.size, sha256: big.sha256 });
  put.catch(() => undefined);
  await partsSent(1);
  await d.destroy();
  await assert.rejects(put, (e: unknown) => e instanceof CronLogError && e.code === 'ABORTED' && e.message.includes(key) && /was destroyed/.test(e.message));
  assert.equal(proxy.count('UploadPart'), 1, 'no part is sent after destroy()');
  assert.equal(proxy.count('CompleteMultipartUpload'), 0);
  assert.ok(proxy.count('AbortMultipartUpload') >= 1);
  await d.close();

  // While every part is sent and the put waits for `after` to create the object.
  proxy.clearRules();
  proxy.clearLog();
  const e = dest();
  const waiting = 'lifecycle/destroy-waiting.ndjson.gz';
  const gated = e.put({ key: waiting, source: { path: big.path }, size: big.size, sha256: big.sha256, after: new Promise<void>(() => undefined) });
  gated.catch(() => undefined);
  await partsSent(3);
  await e.destroy();
  await assert.rejects(gated, (err: unknown) => err instanceof CronLogError && err.code === 'ABORTED');
  assert.equal(proxy.count('CompleteMultipartUpload'), 0);

  const check = dest();
  assert.equal(await check.head(key), undefined);
  assert.equal(await check.head(waiting), undefined);
  assert.deepEqual(await s3.openUploads(), []);
});

destinationContract('s3', () => ({
  make: () => dest(),
  describe: /^s3:\/\/test-[0-9a-f]+ \(endpoint http:\/\/127\.0\.0\.1:\d+\)$/,
  probeFirstStep: 'bucket',
  largeSize: 12 * MiB,
}));
