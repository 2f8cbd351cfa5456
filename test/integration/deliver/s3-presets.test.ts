/**
 * The S3 destination against each S3_PROVIDER preset's store, played by the fault proxy in front
 * of s3rver (test/helpers/store-emulation.ts: refused headers, digest checks, ETag rules):
 *  - with the preset's checksum mode, a single-part and a multipart object are delivered and
 *    hash to what was declared (the manifest's SHA-256), and the wire carries exactly the mode's
 *    integrity headers (no x-amz-checksum-* / x-amz-sdk-checksum-algorithm in MD5 / NONE mode);
 *  - without it (SHA256 / CRC32C against a store that refuses x-amz-checksum-*), the put fails at
 *    once, creates nothing, and its message names S3_CHECKSUM_ALGORITHM and the value to use;
 *  - a byte flipped in transit never ends as a silently wrong object: Content-MD5 makes the store
 *    answer BadDigest (retried), and in NONE mode the verification after the upload catches it;
 *  - doctor's probe, with the configured mode, names the setting when the store refuses it.
 */
import { after, before, beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig, type S3Provider } from '../../../src/config/index.js';
import { createDestination, type Destination, type S3Options } from '../../../src/deliver/index.js';
import { checkDestination } from '../../../src/ops/doctor.js';
import { startFaultProxy, type FaultProxy, type RequestRecord } from '../../helpers/fault-proxy.js';
import { startTestS3, type TestS3 } from '../../helpers/s3.js';
import { STORE_PROFILES } from '../../helpers/store-emulation.js';

const MiB = 1024 * 1024;
let s3: TestS3;
let proxy: FaultProxy;
let dir: string;
let big: { path: string; size: number; sha256: string };
let small: { body: Buffer; size: number; sha256: string };
let direct: Destination;
const open: Destination[] = [];

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** A destination of `provider` reaching s3rver through the proxy (the endpoint is the one explicit override). */
function dest(provider: S3Provider, over: Partial<S3Options> = {}, retryAttempts = 2): Destination {
  const d = createDestination({
    kind: 's3',
    s3: {
      provider,
      bucket: s3.bucket,
      endpoint: proxy.endpoint,
      accessKeyId: s3.accessKeyId,
      secretAccessKey: s3.secretAccessKey,
      partSizeMB: 5,
      // AWS S3 is addressed virtual-hosted by default: s3rver needs path style.
      ...(provider === 'aws' ? { forcePathStyle: true } : {}),
      ...(provider === 'b2' ? { region: 'us-west-004' } : {}),
      ...over,
    },
    retryAttempts,
    tuning: { retryBaseDelayMs: 5, retryMaxDelayMs: 40 },
  });
  open.push(d);
  return d;
}

const putBig = (d: Destination, key: string): ReturnType<Destination['put']> => d.put({ key, source: { path: big.path }, size: big.size, sha256: big.sha256 });
const putSmall = (d: Destination, key: string): ReturnType<Destination['put']> => d.put({ key, source: { body: small.body }, size: small.size, sha256: small.sha256 });

/** The object at `key`, read straight from s3rver, hashes to `want` (what the manifest records). */
async function assertHashes(key: string, want: { size: number; sha256: string }): Promise<void> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const c of await direct.get(key)) {
    hash.update(c as Buffer);
    size += (c as Buffer).length;
  }
  assert.deepEqual({ size, sha256: hash.digest('hex') }, { size: want.size, sha256: want.sha256 }, key);
  assert.equal((await direct.head(key))?.sha256, want.sha256);
}

async function assertNothingAt(key: string): Promise<void> {
  assert.equal(await direct.head(key), undefined, `no object may be visible at ${key}`);
  assert.deepEqual(await s3.openUploads(), [], 'no multipart upload may be left open');
}

const amzChecksumHeaders = (r: RequestRecord): string[] => Object.keys(r.headers).filter((h) => /^x-amz-(checksum-|sdk-checksum-algorithm|trailer)/i.test(h));
const writes = (): RequestRecord[] => proxy.requests.filter((r) => r.op === 'PutObject' || r.op === 'UploadPart');

before(async () => {
  s3 = await startTestS3();
  proxy = await startFaultProxy(s3.endpoint);
  dir = await mkdtemp(join(tmpdir(), 'cls-s3-presets-'));
  const data = randomBytes(11 * MiB);
  const path = join(dir, 'hour.ndjson.gz');
  await writeFile(path, data);
  big = { path, size: data.length, sha256: sha256(data) };
  const body = Buffer.from('{"hour":"2026-12-07T07","parts":[]}\n'.repeat(40));
  small = { body, size: body.length, sha256: sha256(body) };
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
  proxy.emulate(undefined);
});

const EXPECTED_MODE: Record<S3Provider, 'SHA256' | 'MD5'> = { aws: 'SHA256', r2: 'MD5', gcs: 'MD5', b2: 'MD5', minio: 'SHA256', wasabi: 'MD5' };

for (const provider of Object.keys(EXPECTED_MODE) as S3Provider[]) {
  test(`${provider}: the preset's checksum mode delivers single-part and multipart objects that hash to their manifest`, async () => {
    proxy.emulate(STORE_PROFILES[provider]);
    const d = dest(provider);
    const bigKey = `presets/${provider}/hour.ndjson.gz`;
    const smallKey = `presets/${provider}/manifest.json`;
    await putBig(d, bigKey);
    await putSmall(d, smallKey);
    await assertHashes(bigKey, big);
    await assertHashes(smallKey, small);
    assert.deepEqual(await s3.openUploads(), []);

    const sent = writes();
    assert.equal(sent.length, 4, 'three parts and one PutObject, none refused or retried');
    for (const r of sent) {
      if (EXPECTED_MODE[provider] === 'MD5') {
        assert.deepEqual(amzChecksumHeaders(r), [], `${r.op} carries no x-amz-checksum-* header`);
        assert.equal(typeof r.headers['content-md5'], 'string', `${r.op} carries Content-MD5`);
      } else {
        assert.equal(r.headers['x-amz-checksum-sha256'], r.bodySha256, `${r.op} carries the SHA-256 of its body`);
      }
    }
    if (EXPECTED_MODE[provider] === 'MD5') {
      for (const r of proxy.requests) assert.deepEqual(amzChecksumHeaders(r), [], `${r.op}: no x-amz-checksum-* header in MD5 mode (HEAD included)`);
      // The multipart object is proved by its ETag where the store makes it from MD5s, else read back.
      const readBack = proxy.count('GetObject', (r) => r.key === bigKey);
      const multipartEtag: string = STORE_PROFILES[provider].multipartEtag;
      assert.equal(readBack, multipartEtag === 'md5-of-md5s' ? 0 : 1, `GetObject of the multipart object with ${multipartEtag} ETags`);
      // The single PUT's ETag (the MD5 of the body) proves it: no HEAD, no GET.
      assert.equal(proxy.count('GetObject', (r) => r.key === smallKey), 0);
    }
  });
}

test('NONE: no integrity header on the wire; the stored objects are verified by ETag or by reading them back', async () => {
  proxy.emulate(STORE_PROFILES.gcs);
  const d = dest('gcs', { checksumAlgorithm: 'NONE' });
  await putBig(d, 'presets/none/hour.ndjson.gz');
  await putSmall(d, 'presets/none/manifest.json');
  await assertHashes('presets/none/hour.ndjson.gz', big);
  await assertHashes('presets/none/manifest.json', small);
  for (const r of proxy.requests) {
    assert.deepEqual(amzChecksumHeaders(r), [], `${r.op}: no x-amz-checksum-* header`);
    assert.equal(r.headers['content-md5'], undefined, `${r.op}: no Content-MD5`);
  }
  assert.equal(proxy.count('GetObject', (r) => r.key === 'presets/none/hour.ndjson.gz'), 1, 'the multipart object (opaque ETag) is read back');
});

const REFUSALS: { provider: S3Provider; algorithm: 'SHA256' | 'CRC32C'; answer: RegExp; single: boolean }[] = [
  { provider: 'r2', algorithm: 'SHA256', answer: /refused the x-amz-checksum-algorithm header .*NotImplemented, HTTP 501: Header 'x-amz-checksum-algorithm' with value 'SHA256' not implemented/, single: false },
  { provider: 'r2', algorithm: 'CRC32C', answer: /NotImplemented, HTTP 501/, single: true },
  { provider: 'gcs', algorithm: 'SHA256', answer: /refused the x-amz-checksum-sha256 header .*InvalidArgument, HTTP 400: Invalid argument\./, single: true },
  { provider: 'b2', algorithm: 'CRC32C', answer: /InvalidArgument, HTTP 400: Unsupported header 'x-amz-/, single: false },
];

for (const { provider, algorithm, answer, single } of REFUSALS) {
  test(`${provider} with S3_CHECKSUM_ALGORITHM=${algorithm}: the put fails at once, names the setting and the value to use, creates nothing`, async () => {
    proxy.emulate(STORE_PROFILES[provider]);
    const key = `presets/refused/${provider}-${algorithm}${single ? '.json' : '.ndjson.gz'}`;
    const d = dest(provider, { checksumAlgorithm: algorithm });
    await assert.rejects(single ? putSmall(d, key) : putBig(d, key), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'DELIVERY_FAILED');
      assert.match(err.message, new RegExp(`S3_CHECKSUM_ALGORITHM=${algorithm} sends`));
      assert.match(err.message, /set S3_CHECKSUM_ALGORITHM=MD5/);
      assert.match(err.message, answer);
      assert.match(err.message, /\(after 1 attempt\)/, 'a refusal is not retried');
      return true;
    });
    await assertNothingAt(key);
  });
}

test('MD5: a byte flipped in transit is refused by the store (BadDigest) and the part is sent again', async () => {
  proxy.emulate(STORE_PROFILES.r2);
  const corrupt = proxy.rule({ op: 'UploadPart', when: (r) => r.query['partNumber'] === '2', times: 1, fault: { type: 'corrupt' } });
  const key = 'presets/corrupt/md5.ndjson.gz';
  const r = await putBig(dest('r2'), key);
  assert.equal(corrupt.faulted, 1);
  assert.equal(proxy.count('UploadPart', (q) => q.status === 400), 1, 'the store answered BadDigest to the damaged part');
  assert.equal(r.attempts, 2);
  await assertHashes(key, big);
});

test('MD5 without retries: the damaged part fails the put with BadDigest, nothing is stored', async () => {
  proxy.emulate(STORE_PROFILES.r2);
  proxy.rule({ op: 'UploadPart', times: 1, fault: { type: 'corrupt' } });
  const key = 'presets/corrupt/md5-no-retry.ndjson.gz';
  await assert.rejects(putBig(dest('r2', {}, 0), key), /BadDigest/);
  await assertNothingAt(key);
});

test('NONE: a damaged single PUT that the store cannot check is caught by the verification and uploaded again', async () => {
  proxy.emulate(STORE_PROFILES.gcs);
  const corrupt = proxy.rule({ op: 'PutObject', times: 1, fault: { type: 'corrupt' } });
  const key = 'presets/corrupt/none.json';
  const r = await putSmall(dest('gcs', { checksumAlgorithm: 'NONE' }), key);
  assert.equal(corrupt.faulted, 1);
  assert.equal(proxy.count('PutObject'), 2, 'uploaded again after the verification failed');
  assert.ok(r.attempts >= 2);
  await assertHashes(key, small);
});

test('NONE: a damaged part of a multipart object (opaque ETag) is caught by reading it back and uploaded again', async () => {
  proxy.emulate(STORE_PROFILES.gcs);
  proxy.rule({ op: 'UploadPart', when: (r) => r.query['partNumber'] === '3', times: 1, fault: { type: 'corrupt' } });
  const key = 'presets/corrupt/none-multipart.ndjson.gz';
  await putBig(dest('gcs', { checksumAlgorithm: 'NONE' }), key);
  assert.equal(proxy.count('CreateMultipartUpload'), 2, 'the upload restarted after the read-back found other bytes');
  await assertHashes(key, big);
});

test('doctor: the probe writes with the configured mode and names the setting when the store refuses it', async () => {
  proxy.emulate(STORE_PROFILES.r2);
  const env = {
    DB_URI: 'mongodb://localhost:27017/myapp',
    S3_PROVIDER: 'r2',
    S3_BUCKET: s3.bucket,
    S3_ENDPOINT: proxy.endpoint,
    AWS_ACCESS_KEY_ID: s3.accessKeyId,
    AWS_SECRET_ACCESS_KEY: s3.secretAccessKey,
  };
  const refused = parseConfig({}, { ...env, S3_CHECKSUM_ALGORITHM: 'SHA256' });
  const bad = createDestination({ kind: 's3', s3: refused.s3 as S3Options, retryAttempts: 0 });
  open.push(bad);
  const checks = await checkDestination(refused, bad);
  const put = checks.find((c) => c.name === 'destination put');
  assert.equal(put?.ok, false);
  assert.match(put?.message ?? '', /the store refused the x-amz-(checksum-sha256|sdk-checksum-algorithm) header that S3_CHECKSUM_ALGORITHM=SHA256 sends \(NotImplemented, HTTP 501/);
  assert.match(put?.hint ?? '', /^set S3_CHECKSUM_ALGORITHM=MD5/);
  assert.equal(checks.find((c) => c.name === 'destination bucket')?.ok, true, 'the bucket itself is reachable');

  const fine = parseConfig({}, env);
  assert.equal(fine.s3.checksumAlgorithm, 'MD5', "the r2 preset's mode");
  const good = createDestination({ kind: 's3', s3: fine.s3 as S3Options, retryAttempts: 0 });
  open.push(good);
  const ok = await checkDestination(fine, good);
  assert.deepEqual(ok.filter((c) => !c.ok), []);
  assert.match(ok.find((c) => c.name === 'destination put')?.message ?? '', /S3_CHECKSUM_ALGORITHM=MD5: Content-MD5 accepted/);
});
