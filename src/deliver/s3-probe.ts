/**
 * The S3 destination's probe for `doctor`: the bucket is reachable (a ListObjectsV2, a GET so
 * that errors carry their S3 error code), a probe object under the prefix can be written with
 * the configured checksum mode (S3_CHECKSUM_ALGORITHM: a store that refuses its headers fails
 * this step with the setting to use) and verified, read back and deleted. Each step says what was checked or what is wrong and what to
 * fix; the probe object never stays behind when it was written. Requests are retried at most
 * once: a healthcheck answers quickly.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { s3Sdk } from './s3-sdk.js';
import { digestBuffer } from './checksum.js';
import { SHA256_METADATA_KEY, type ProbeResult, type ProbeStep } from './destination.js';
import { CHECKSUM_REFUSED_HINT, IntegrityError, classifyS3Error, type S3Operation } from './errors.js';
import { checksumParams } from './part-upload.js';
import type { S3Context } from './s3-context.js';
import type { S3Settings } from './s3-options.js';
import { headObject } from './s3-objects.js';
import { writeParams } from './s3-options.js';
import { verifyStored } from './s3-verify.js';
import type { RequestOptions } from './s3-request.js';

const PROBE_BODY = Buffer.from('cron-log-service probe object: safe to delete\n');

/** What each checksum mode sent with the probe object. */
const INTEGRITY: Record<S3Settings['algorithm'], string> = {
  SHA256: 'x-amz-checksum-sha256 accepted',
  CRC32C: 'x-amz-checksum-crc32c accepted',
  MD5: 'Content-MD5 accepted',
  NONE: 'no integrity header sent; verified by ETag or by reading it back',
};

/** The key of this process's probe object under `prefix` (its slashes trimmed). */
export function probeKey(prefix: string): string {
  const clean = prefix.replace(/^\/+|\/+$/g, '');
  return `${clean === '' ? '' : `${clean}/`}.cron-log-service-probe-${hostname().replace(/[^A-Za-z0-9-]/g, '-')}-${process.pid}-${randomBytes(4).toString('hex')}`;
}

export async function probe(ctx: S3Context, key: string, prefix: string, signal: AbortSignal): Promise<ProbeResult> {
  const { requests, settings } = ctx;
  const { client } = requests;
  const clean = prefix.replace(/^\/+|\/+$/g, '');
  const options: RequestOptions = { signal, retries: 1 };
  const steps: ProbeStep[] = [];
  const fail = (name: ProbeStep['name'], err: unknown, operation: S3Operation): void => {
    const reason = classifyS3Error(err, operation, settings.algorithm);
    steps.push({
      name,
      status: 'failed',
      message: ctx.describeError(err, operation, { key, prefix: clean }),
      reason,
      ...(reason === 'checksum-refused' ? { hint: CHECKSUM_REFUSED_HINT } : {}),
    });
  };
  const skip = (name: ProbeStep['name'], why: string): void => {
    steps.push({ name, status: 'skipped', message: why });
  };
  // 1. The bucket: a GET (not HEAD) so that errors carry their S3 error code.
  try {
    await requests.send('ListObjectsV2', () => client.send(new (s3Sdk().ListObjectsV2Command)({ Bucket: settings.bucket, Prefix: clean, MaxKeys: 1 })), options);
    steps.push({ name: 'bucket', status: 'ok', message: `bucket ${settings.bucket} is reachable in region ${settings.region}` });
  } catch (err) {
    fail('bucket', err, 'list');
  }
  // 2. put (no Object Lock retention and the default storage class, so the probe can be read and deleted).
  let put = false;
  try {
    // The configured checksum mode, as every upload sends it (part-upload.ts).
    const digest = digestBuffer(PROBE_BODY, settings.partSize, settings.algorithm);
    const input = {
      Bucket: settings.bucket,
      Key: key,
      Body: PROBE_BODY,
      ContentType: 'text/plain',
      Metadata: { [SHA256_METADATA_KEY]: digest.sha256 },
      ...writeParams(settings),
      ...checksumParams(settings.algorithm, digest.parts[0] as Buffer),
    };
    await requests.send('PutObject', () => client.send(new (s3Sdk().PutObjectCommand)(input)), options);
    await verifyStored(ctx, key, digest, options);
    put = true;
    steps.push({ name: 'put', status: 'ok', message: `wrote and verified ${key} (S3_CHECKSUM_ALGORITHM=${settings.algorithm}: ${INTEGRITY[settings.algorithm]})` });
  } catch (err) {
    fail('put', err, 'put');
  }
  if (!put) {
    skip('get', 'skipped: the probe object could not be written');
    skip('delete', 'skipped: the probe object could not be written');
    return result(ctx, steps);
  }
  // 3. get
  try {
    const out = await requests.send('GetObject', () => client.send(new (s3Sdk().GetObjectCommand)({ Bucket: settings.bucket, Key: key })), options);
    const bytes = Buffer.from((await out.Body?.transformToByteArray()) ?? []);
    if (!bytes.equals(PROBE_BODY)) throw new IntegrityError('stored', `reading ${key} back returned different bytes`);
    steps.push({ name: 'get', status: 'ok', message: `read ${key} back` });
  } catch (err) {
    fail('get', err, 'get');
  }
  // 4. delete (also after a failed get: do not leave the probe behind)
  try {
    await requests.send('DeleteObject', () => client.send(new (s3Sdk().DeleteObjectCommand)({ Bucket: settings.bucket, Key: key })), options);
    if ((await headObject(ctx, key, options)) !== undefined) throw new IntegrityError('stored', `${key} is still there after DeleteObject`);
    steps.push({ name: 'delete', status: 'ok', message: `deleted ${key}` });
  } catch (err) {
    fail('delete', err, 'delete');
  }
  return result(ctx, steps);
}

function result(ctx: S3Context, steps: ProbeStep[]): ProbeResult {
  return { ok: steps.every((s) => s.status === 'ok'), destination: ctx.describe(), steps };
}
