/**
 * A real S3 HTTP server for tests: s3rver on 127.0.0.1, port 0, in a temp directory, with one
 * pre-created bucket, and the credentials it accepts (S3RVER / S3RVER).
 *
 * s3rver 3.7.1 lacks three things the delivery code relies on, so this helper serves them from
 * s3rver's own filesystem store, in front of its router (same XML encoder and error format):
 *  - AbortMultipartUpload (s3rver answers 405 MethodNotAllowed): deletes the upload's directory;
 *  - ListMultipartUploads (s3rver answers 501): lists the uploads still open;
 *  - NoSuchUpload for UploadPart/CompleteMultipartUpload of an unknown upload id (s3rver would
 *    silently recreate the upload directory, or fail with a 500);
 *  - ListObjectsV2 pagination: s3rver builds continuation tokens with DES, which OpenSSL 3
 *    (Node >= 17) refuses, so every truncated V2 listing fails with a 500; served here with
 *    plain tokens.
 * These requests get the checks s3rver's authentication applies to header-signed requests: the
 * access key id must be known (InvalidAccessKeyId otherwise). Like s3rver itself, SigV4
 * signatures are NOT verified, so a wrong secret key is accepted: a SignatureDoesNotMatch can only
 * be produced with the fault proxy.
 *
 * Set S3RVER_LOG=1 to see s3rver's request log and errors.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises';
import type { Server } from 'node:http';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const require = createRequire(import.meta.url);

interface KoaContext {
  method: string;
  path: string;
  query: Record<string, string | string[] | undefined>;
  headers: Record<string, string | string[] | undefined>;
  status: number;
  body: unknown;
}
type KoaMiddleware = (ctx: KoaContext, next: () => Promise<void>) => Promise<void>;

interface S3Object {
  key: string;
  size: number;
  lastModifiedDate: Date;
  metadata: Record<string, string>;
}

interface FilesystemStore {
  getResourcePath(bucket: string, key: string | undefined, resource: string): string;
  getBucket(bucket: string): Promise<unknown>;
  listObjects(
    bucket: string,
    options: { prefix?: string; startAfter?: string; maxKeys?: number; delimiter?: string },
  ): Promise<{ objects: S3Object[]; commonPrefixes: string[]; isTruncated: boolean }>;
}

interface S3rverInstance {
  middleware: KoaMiddleware[];
  store: FilesystemStore;
  httpServer?: Server;
  run(): Promise<{ address: string; port: number }>;
  close(): Promise<void>;
}

const S3rver = require('s3rver') as new (options: Record<string, unknown>) => S3rverInstance;
const S3Error = require('s3rver/lib/models/error') as new (code: string, message: string, detail?: Record<string, unknown>) => Error;
const AWSAccount = require('s3rver/lib/models/account') as { registry: Map<string, unknown> };

const XMLNS = 'http://s3.amazonaws.com/doc/2006-03-01/';

export interface OpenUpload {
  uploadId: string;
  /** Undefined for a directory without a key file (only s3rver's own bugs create those). */
  key: string | undefined;
}

export interface TestS3 {
  endpoint: string;
  bucket: string;
  accessKeyId: string;
  secretAccessKey: string;
  region: string;
  /** s3rver's storage directory. */
  directory: string;
  /** Multipart uploads still open in the bucket, read from s3rver's storage directory. */
  openUploads(bucket?: string): Promise<OpenUpload[]>;
  close(): Promise<void>;
}

function single(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

function checkAccessKey(ctx: KoaContext): void {
  const auth = single(ctx.headers['authorization']);
  if (auth === undefined) return;
  const m = /Credential=([^/,\s]+)\//.exec(auth) ?? /^AWS ([^:]+):/.exec(auth);
  const keyId = m?.[1];
  if (keyId === undefined || !AWSAccount.registry.has(keyId)) {
    throw new S3Error('InvalidAccessKeyId', 'The AWS Access Key Id you provided does not exist in our records.', { AWSAccessKeyId: keyId ?? '' });
  }
}

async function uploadsOf(store: FilesystemStore, bucket: string): Promise<OpenUpload[]> {
  const dir = store.getResourcePath(bucket, undefined, 'uploads');
  let ids: string[];
  try {
    ids = await readdir(dir);
  } catch {
    return [];
  }
  const out: OpenUpload[] = [];
  for (const uploadId of ids.sort()) {
    const key = await readFile(join(dir, uploadId, 'key'), 'utf8').catch(() => undefined);
    out.push({ uploadId, key });
  }
  return out;
}

function extensions(store: FilesystemStore): KoaMiddleware {
  return async (ctx, next) => {
    // Path style: /bucket, /bucket/ (the SDK's form for bucket operations) or /bucket/key.
    const m = /^\/([^/]+)(?:\/(.*))?$/.exec(ctx.path);
    if (m === null || m[1] === undefined) return next();
    const bucket = decodeURIComponent(m[1]);
    const key = m[2] !== undefined && m[2] !== '' ? decodeURIComponent(m[2]) : undefined;
    const q = ctx.query;
    const uploadId = single(q['uploadId']);
    const listUploads = key === undefined && ctx.method === 'GET' && 'uploads' in q;
    const listV2 = key === undefined && ctx.method === 'GET' && single(q['list-type']) === '2';
    if (!listUploads && !listV2 && (key === undefined || uploadId === undefined)) return next();

    checkAccessKey(ctx);
    if ((await store.getBucket(bucket)) === null) {
      throw new S3Error('NoSuchBucket', 'The specified bucket does not exist', { BucketName: bucket });
    }

    if (listUploads) {
      const prefix = single(q['prefix']) ?? '';
      const uploads: Record<string, unknown>[] = [];
      for (const u of await uploadsOf(store, bucket)) {
        if (u.key === undefined || !u.key.startsWith(prefix)) continue;
        const st = await stat(join(store.getResourcePath(bucket, undefined, 'uploads'), u.uploadId));
        uploads.push({
          Key: u.key,
          UploadId: u.uploadId,
          Initiator: { ID: '123456789000', DisplayName: 'S3rver' },
          Owner: { ID: '123456789000', DisplayName: 'S3rver' },
          StorageClass: 'STANDARD',
          Initiated: st.mtime.toISOString(),
        });
      }
      ctx.body = {
        ListMultipartUploadsResult: {
          '@': { xmlns: XMLNS },
          Bucket: bucket,
          KeyMarker: '',
          UploadIdMarker: '',
          Prefix: prefix,
          MaxUploads: 1000,
          IsTruncated: false,
          ...(uploads.length > 0 ? { Upload: uploads } : {}),
        },
      };
      return;
    }

    if (listV2) {
      const prefix = single(q['prefix']) ?? '';
      const delimiter = single(q['delimiter']);
      const token = single(q['continuation-token']);
      const startAfter = token !== undefined ? Buffer.from(token, 'base64url').toString('utf8') : single(q['start-after']);
      const maxKeys = Math.min(1000, Number(single(q['max-keys']) ?? '1000'));
      const result = await store.listObjects(bucket, {
        prefix,
        ...(startAfter !== undefined ? { startAfter } : {}),
        ...(delimiter !== undefined ? { delimiter } : {}),
        maxKeys,
      });
      const last = result.objects[result.objects.length - 1];
      ctx.body = {
        ListBucketResult: {
          '@': { xmlns: XMLNS },
          Name: bucket,
          Prefix: prefix,
          ...(token !== undefined ? { ContinuationToken: token } : {}),
          ...(result.isTruncated && last !== undefined ? { NextContinuationToken: Buffer.from(last.key).toString('base64url') } : {}),
          KeyCount: result.objects.length,
          MaxKeys: maxKeys,
          ...(delimiter !== undefined ? { Delimiter: delimiter } : {}),
          IsTruncated: result.isTruncated,
          Contents: result.objects.map((o) => ({
            Key: o.key,
            LastModified: o.lastModifiedDate.toISOString(),
            ETag: o.metadata['etag'],
            Size: o.size,
            StorageClass: o.metadata['x-amz-storage-class'] ?? 'STANDARD',
          })),
          CommonPrefixes: result.commonPrefixes.map((p) => ({ Prefix: p })),
        },
      };
      return;
    }

    // An operation on a multipart upload: it must exist.
    const id = uploadId as string;
    const dir = join(store.getResourcePath(bucket, undefined, 'uploads'), id);
    const storedKey = /^[0-9a-f]+$/.test(id) ? await readFile(join(dir, 'key'), 'utf8').catch(() => undefined) : undefined;
    if (storedKey === undefined || storedKey !== key) {
      throw new S3Error(
        'NoSuchUpload',
        'The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.',
        { UploadId: id },
      );
    }
    if (ctx.method === 'DELETE') {
      await rm(dir, { recursive: true, force: true });
      ctx.status = 204;
      ctx.body = '';
      return;
    }
    return next();
  };
}

export async function startTestS3(options: { bucket?: string } = {}): Promise<TestS3> {
  const directory = await mkdtemp(join(tmpdir(), 'cls-s3rver-'));
  const bucket = options.bucket ?? `test-${randomBytes(3).toString('hex')}`;
  const server = new S3rver({
    address: '127.0.0.1',
    port: 0,
    directory,
    silent: process.env.S3RVER_LOG !== '1',
    vhostBuckets: false,
    configureBuckets: [{ name: bucket, configs: [] }],
  });
  // Insert the extensions right before s3rver's router (its last middleware).
  server.middleware.splice(server.middleware.length - 1, 0, extensions(server.store));
  const { port } = await server.run();
  let closed: Promise<void> | undefined;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    bucket,
    accessKeyId: 'S3RVER',
    secretAccessKey: 'S3RVER',
    region: 'us-east-1',
    directory,
    openUploads: (b = bucket) => uploadsOf(server.store, b),
    close() {
      closed ??= (async () => {
        server.httpServer?.closeAllConnections();
        await server.close();
        await rm(directory, { recursive: true, force: true });
      })();
      return closed;
    },
  };
}

/** The environment variables that point the archiver's `s3` provider at this server. */
export function s3EnvVars(s3: TestS3, over: Record<string, string> = {}): Record<string, string> {
  return {
    UPLOAD_PROVIDER: 's3',
    S3_BUCKET: s3.bucket,
    S3_ENDPOINT: s3.endpoint,
    S3_FORCE_PATH_STYLE: 'true',
    AWS_REGION: s3.region,
    AWS_ACCESS_KEY_ID: s3.accessKeyId,
    AWS_SECRET_ACCESS_KEY: s3.secretAccessKey,
    ...over,
  };
}

/** The `s3` options (config or destination) that reach this server, through `endpoint` if given (a fault proxy). */
export function s3Options(s3: TestS3, endpoint = s3.endpoint): { bucket: string; region: string; endpoint: string; forcePathStyle: true; accessKeyId: string; secretAccessKey: string } {
  return { bucket: s3.bucket, region: s3.region, endpoint, forcePathStyle: true, accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey };
}
