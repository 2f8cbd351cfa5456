/**
 * The S3 destination under injected faults (fault proxy in front of s3rver): transient faults are
 * retried and counted; faults past retryAttempts fail the put with DELIVERY_FAILED, and then no
 * object is visible at the key and no multipart upload is left open.
 */
import { after, before, beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CronLogError } from '../../../src/errors.js';
import { createDestination, type Destination, type DestinationTuning, type S3Options } from '../../../src/deliver/index.js';
import { startFaultProxy, type FaultProxy } from '../../helpers/fault-proxy.js';
import { startTestS3, type TestS3 } from '../../helpers/s3.js';

const MiB = 1024 * 1024;
let s3: TestS3;
let proxy: FaultProxy;
let dir: string;
let big: { path: string; size: number; sha256: string; data: Buffer };
let direct: Destination;
const open: Destination[] = [];

function dest(retryAttempts = 2, over: Partial<S3Options> = {}, tuning: DestinationTuning = {}): Destination {
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
    tuning: { retryBaseDelayMs: 5, retryMaxDelayMs: 40, socketTimeoutMs: 10_000, ...tuning },
  });
  open.push(d);
  return d;
}

const putBig = (d: Destination, key: string): ReturnType<Destination['put']> => d.put({ key, source: { path: big.path }, size: big.size, sha256: big.sha256 });

async function assertDelivered(key: string): Promise<void> {
  assert.deepEqual(await direct.head(key), { key, size: big.size, sha256: big.sha256 });
  const hash = createHash('sha256');
  for await (const c of await direct.get(key)) hash.update(c as Buffer);
  assert.equal(hash.digest('hex'), big.sha256);
  assert.deepEqual(await s3.openUploads(), []);
}

async function assertNothingAt(key: string): Promise<void> {
  assert.equal(await direct.head(key), undefined, `no object may be visible at ${key}`);
  assert.deepEqual(await s3.openUploads(), [], 'no multipart upload may be left open');
}

before(async () => {
  s3 = await startTestS3();
  proxy = await startFaultProxy(s3.endpoint);
  dir = await mkdtemp(join(tmpdir(), 'cls-s3-faults-'));
  const data = randomBytes(12 * MiB);
  const path = join(dir, 'hour.ndjson.gz');
  await writeFile(path, data);
  big = { path, size: data.length, sha256: createHash('sha256').update(data).digest('hex'), data };
  direct = createDestination({
    kind: 's3',
    s3: { bucket: s3.bucket, region: s3.region, endpoint: s3.endpoint, forcePathStyle: true, accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
    retryAttempts: 0,
  });
});

after(async () => {
  await Promise.all([direct, ...open].map((d) => d.close()));
  await proxy.close();
  await s3.close();
  await rm(dir, { recursive: true, force: true });
});

beforeEach(() => {
  proxy.clearRules();
  proxy.clearLog();
});

test('503 on the first two UploadPart requests: retried, 3 attempts reported', async () => {
  const rule = proxy.rule({ op: 'UploadPart', times: 2, fault: { type: 'error', status: 503, code: 'SlowDown' } });
  const key = 'faults/503-parts.ndjson.gz';
  const r = await putBig(dest(), key);
  assert.equal(rule.faulted, 2);
  assert.equal(r.attempts, 3);
  assert.equal(proxy.count('UploadPart'), 5);
  assert.equal(proxy.count('CreateMultipartUpload'), 1, 'part retries do not restart the upload');
  await assertDelivered(key);
});

test('500 on CreateMultipartUpload and on CompleteMultipartUpload: retried', async () => {
  proxy.rule({ op: 'CreateMultipartUpload', times: 1, fault: { type: 'error', status: 500 } });
  proxy.rule({ op: 'CompleteMultipartUpload', times: 1, fault: { type: 'error', status: 500 } });
  const key = 'faults/500-create-complete.ndjson.gz';
  const r = await putBig(dest(), key);
  assert.equal(r.attempts, 3);
  assert.equal(proxy.count('CreateMultipartUpload'), 2);
  assert.equal(proxy.count('CompleteMultipartUpload'), 2);
  await assertDelivered(key);
});

test('connection reset in the middle of an UploadPart: retried', async () => {
  const rule = proxy.rule({ op: 'UploadPart', times: 1, fault: { type: 'reset' } });
  const key = 'faults/reset-part.ndjson.gz';
  const r = await putBig(dest(), key);
  assert.equal(rule.faulted, 1);
  assert.equal(r.attempts, 2);
  await assertDelivered(key);
});

test('a retried part is read again from the file: every try of a part sends its whole range, byte for byte, with its SHA-256 as payload hash', async () => {
  // Part 1: the connection is reset once its first bytes arrived (the first stream is left half read);
  // part 2: a 500 once its body was read whole.
  proxy.rule({ op: 'UploadPart', when: (r) => r.query['partNumber'] === '1', times: 1, fault: { type: 'reset' } });
  proxy.rule({ op: 'UploadPart', when: (r) => r.query['partNumber'] === '2', times: 1, fault: { type: 'error', status: 500 } });
  const key = 'faults/retried-part-bytes.ndjson.gz';
  const r = await putBig(dest(), key);
  assert.equal(r.attempts, 3);
  const partSize = 5 * MiB;
  const rangeOf = (n: number): Buffer => big.data.subarray((n - 1) * partSize, Math.min(n * partSize, big.size));
  const tries = proxy.requests.filter((q) => q.op === 'UploadPart');
  assert.deepEqual(tries.map((q) => q.query['partNumber']).sort(), ['1', '1', '2', '2', '3']);
  for (const q of tries) {
    const range = rangeOf(Number(q.query['partNumber']));
    assert.equal(q.headers['x-amz-content-sha256'], createHash('sha256').update(range).digest('hex'), `part ${String(q.query['partNumber'])}: the payload hash of its range`);
    if (q.fault === 'reset') continue;
    assert.equal(q.bodyBytes, range.length, `part ${String(q.query['partNumber'])}: every try sends the whole range`);
    if (q.fault === undefined) assert.equal(q.bodySha256, createHash('sha256').update(range).digest('base64'), `part ${String(q.query['partNumber'])}: the bytes of its range`);
  }
  await assertDelivered(key);
});

test('a stalled UploadPart times out (socket inactivity) and is retried', async () => {
  const rule = proxy.rule({ op: 'UploadPart', times: 1, fault: { type: 'stall', ms: 4_000 } });
  const key = 'faults/stall-part.ndjson.gz';
  const r = await putBig(dest(2, {}, { socketTimeoutMs: 1_000 }), key);
  assert.equal(rule.faulted, 1);
  assert.ok(r.attempts >= 2, `attempts ${r.attempts}`);
  await assertDelivered(key);
});

test('throttled single PutObject (503 SlowDown twice): retried', async () => {
  proxy.rule({ op: 'PutObject', times: 2, fault: { type: 'error', status: 503, code: 'SlowDown' } });
  const body = Buffer.from('{"hour":"manifest"}\n');
  const key = 'faults/slowdown.manifest.json';
  const r = await dest().put({ key, source: { body }, size: body.length, sha256: createHash('sha256').update(body).digest('hex') });
  assert.equal(r.attempts, 3);
  assert.equal((await direct.head(key))?.size, body.length);
});

test('the CompleteMultipartUpload response is lost: the object is verified by HEAD and the put succeeds', async () => {
  proxy.rule({ op: 'CompleteMultipartUpload', times: 1, fault: { type: 'reset-response' } });
  const key = 'faults/lost-complete.ndjson.gz';
  const r = await putBig(dest(), key);
  assert.ok(r.attempts >= 2, `attempts ${r.attempts}`);
  assert.equal(r.alreadyPresent, undefined);
  await assertDelivered(key);
});

test('the CreateMultipartUpload response is lost: the orphaned upload is found and aborted', async () => {
  proxy.rule({ op: 'CreateMultipartUpload', times: 1, fault: { type: 'reset-response' } });
  const key = 'faults/lost-create.ndjson.gz';
  await putBig(dest(), key);
  assert.equal(proxy.count('CreateMultipartUpload'), 2);
  assert.equal(proxy.count('ListMultipartUploads'), 1);
  assert.equal(proxy.count('AbortMultipartUpload'), 1);
  await assertDelivered(key);
});

test('the multipart upload vanishes (NoSuchUpload on a part): the whole upload restarts once', async () => {
  proxy.rule({ op: 'UploadPart', when: (r) => r.query['partNumber'] === '2', times: 1, fault: { type: 'error', status: 404, code: 'NoSuchUpload' } });
  const key = 'faults/no-such-upload.ndjson.gz';
  const r = await putBig(dest(), key);
  assert.equal(r.attempts, 2);
  assert.equal(proxy.count('CreateMultipartUpload'), 2, 'a new upload id');
  await assertDelivered(key);
});

test('UploadPart failing past retryAttempts: DELIVERY_FAILED naming the key and the last error; nothing visible, upload aborted', async () => {
  const retryAttempts = 2;
  proxy.rule({ op: 'UploadPart', when: (r) => r.query['partNumber'] === '2', fault: { type: 'error', status: 503 } });
  const key = 'faults/give-up-part.ndjson.gz';
  await assert.rejects(putBig(dest(retryAttempts), key), (e: unknown) => {
    assert.ok(e instanceof CronLogError);
    assert.equal(e.code, 'DELIVERY_FAILED');
    assert.match(e.message, /^cannot deliver faults\/give-up-part\.ndjson\.gz to s3:\/\/test-[0-9a-f]+ \(endpoint http:\/\/127\.0\.0\.1:\d+\): UploadPart: S3 failed with ServiceUnavailable \(HTTP 503\): .* \(after \d+ attempts\)$/);
    return true;
  });
  assert.equal(proxy.count('UploadPart', (r) => r.query['partNumber'] === '2'), retryAttempts + 1, 'part 2 tried exactly 1 + retryAttempts times');
  assert.equal(proxy.count('CompleteMultipartUpload'), 0);
  assert.ok(proxy.count('AbortMultipartUpload') >= 1);
  await assertNothingAt(key);
});

test('CompleteMultipartUpload failing past retryAttempts: DELIVERY_FAILED, nothing visible, upload aborted', async () => {
  proxy.rule({ op: 'CompleteMultipartUpload', fault: { type: 'error', status: 500 } });
  const key = 'faults/give-up-complete.ndjson.gz';
  await assert.rejects(putBig(dest(1), key), /^CronLogError: cannot deliver faults\/give-up-complete\.ndjson\.gz .*CompleteMultipartUpload: S3 failed with InternalError \(HTTP 500\)/);
  assert.equal(proxy.count('CompleteMultipartUpload'), 2);
  await assertNothingAt(key);
});

test('connection resets on every CreateMultipartUpload: DELIVERY_FAILED naming the network error', async () => {
  proxy.rule({ op: 'CreateMultipartUpload', fault: { type: 'reset' } });
  const key = 'faults/give-up-create.ndjson.gz';
  await assert.rejects(putBig(dest(1), key), (e: unknown) => e instanceof CronLogError && e.code === 'DELIVERY_FAILED' && /CreateMultipartUpload: cannot reach S3 endpoint .*ECONNRESET/.test(e.message));
  assert.equal(proxy.count('CreateMultipartUpload'), 2);
  await assertNothingAt(key);
});

test('when even the abort fails, the error says so; the incomplete upload is still invisible', async () => {
  proxy.rule({ op: 'UploadPart', when: (r) => r.query['partNumber'] === '3', fault: { type: 'error', status: 503 } });
  proxy.rule({ op: 'AbortMultipartUpload', fault: { type: 'error', status: 503 } });
  const key = 'faults/abort-fails.ndjson.gz';
  await assert.rejects(putBig(dest(1), key), (e: unknown) => {
    assert.ok(e instanceof CronLogError && e.code === 'DELIVERY_FAILED');
    assert.match(e.message, /UploadPart: S3 failed with ServiceUnavailable/);
    assert.match(e.message, /multipart upload [0-9a-f]+ could not be aborted .*AbortIncompleteMultipartUpload/);
    return true;
  });
  assert.equal(await direct.head(key), undefined);
  const left = await s3.openUploads();
  assert.equal(left.length, 1);
  assert.equal(left[0]?.key, key);
  // Clean up through the real server so later tests start empty.
  proxy.clearRules();
  const cleanup = dest(0);
  await assert.rejects(cleanup.put({ key, source: { path: big.path }, size: big.size, sha256: 'e'.repeat(64) }));
  await rm(join(s3.directory, s3.bucket, '._S3rver_uploads', left[0]?.uploadId ?? 'x'), { recursive: true, force: true });
  assert.deepEqual(await s3.openUploads(), []);
});
