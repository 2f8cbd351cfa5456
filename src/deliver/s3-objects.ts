/**
 * The object operations of the S3 destination besides the put: HEAD (our `sha256` metadata
 * included), GET as a stream, DELETE (a missing key is not an error) and LIST (ListObjectsV2,
 * page by page, in key order). A failure names the operation, the key or prefix and what to
 * check (src/deliver/errors.ts); a missing object is `undefined` for head and an
 * ObjectNotFoundError for get.
 */
import { Readable } from 'node:stream';
import type { HeadObjectCommandOutput, ListObjectsV2CommandOutput } from '@aws-sdk/client-s3';
import { s3Sdk } from './s3-sdk.js';
import { CronLogError } from '../errors.js';
import { SHA256_METADATA_KEY, type ObjectInfo } from './destination.js';
import { ObjectNotFoundError, classifyS3Error } from './errors.js';
import type { S3Context } from './s3-context.js';
import type { RequestOptions } from './s3-request.js';

/** HEAD of `key`: the answer, or undefined when there is no object there (an answer, not a failure). */
export async function headObject(ctx: S3Context, key: string, options: RequestOptions = {}): Promise<HeadObjectCommandOutput | undefined> {
  const { client } = ctx.requests;
  try {
    return await ctx.requests.send('HeadObject', () => client.send(new (s3Sdk().HeadObjectCommand)({ Bucket: ctx.settings.bucket, Key: key })), options);
  } catch (err) {
    if (classifyS3Error(err, 'head') === 'not-found') return undefined;
    throw err;
  }
}

export async function head(ctx: S3Context, key: string, signal: AbortSignal): Promise<ObjectInfo | undefined> {
  try {
    const h = await headObject(ctx, key, { signal });
    if (h === undefined) return undefined;
    const sha = h.Metadata?.[SHA256_METADATA_KEY];
    return { key, size: h.ContentLength ?? 0, ...(sha !== undefined ? { sha256: sha } : {}) };
  } catch (err) {
    throw new CronLogError('DESTINATION_UNAVAILABLE', `cannot inspect ${key} in ${ctx.describe()}: ${ctx.describeError(err, 'head', { key })}`, { cause: err });
  }
}

export async function get(ctx: S3Context, key: string, signal: AbortSignal): Promise<NodeJS.ReadableStream> {
  const { client } = ctx.requests;
  try {
    const out = await ctx.requests.send('GetObject', () => client.send(new (s3Sdk().GetObjectCommand)({ Bucket: ctx.settings.bucket, Key: key })), { signal });
    const body = out.Body;
    if (!(body instanceof Readable)) throw new CronLogError('INTERNAL', `GetObject of ${key} returned no readable body`);
    return body;
  } catch (err) {
    if (err instanceof CronLogError) throw err;
    if (classifyS3Error(err, 'get') === 'not-found') throw new ObjectNotFoundError(ctx.describe(), key, { cause: err });
    throw new CronLogError('DESTINATION_UNAVAILABLE', `cannot read ${key} from ${ctx.describe()}: ${ctx.describeError(err, 'get', { key })}`, { cause: err });
  }
}

export async function deleteObject(ctx: S3Context, key: string, signal: AbortSignal): Promise<void> {
  const { client } = ctx.requests;
  try {
    await ctx.requests.send('DeleteObject', () => client.send(new (s3Sdk().DeleteObjectCommand)({ Bucket: ctx.settings.bucket, Key: key })), { signal });
  } catch (err) {
    if (classifyS3Error(err, 'delete') === 'not-found') return;
    throw new CronLogError('DESTINATION_UNAVAILABLE', `cannot delete ${key} from ${ctx.describe()}: ${ctx.describeError(err, 'delete', { key })}`, { cause: err });
  }
}

/** One page of the objects under `prefix`, after `token` (the previous page's NextContinuationToken). */
export async function listPage(ctx: S3Context, prefix: string, token: string | undefined, signal: AbortSignal): Promise<ListObjectsV2CommandOutput> {
  const { client } = ctx.requests;
  const input = {
    Bucket: ctx.settings.bucket,
    Prefix: prefix,
    MaxKeys: ctx.settings.listPageSize,
    ...(token !== undefined ? { ContinuationToken: token } : {}),
  };
  try {
    return await ctx.requests.send('ListObjectsV2', () => client.send(new (s3Sdk().ListObjectsV2Command)(input)), { signal });
  } catch (err) {
    throw new CronLogError('DESTINATION_UNAVAILABLE', `cannot list ${prefix} in ${ctx.describe()}: ${ctx.describeError(err, 'list', { prefix })}`, { cause: err });
  }
}

/** The objects of a page as ObjectInfo (keys without a size report 0). */
export function pageObjects(page: ListObjectsV2CommandOutput): ObjectInfo[] {
  const out: ObjectInfo[] = [];
  for (const o of page.Contents ?? []) {
    if (o.Key !== undefined) out.push({ key: o.Key, size: o.Size ?? 0 });
  }
  return out;
}
