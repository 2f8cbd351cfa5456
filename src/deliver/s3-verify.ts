/**
 * Verification of a stored object after its upload, in every checksum mode: the object at the
 * key must be the bytes we sent.
 *
 *  - Always: a HEAD checks the size and our `sha256` user metadata.
 *  - SHA256 / CRC32C: when the server reports its checksum (real S3 does, with
 *    `x-amz-checksum-mode: ENABLED`; s3rver does not), it must equal the one predicted from our
 *    part digests.
 *  - MD5 / NONE: no `x-amz-checksum-mode` is sent (stores that refuse `x-amz-checksum-*` refuse
 *    it too). The ETag proves the bytes when it is the MD5 we predict from the part MD5s (a
 *    single PUT: the MD5 of the body; multipart: the MD5 of the part MD5s, "-N"). Any other ETag
 *    (a multipart object on GCS or s3rver, SSE-KMS, a store's own format) proves nothing either
 *    way: the object is read back and its SHA-256 compared with ours.
 * A difference is an IntegrityError ('stored'), which restarts the upload.
 */
import { Readable } from 'node:stream';
import { createHash } from 'node:crypto';
import type { HeadObjectCommandOutput } from '@aws-sdk/client-s3';
import { s3Sdk } from './s3-sdk.js';
import { expectedMd5Etag, expectedS3Checksum, sendsAmzChecksum, type ObjectDigest } from './checksum.js';
import { SHA256_METADATA_KEY } from './destination.js';
import { IntegrityError } from './errors.js';
import type { SinglePutAnswer } from './part-upload.js';
import type { S3Context } from './s3-context.js';
import type { RequestOptions } from './s3-request.js';

/** HEAD the object and compare it with what we uploaded (see the header comment). */
export async function verifyStored(ctx: S3Context, key: string, uploaded: ObjectDigest, options: RequestOptions = {}): Promise<HeadObjectCommandOutput> {
  const { requests, settings } = ctx;
  const amz = sendsAmzChecksum(settings.algorithm);
  const input = { Bucket: settings.bucket, Key: key, ...(amz ? { ChecksumMode: 'ENABLED' as const } : {}) };
  const h = await requests.send('HeadObject', () => requests.client.send(new (s3Sdk().HeadObjectCommand)(input)), options);
  const where = `s3://${settings.bucket}/${key}`;
  if (h.ContentLength !== uploaded.size) {
    throw new IntegrityError('stored', `${where} has ${String(h.ContentLength)} bytes after the upload, expected ${uploaded.size}`);
  }
  const metaSha = h.Metadata?.[SHA256_METADATA_KEY];
  if (metaSha !== uploaded.sha256) {
    throw new IntegrityError('stored', `${where} has sha256 metadata ${String(metaSha)} after the upload, expected ${uploaded.sha256}`);
  }
  if (amz) {
    const serverChecksum = settings.algorithm === 'SHA256' ? h.ChecksumSHA256 : h.ChecksumCRC32C;
    if (serverChecksum !== undefined) {
      const want = expectedS3Checksum(uploaded, h.ChecksumType);
      if (want === undefined) {
        ctx.logger.debug('the server checksum type cannot be predicted; size and sha256 verified', { key, type: h.ChecksumType });
      } else if (want !== serverChecksum) {
        throw new IntegrityError('stored', `${where} has ${settings.algorithm} checksum ${serverChecksum} after the upload, expected ${want}`);
      }
    }
    return h;
  }
  if (h.ETag !== undefined && h.ETag === expectedMd5Etag(uploaded)) return h;
  await readBack(ctx, key, uploaded, options);
  return h;
}

/** Reads the object and compares its size and SHA-256 with what we uploaded. */
export async function readBack(ctx: S3Context, key: string, uploaded: ObjectDigest, options: RequestOptions = {}): Promise<void> {
  const { requests, settings } = ctx;
  const out = await requests.send('GetObject', () => requests.client.send(new (s3Sdk().GetObjectCommand)({ Bucket: settings.bucket, Key: key })), options);
  const hash = createHash('sha256');
  let size = 0;
  if (out.Body instanceof Readable) {
    for await (const chunk of out.Body) {
      hash.update(chunk as Buffer);
      size += (chunk as Buffer).length;
    }
  }
  const sha256 = hash.digest('hex');
  if (size !== uploaded.size || sha256 !== uploaded.sha256) {
    throw new IntegrityError('stored', `s3://${settings.bucket}/${key} read back as ${size} bytes with sha256 ${sha256} after the upload, expected ${uploaded.size} bytes with sha256 ${uploaded.sha256}`);
  }
  ctx.logger.debug('verified by reading the object back', { key, size });
}

/**
 * A single PutObject whose answer proves the stored bytes needs no verification HEAD: the
 * server's checksum of them equals ours (real S3 returns the checksum it verified), or its ETag
 * is the MD5 of the bytes (S3, R2, MinIO, s3rver... without SSE-KMS): for a body in every mode
 * (hashed here), for a file in MD5 / NONE mode (whose part digest is that MD5). Otherwise
 * undefined: verifyStored decides.
 */
export function provenBy(ctx: S3Context, answer: SinglePutAnswer, digest: ObjectDigest, source: { path: string } | { body: Buffer }): SinglePutAnswer | undefined {
  const { algorithm } = ctx.settings;
  if (sendsAmzChecksum(algorithm)) {
    const ours = (digest.parts[0] as Buffer).toString('base64');
    const theirs = algorithm === 'SHA256' ? answer.ChecksumSHA256 : answer.ChecksumCRC32C;
    if (theirs !== undefined) return theirs === ours ? answer : undefined;
    if ('body' in source && answer.ETag === `"${createHash('md5').update(source.body).digest('hex')}"`) return answer;
    return undefined;
  }
  return answer.ETag !== undefined && answer.ETag === expectedMd5Etag(digest) ? answer : undefined;
}
