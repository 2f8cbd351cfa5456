/**
 * End to end with S3_PROVIDER=r2 against the fault proxy playing Cloudflare R2 (refuses every
 * x-amz-checksum-* header with 501, checks Content-MD5) in front of s3rver: `run` (a child
 * process) delivers every finished hour with the preset's MD5 mode and no x-amz-checksum-* header
 * on the wire, each object hashes to its manifest's SHA-256 and `reconcile --deep` passes; with
 * S3_CHECKSUM_ALGORITHM=SHA256 `doctor` fails the put and names the setting to use.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { ObjectId } from 'mongodb';
import { createDestination } from '../../../src/deliver/index.js';
import { archiveEnv, waitFor } from '../../helpers/archive-env.js';
import { HOUR } from '../../helpers/archive-keys.js';
import { runCli, startCli } from '../../helpers/archiver-process.js';
import { startFaultProxy, type FaultProxy } from '../../helpers/fault-proxy.js';
import { startTestMongo, type TestMongo } from '../../helpers/mongo.js';
import { s3Options, startTestS3, type TestS3 } from '../../helpers/s3.js';
import { STORE_PROFILES } from '../../helpers/store-emulation.js';

let mongo: TestMongo;
let s3: TestS3;
let proxy: FaultProxy;
before(async () => {
  mongo = await startTestMongo();
  s3 = await startTestS3();
  proxy = await startFaultProxy(s3.endpoint);
  proxy.emulate(STORE_PROFILES.r2);
});
after(async () => {
  await proxy.close();
  await s3.close();
  await mongo.close();
});

/** The preset and the endpoint only: region, path style and checksum mode are the r2 preset's. */
const r2Vars = (): Record<string, string> => ({
  UPLOAD_PROVIDER: 's3',
  S3_PROVIDER: 'r2',
  S3_BUCKET: s3.bucket,
  S3_ENDPOINT: proxy.endpoint,
  AWS_ACCESS_KEY_ID: s3.accessKeyId,
  AWS_SECRET_ACCESS_KEY: s3.secretAccessKey,
});

interface Manifest {
  count: number;
  parts: Array<{ key: string; sha256: string; bytes: number }>;
}

test('S3_PROVIDER=r2: run delivers with Content-MD5, the objects hash to their manifests, reconcile --deep passes', { timeout: 120_000 }, async () => {
  const env = await archiveEnv(mongo);
  try {
    const prefix = `r2-${env.db}`;
    const vars = env.env({ ...r2Vars(), OUTPUT_DIRECTORY: prefix, SEAL_SCHEDULE: '*/2 * * * * *' });
    const run = startCli(['run', '--no-env-file'], vars);
    await run.waitFor('archiver started', 60_000);
    const h0 = Math.floor(Date.now() / HOUR) * HOUR - 2 * HOUR;
    const docs = Array.from({ length: 120 }, (_, i) => ({ _id: new ObjectId(), createdAt: new Date(h0 + Math.floor((i * 2 * HOUR) / 120)), i }));
    await env.client.db(env.db).collection('apilogs').insertMany(docs);
    const dest = createDestination({ kind: 's3', s3: s3Options(s3), retryAttempts: 1 });
    const manifests = async (): Promise<string[]> => {
      const out: string[] = [];
      for await (const o of dest.list(`${prefix}/`)) if (o.key.endsWith('.manifest.json')) out.push(o.key);
      return out;
    };
    await waitFor(async () => (await manifests()).length >= 2, 60_000, 'two manifests in the bucket');
    run.child.kill('SIGTERM');
    const res = await run.exited;
    assert.equal(res.code, 0, res.stderr.slice(-2000));

    let count = 0;
    for (const key of await manifests()) {
      const chunks: Buffer[] = [];
      for await (const c of await dest.get(key)) chunks.push(c as Buffer);
      const manifest = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Manifest;
      count += manifest.count;
      for (const part of manifest.parts) {
        const hash = createHash('sha256');
        for await (const c of await dest.get(part.key)) hash.update(c as Buffer);
        assert.equal(hash.digest('hex'), part.sha256, `${part.key} hashes to its manifest`);
      }
    }
    assert.equal(count, 120);
    await dest.close();
    const writes = proxy.requests.filter((r) => r.op === 'PutObject' || r.op === 'UploadPart');
    assert.ok(writes.length >= 4, `${writes.length} writes`);
    for (const r of proxy.requests) {
      assert.deepEqual(Object.keys(r.headers).filter((h) => h.startsWith('x-amz-checksum') || h === 'x-amz-sdk-checksum-algorithm'), [], `${r.op} ${r.key ?? ''}`);
    }
    for (const r of writes) assert.equal(typeof r.headers['content-md5'], 'string', `${r.op} ${r.key ?? ''} carries Content-MD5`);
    assert.equal(proxy.count('PutObject', (r) => (r.status ?? 0) >= 400), 0, 'nothing refused');

    const rec = await runCli(['reconcile', '--no-env-file', '--from', new Date(h0).toISOString(), '--to', new Date(h0 + 2 * HOUR).toISOString(), '--deep', '--json'], vars);
    assert.equal(rec.code, 0, rec.stdout + rec.stderr);
    assert.deepEqual(JSON.parse(rec.stdout).map((r: { status: string }) => r.status), ['ok', 'ok']);
  } finally {
    await env.close();
  }
});

test('doctor with S3_PROVIDER=r2 and S3_CHECKSUM_ALGORITHM=SHA256: the put fails and doctor names the setting to use', { timeout: 60_000 }, async () => {
  const env = await archiveEnv(mongo);
  try {
    await env.client.db(env.db).collection('apilogs').createIndex({ createdAt: 1 });
    const bad = await runCli(['doctor', '--no-env-file', '--json'], env.env({ ...r2Vars(), S3_CHECKSUM_ALGORITHM: 'SHA256' }));
    assert.equal(bad.code, 1, bad.stdout + bad.stderr);
    const checks = (JSON.parse(bad.stdout) as { checks: Array<{ name: string; ok: boolean; message: string; hint?: string }> }).checks;
    const put = checks.find((c) => c.name === 'destination put');
    assert.equal(put?.ok, false);
    assert.match(put?.message ?? '', /S3_CHECKSUM_ALGORITHM=SHA256 sends \(NotImplemented, HTTP 501/);
    assert.match(put?.hint ?? '', /set S3_CHECKSUM_ALGORITHM=MD5/);
    const good = await runCli(['doctor', '--no-env-file'], env.env(r2Vars()));
    assert.match(good.stdout, /^ok\s+destination put\s.*S3_CHECKSUM_ALGORITHM=MD5: Content-MD5 accepted/m);
  } finally {
    await env.close();
  }
});
