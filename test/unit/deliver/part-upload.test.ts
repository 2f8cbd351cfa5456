/**
 * The part upload (src/deliver/part-upload.ts) against a recording set of requests (each call
 * recorded, its answer scripted) and, for the bytes and the abort on a real server, s3rver:
 * a file's parts sent as fresh streams of their ranges (no part buffer), parts in flight bounded, parts in order, the gates of the put's ordering,
 * the abort of the open upload after any failure, and the refusal of a source that changed.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { appendFile, mkdtemp, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { CronLogError } from '../../../src/errors.js';
import { IntegrityError } from '../../../src/deliver/errors.js';
import { clientRequests, uploadParts, type PartBody, type PartUploadInput, type UploadRequests } from '../../../src/deliver/part-upload.js';
import { payloadSha256 } from '../../../src/deliver/part-body.js';
import { startTestS3, type TestS3 } from '../../helpers/s3.js';

const PART = 1024;
const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const tick = (ms = 5): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Call {
  op: 'putObject' | 'createMultipartUpload' | 'uploadPart' | 'completeMultipartUpload' | 'abortMultipartUpload';
  input: Record<string, unknown>;
  /** The bytes of the body the request's first try got. */
  body?: Buffer;
  /** What that body was: a Buffer, or a stream (of a file range). */
  kind?: 'buffer' | 'stream';
  /** The payload hash a range body carries for the signer. */
  payloadSha256?: string | undefined;
}

/** The body of each try (a Buffer in the input's Body, as the upload handed over its part buffers before). */
function tries(input: object, body: PartBody | undefined): PartBody {
  return typeof body === 'function' ? body : () => ((input as { Body?: Buffer }).Body ?? Buffer.alloc(0));
}

/** The bytes of one try's body. */
async function bytesOf(body: Buffer | Readable): Promise<Buffer> {
  if (Buffer.isBuffer(body)) return Buffer.from(body);
  const chunks: Buffer[] = [];
  for await (const c of body) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/**
 * UploadRequests that record every call. Each UploadPart is answered when `answerPart` says (by
 * default after a few ms); the other requests at once, or as `script` says.
 */
class Recorder implements UploadRequests {
  readonly calls: Call[] = [];
  inflight = 0;
  maxInflight = 0;
  /** Every UploadPart body is asked for a second time (a retried try) and must give the same bytes. */
  retryEachPart = false;
  answerPart: (partNumber: number) => Promise<void> = () => tick(2);
  script: Partial<Record<Call['op'], () => Promise<void>>> = {};

  private record(op: Call['op'], input: object): Call {
    const call: Call = { op, input: input as Record<string, unknown> };
    this.calls.push(call);
    return call;
  }

  /** Records the bytes of a first try's body (read now, as the client would send them). */
  private async recordBody(call: Call, body: PartBody): Promise<Buffer | Readable> {
    const first = body();
    call.kind = Buffer.isBuffer(first) ? 'buffer' : 'stream';
    call.payloadSha256 = payloadSha256(first);
    call.body = await bytesOf(first);
    return first;
  }

  ops(op: Call['op']): Call[] {
    return this.calls.filter((c) => c.op === op);
  }

  async putObject(input: object, body: PartBody): Promise<{ ETag: string }> {
    await this.recordBody(this.record('putObject', input), tries(input, body));
    await this.script.putObject?.();
    return { ETag: '"single"' };
  }

  async createMultipartUpload(input: object): Promise<{ UploadId: string }> {
    this.record('createMultipartUpload', input);
    await this.script.createMultipartUpload?.();
    return { UploadId: `upload-${this.ops('createMultipartUpload').length}` };
  }

  async uploadPart(input: { PartNumber?: number | undefined }, body: PartBody): Promise<{ ETag: string }> {
    const call = this.record('uploadPart', input);
    body = tries(input, body);
    this.inflight++;
    const first = await this.recordBody(call, body);
    if (this.retryEachPart) {
      const again = body();
      if (call.kind === 'stream') assert.ok(again instanceof Readable && again !== first, 'each try gets a stream of its own');
      assert.ok((await bytesOf(again)).equals(call.body as Buffer), `a retry of part ${String(input.PartNumber)} sends the same bytes`);
    }
    this.maxInflight = Math.max(this.maxInflight, this.inflight);
    try {
      await this.answerPart(input.PartNumber as number);
      return { ETag: `"etag-${input.PartNumber}"` };
    } finally {
      this.inflight--;
    }
  }

  async completeMultipartUpload(input: object): Promise<unknown> {
    this.record('completeMultipartUpload', input);
    await this.script.completeMultipartUpload?.();
    return {};
  }

  async abortMultipartUpload(input: object): Promise<unknown> {
    this.record('abortMultipartUpload', input);
    // Every part request has settled when the upload is aborted.
    assert.equal(this.inflight, 0, 'no part is in flight when the upload is aborted');
    await this.script.abortMultipartUpload?.();
    return {};
  }
}

let dir: string;
let s3: TestS3;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cls-part-upload-'));
  s3 = await startTestS3();
});

after(async () => {
  await s3.close();
  await rm(dir, { recursive: true, force: true });
});

async function fileOf(name: string, bytes: Buffer): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, bytes);
  return path;
}

function input(requests: UploadRequests, source: PartUploadInput['source'], data: Buffer, over: Partial<PartUploadInput> = {}): PartUploadInput {
  return {
    requests,
    params: { Bucket: 'b', Key: 'k', ChecksumAlgorithm: 'SHA256' },
    source,
    expected: { size: data.length, sha256: sha256(data), label: 'the source' },
    partSize: PART,
    queueSize: 2,
    algorithm: 'SHA256',
    ...over,
  };
}

test('parts of exactly partSize bytes go up in order, at most queueSize in flight', async () => {
  const data = randomBytes(20 * PART + 300);
  const path = await fileOf('ordered.bin', data);
  const rec = new Recorder();
  // Later parts answer first: the completion lists them in order all the same.
  rec.answerPart = (n) => tick(n % 3 === 0 ? 1 : 6);
  const out = await uploadParts(input(rec, { path }, data));
  assert.equal(out.digest.sha256, sha256(data));
  assert.equal(out.single, undefined);
  const parts = rec.ops('uploadPart');
  assert.deepEqual(parts.map((p) => p.input['PartNumber']), Array.from({ length: 21 }, (_, i) => i + 1), 'parts are sent in order');
  assert.deepEqual(parts.map((p) => p.body?.length), [...Array.from({ length: 20 }, () => PART), 300]);
  assert.ok(Buffer.concat(parts.map((p) => p.body as Buffer)).equals(data), 'the parts are the file, byte for byte');
  for (const p of parts) {
    assert.equal(p.input['ChecksumSHA256'], createHash('sha256').update(p.body as Buffer).digest('base64'), `part ${String(p.input['PartNumber'])} carries its checksum`);
  }
  assert.ok(rec.maxInflight <= 2, `${rec.maxInflight} parts were in flight at once`);
  const complete = rec.ops('completeMultipartUpload');
  assert.equal(complete.length, 1);
  const listed = (complete[0]?.input['MultipartUpload'] as { Parts: { PartNumber: number; ETag: string }[] }).Parts;
  assert.deepEqual(listed.map((p) => p.PartNumber), Array.from({ length: 21 }, (_, i) => i + 1));
  assert.deepEqual(listed.map((p) => p.ETag), Array.from({ length: 21 }, (_, i) => `"etag-${i + 1}"`));
  assert.equal(rec.ops('abortMultipartUpload').length, 0);
});

test('a file source is never held in part buffers: every try of a part (and of a single PutObject) is a fresh stream of its range, with its SHA-256 as payload hash', async () => {
  const data = randomBytes(5 * PART + 77);
  const path = await fileOf('streamed.bin', data);
  for (const algorithm of ['SHA256', 'CRC32C', 'MD5', 'NONE'] as const) {
    const rec = new Recorder();
    rec.retryEachPart = true;
    await uploadParts(input(rec, { path }, data, { algorithm, params: { Bucket: 'b', Key: 'k' } }));
    const parts = rec.ops('uploadPart');
    assert.equal(parts.length, 6);
    for (const [i, p] of parts.entries()) {
      const range = data.subarray(i * PART, Math.min((i + 1) * PART, data.length));
      assert.equal(p.kind, 'stream', `${algorithm}: part ${i + 1} is a stream of the file, not a part buffer`);
      assert.ok(p.body?.equals(range), `${algorithm}: part ${i + 1} is its range of the file`);
      assert.equal(p.payloadSha256, sha256(range), `${algorithm}: part ${i + 1} carries its SHA-256 for the signer`);
    }
  }
  // One PutObject: a stream of the whole file. A body source stays a Buffer (no payload hash: the signer hashes it).
  const small = data.subarray(0, PART - 1);
  const single = new Recorder();
  await uploadParts(input(single, { path: await fileOf('streamed-small.bin', small) }, small));
  assert.deepEqual([single.calls[0]?.kind, single.calls[0]?.payloadSha256], ['stream', sha256(small)]);
  assert.ok(single.calls[0]?.body?.equals(small));
  const fromBody = new Recorder();
  fromBody.retryEachPart = true;
  await uploadParts(input(fromBody, { body: data }, data));
  assert.deepEqual(new Set(fromBody.ops('uploadPart').map((c) => [c.kind, c.payloadSha256].join())), new Set(['buffer,']));
  assert.ok(Buffer.concat(fromBody.ops('uploadPart').map((c) => c.body as Buffer)).equals(data));
  // An empty file: one PutObject of no bytes.
  const empty = new Recorder();
  await uploadParts(input(empty, { path: await fileOf('empty.bin', Buffer.alloc(0)) }, Buffer.alloc(0)));
  assert.deepEqual(empty.calls.map((c) => [c.op, c.body?.length]), [['putObject', 0]]);
});

test('a source that fits in one part is one PutObject with its checksum; a body is checked whole before any request', async () => {
  const small = randomBytes(PART);
  const rec = new Recorder();
  const out = await uploadParts(input(rec, { path: await fileOf('small.bin', small) }, small));
  assert.deepEqual(out.single, { ETag: '"single"', VersionId: undefined, ChecksumSHA256: undefined, ChecksumCRC32C: undefined });
  assert.deepEqual(rec.calls.map((c) => c.op), ['putObject']);
  assert.ok(rec.calls[0]?.body?.equals(small));
  assert.equal(rec.calls[0]?.input['ChecksumSHA256'], createHash('sha256').update(small).digest('base64'));

  const body = randomBytes(3 * PART);
  const wrong = new Recorder();
  await assert.rejects(uploadParts(input(wrong, { body }, body, { expected: { size: body.length, sha256: 'e'.repeat(64), label: 'the body' } })), IntegrityError);
  assert.deepEqual(wrong.calls, [], 'nothing is sent for a body that does not match');
});

test('no part is sent before partsWaitFor resolves; the object is not completed before completionWaitsFor resolves', async () => {
  const data = randomBytes(6 * PART);
  const path = await fileOf('gated.bin', data);
  const rec = new Recorder();
  let openParts!: () => void;
  let openCompletion!: () => void;
  let read = 0;
  const upload = uploadParts(
    input(rec, { path }, data, {
      partsWaitFor: new Promise<void>((r) => (openParts = r)),
      completionWaitsFor: new Promise<void>((r) => (openCompletion = r)),
      onSourceRead: () => read++,
    }),
  );
  await tick(30);
  assert.deepEqual(rec.calls.map((c) => c.op), ['createMultipartUpload'], 'the upload is created while the key is checked');
  openParts();
  for (let waited = 0; rec.ops('uploadPart').length < 6 || rec.inflight > 0; waited += 5) {
    assert.ok(waited < 5_000, 'the parts were not sent');
    await tick();
  }
  await tick(30);
  assert.equal(read, 1, 'onSourceRead once the file was read');
  assert.equal(rec.ops('completeMultipartUpload').length, 0, 'not completed while completionWaitsFor is pending');
  openCompletion();
  await upload;
  assert.equal(rec.ops('completeMultipartUpload').length, 1);

  // A single PutObject creates the object: it waits for both.
  const small = randomBytes(100);
  const single = new Recorder();
  let openSingle!: () => void;
  const put = uploadParts(input(single, { body: small }, small, { completionWaitsFor: new Promise<void>((r) => (openSingle = r)) }));
  await tick(20);
  assert.equal(single.calls.length, 0);
  openSingle();
  await put;
  assert.deepEqual(single.calls.map((c) => c.op), ['putObject']);
});

test('a gate that rejects stops the upload at once with its error, and the upload is aborted', async () => {
  const data = randomBytes(8 * PART);
  const path = await fileOf('refused.bin', data);
  // The key check refuses: no part is sent.
  const refused = new Recorder();
  const already = new Error('already delivered');
  await assert.rejects(uploadParts(input(refused, { path }, data, { partsWaitFor: Promise.reject(already) })), (e: unknown) => e === already);
  assert.equal(refused.ops('uploadPart').length, 0);
  assert.deepEqual(refused.ops('abortMultipartUpload').map((c) => c.input['UploadId']), ['upload-1']);

  // The facts check fails while parts are being sent (each held 20 ms, one at a time).
  const stopped = new Recorder();
  stopped.answerPart = () => tick(20);
  const facts = new Error('the facts check failed');
  let fail!: (e: unknown) => void;
  const upload = uploadParts(input(stopped, { path }, data, { queueSize: 1, completionWaitsFor: new Promise<void>((_, rj) => (fail = rj)) }));
  for (let waited = 0; stopped.ops('uploadPart').length === 0; waited += 5) {
    assert.ok(waited < 5_000, 'no part was sent');
    await tick();
  }
  fail(facts);
  await assert.rejects(upload, (e: unknown) => e === facts);
  assert.ok(stopped.ops('uploadPart').length < 8, `${stopped.ops('uploadPart').length} of 8 parts were sent`);
  assert.equal(stopped.ops('completeMultipartUpload').length, 0);
  assert.equal(stopped.ops('abortMultipartUpload').length, 1);
});

test('a failed part: no new part is sent, the parts in flight are waited for, the upload is aborted, the first error thrown', async () => {
  const data = randomBytes(12 * PART);
  const path = await fileOf('failing.bin', data);
  const rec = new Recorder();
  const boom = Object.assign(new Error('part 3 failed'), { name: 'InternalError' });
  rec.answerPart = async (n) => {
    await tick(n === 3 ? 2 : 15);
    if (n === 3) throw boom;
  };
  await assert.rejects(uploadParts(input(rec, { path }, data, { queueSize: 3 })), (e: unknown) => e === boom);
  const sent = rec.ops('uploadPart').map((c) => c.input['PartNumber'] as number);
  assert.ok(Math.max(...sent) <= 4, `parts ${sent.join(',')} were sent; none after the failure was known`);
  assert.equal(rec.ops('completeMultipartUpload').length, 0);
  assert.deepEqual(rec.ops('abortMultipartUpload').map((c) => c.input['UploadId']), ['upload-1']);

  // The completion fails: its upload is aborted too (NoSuchUpload, should it have completed after all).
  const late = new Recorder();
  late.script.completeMultipartUpload = () => Promise.reject(new Error('connection reset'));
  await assert.rejects(uploadParts(input(late, { path }, data)), /connection reset/);
  assert.equal(late.ops('abortMultipartUpload').length, 1);

  // A failed abort does not hide the error of the upload.
  const stuck = new Recorder();
  stuck.answerPart = () => Promise.reject(boom);
  stuck.script.abortMultipartUpload = () => Promise.reject(new Error('S3 unreachable'));
  await assert.rejects(uploadParts(input(stuck, { path }, data)), (e: unknown) => e === boom);
  assert.equal(stuck.ops('abortMultipartUpload').length, 1);
});

test('a failure while CreateMultipartUpload is in flight: the upload is aborted once its id is known', async () => {
  const data = randomBytes(4 * PART);
  const path = await fileOf('slow-create.bin', data);
  const rec = new Recorder();
  rec.script.createMultipartUpload = () => tick(50);
  const signal = AbortSignal.abort(new CronLogError('ABORTED', 'shutting down'));
  await assert.rejects(uploadParts(input(rec, { path }, data, { signal })), (e: unknown) => e instanceof CronLogError && e.code === 'ABORTED');
  assert.deepEqual(rec.calls.map((c) => c.op), ['createMultipartUpload', 'abortMultipartUpload']);
  assert.equal(rec.calls[1]?.input['UploadId'], 'upload-1');
});

test('abort: no part is started after the signal, the upload is aborted', async () => {
  const data = randomBytes(10 * PART);
  const path = await fileOf('abort.bin', data);
  const rec = new Recorder();
  const ac = new AbortController();
  rec.answerPart = async (n) => {
    if (n === 2) ac.abort(new CronLogError('ABORTED', 'shutting down'));
    await tick(10);
  };
  await assert.rejects(uploadParts(input(rec, { path }, data, { queueSize: 1, signal: ac.signal })), /shutting down/);
  assert.deepEqual(rec.ops('uploadPart').map((c) => c.input['PartNumber']), [1, 2]);
  assert.equal(rec.ops('abortMultipartUpload').length, 1);
  assert.equal(rec.ops('completeMultipartUpload').length, 0);
});

test('a source that changed is refused before its last part is sent: grown, shrunk or other bytes', async () => {
  const data = randomBytes(6 * PART + 10);
  const cases: [string, (path: string) => Promise<void>, RegExp][] = [
    ['grown', (p) => appendFile(p, 'late line\n'), /has more than 6154 bytes, expected 6154: the source changed after it was sealed/],
    ['shrunk', (p) => truncate(p, 5 * PART), /has 5120 bytes, expected 6154: the source changed after it was sealed|ended early/],
    ['changed', async (p) => writeFile(p, Buffer.concat([data.subarray(0, 3 * PART), randomBytes(data.length - 3 * PART)])), /has sha256 [0-9a-f]{64}, expected [0-9a-f]{64}: the source changed after it was sealed/],
  ];
  for (const [name, change, message] of cases) {
    const path = await fileOf(`${name}.bin`, data);
    const rec = new Recorder();
    let changed = false;
    // The first part is held until the file has changed under the upload.
    rec.answerPart = async (n) => {
      if (n === 1 && !changed) {
        await change(path);
        changed = true;
      }
      await tick(2);
    };
    let read = 0;
    await assert.rejects(uploadParts(input(rec, { path }, data, { queueSize: 1, onSourceRead: () => read++ })), (e: unknown) => e instanceof IntegrityError && e.phase === 'source' && message.test(e.message));
    assert.ok(rec.ops('uploadPart').length < 7, `${name}: the last part was not sent`);
    assert.equal(rec.ops('completeMultipartUpload').length, 0, `${name}: never completed`);
    assert.equal(rec.ops('abortMultipartUpload').length, 1, `${name}: the upload is aborted`);
    assert.equal(read, 0, `${name}: onSourceRead is not called for a source that changed`);
  }
});

test('on a real S3 server: the object is the file, byte for byte; after a failed part no upload is left open', async () => {
  const client = new S3Client({
    region: s3.region,
    endpoint: s3.endpoint,
    forcePathStyle: true,
    credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  try {
    const data = randomBytes(3 * PART * PART * 5 + 123);
    const partSize = 5 * PART * PART;
    const path = await fileOf('real.bin', data);
    const params = { Bucket: s3.bucket, Key: 'real/object.bin', ChecksumAlgorithm: 'SHA256' as const };
    await uploadParts(input(clientRequests(client), { path }, data, { params, partSize }));
    const out = await client.send(new GetObjectCommand({ Bucket: s3.bucket, Key: params.Key }));
    assert.ok(Buffer.from(await (out.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray()).equals(data));

    const real = clientRequests(client);
    const failing: UploadRequests = {
      ...real,
      uploadPart: (i, body) => (i.PartNumber === 3 ? Promise.reject(new Error('part 3 lost')) : real.uploadPart(i, body)),
    };
    await assert.rejects(uploadParts(input(failing, { path }, data, { params: { ...params, Key: 'real/failed.bin' }, partSize })), /part 3 lost/);
    assert.deepEqual(await s3.openUploads(), [], 'the failed multipart upload was aborted on the server');
  } finally {
    client.destroy();
  }
});
