/**
 * The S3 destination: any region, any S3-compatible endpoint (with forcePathStyle); SSE-S3 /
 * SSE-KMS, storage class and Object Lock retention (mode + retain-until = now + objectLockDays)
 * sent as request parameters. Its parts, one idea a file:
 *
 *   s3-options.ts    the options, validated by the option table's rules, and their defaults
 *   s3-client.ts     the S3 client: credentials, timeouts, checksums sent as headers
 *   s3-request.ts    every request retried by the one retry loop (src/retry.ts)
 *   s3-put.ts        the put: key check, upload, verification, restarts, cleanup
 *   s3-verify.ts     the stored object checked after the upload, in every checksum mode
 *   part-upload.ts   one upload: parts digested, then streamed from the file per try, in order
 *   part-body.ts     the body of one try: a Buffer slice, or a fresh stream of a file range
 *   s3-objects.ts    head, get, delete, list
 *   s3-probe.ts      the probe for `doctor`
 *
 * Memory: a put of a file holds one 1 MiB read buffer and a stream's read-ahead (256 KiB) per
 * part in flight, whatever the part and object size (parts are streams of the file's ranges);
 * a put of a Buffer holds that Buffer. For objects larger than partSize × 10,000 (the S3 part
 * limit) the part size grows to size / 10,000 (rounded up to 1 MiB).
 *
 * Lifecycle (src/deliver/operations.ts): `close()` waits for running operations, `destroy()`
 * aborts them (a put aborts its multipart upload and rejects with ABORTED); then the client's
 * sockets are released.
 */
import { CronLogError } from '../errors.js';
import { checkedPut, objectKeyProblem, type Destination, type ObjectInfo, type ProbeResult, type PutInput, type PutResult } from './destination.js';
import { Operations } from './operations.js';
import { createS3Context, type S3Context } from './s3-context.js';
import { deleteObject, get, head, listPage, pageObjects } from './s3-objects.js';
import type { S3DestinationOptions } from './s3-options.js';
import { probe, probeKey } from './s3-probe.js';
import { putObject } from './s3-put.js';

export class S3Destination implements Destination {
  readonly kind = 's3' as const;
  readonly bucket: string;
  readonly region: string;
  private readonly ctx: S3Context;
  private readonly operations: Operations;

  /** Throws a ConfigError (CONFIG_INVALID) listing every invalid option. */
  constructor(options: S3DestinationOptions) {
    this.ctx = createS3Context(options);
    this.bucket = this.ctx.settings.bucket;
    this.region = this.ctx.settings.region;
    const { requests } = this.ctx;
    this.operations = new Operations(() => this.describe(), () => requests.destroy());
  }

  describe(): string {
    return this.ctx.describe();
  }

  private keyProblem(key: string, what: string): CronLogError | undefined {
    const problem = objectKeyProblem(key);
    return problem === undefined ? undefined : new CronLogError('USAGE', `invalid ${what} ${JSON.stringify(key)}: ${problem}`);
  }

  async put(input: PutInput): Promise<PutResult> {
    const signal = checkedPut(input);
    return this.operations.run((s) => putObject(this.ctx, input, s), signal);
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    const bad = this.keyProblem(key, 'key');
    if (bad !== undefined) throw bad;
    return this.operations.run((signal) => head(this.ctx, key, signal));
  }

  async get(key: string): Promise<NodeJS.ReadableStream> {
    const bad = this.keyProblem(key, 'key');
    if (bad !== undefined) throw bad;
    return this.operations.run((signal) => get(this.ctx, key, signal));
  }

  async delete(key: string): Promise<void> {
    const bad = this.keyProblem(key, 'key');
    if (bad !== undefined) throw bad;
    await this.operations.run((signal) => deleteObject(this.ctx, key, signal));
  }

  /** Each page is an operation of its own: after close() or destroy(), the next page is refused. */
  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    this.operations.assertOpen();
    let token: string | undefined;
    do {
      const after = token;
      const page = await this.operations.run((signal) => listPage(this.ctx, prefix, after, signal));
      yield* pageObjects(page);
      token = page.IsTruncated === true ? page.NextContinuationToken : undefined;
    } while (token !== undefined);
  }

  async probe(prefix: string): Promise<ProbeResult> {
    const key = probeKey(prefix);
    const bad = this.keyProblem(key, 'prefix');
    if (bad !== undefined) {
      return { ok: false, destination: this.describe(), steps: [{ name: 'bucket', status: 'failed', message: bad.message, reason: 'invalid-prefix' }] };
    }
    return this.operations.run((signal) => probe(this.ctx, key, prefix, signal));
  }

  /** Waits for running operations to finish, then releases the client. Idempotent. */
  close(): Promise<void> {
    return this.operations.close();
  }

  /** Aborts running operations (no object is left at their keys), then releases the client. Idempotent. */
  destroy(): Promise<void> {
    return this.operations.destroy();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
