/**
 * One upload of an object whose size is known: a single PutObject when it fits in one part, else
 * a multipart upload with parts of exactly `partSize` bytes (the last one shorter), at most
 * `queueSize` of them in flight.
 *
 * Each part is read from the file with positioned reads straight into a part buffer (no stream
 * chunks joined into parts: on a machine where first-touch memory is expensive, joining cost
 * about 30 ms per 8 MiB part on the main thread, see docs/performance.md). A put reuses its part
 * buffers, so it holds at most (queueSize + 1) × partSize bytes whatever the object size.
 * (This replaced @aws-sdk/lib-storage's `Upload`, which joins the chunks of a read stream into
 * each part; the deliver benchmark still uses `Upload` as its baseline.)
 *
 * The bytes are digested in order as they are read (the object's SHA-256 and each part's
 * checksum). Each part goes out with its checksum (`x-amz-checksum-*`); S3 rejects a part whose
 * body does not match it. The whole source is checked against the declared size and SHA-256
 * after its last byte is read and before the last part is sent, so a changed source is never
 * completed. `onSourceRead` is called then.
 *
 * Ordering, in the parameters: no part (and no single PutObject) is sent before `partsWaitFor`
 * resolves (the put's check for an object already at the key), while the multipart upload is
 * created and the first parts are read and queued; the request that creates the object
 * (CompleteMultipartUpload, or the single PutObject) is not sent before `completionWaitsFor`
 * resolves too (the seal's check of the file's facts and its ledger write). Either rejecting
 * stops the upload at once with its error.
 *
 * Failures: after the first failure (a request, the source, a gate, the signal) no new part is
 * sent; the parts in flight are waited for, the multipart upload is aborted (once its
 * CreateMultipartUpload has answered) and the first error is thrown. Request retries are the
 * caller's `requests` (each part body is a Buffer, which can be sent again).
 */
import { open, type FileHandle } from 'node:fs/promises';
import type {
  AbortMultipartUploadCommandInput,
  CompletedPart,
  CompleteMultipartUploadCommandInput,
  CreateMultipartUploadCommandInput,
  PutObjectCommandInput,
  S3Client,
  UploadPartCommandInput,
} from '@aws-sdk/client-s3';
import { raceAbort, throwIfAborted } from '../retry.js';
import { s3Sdk } from './s3-sdk.js';
import { IntegrityError } from './errors.js';
import { ObjectDigester, isMultipart, sourceMismatch, type ObjectDigest } from './checksum.js';

/** What a single PutObject answered: what can prove the stored bytes without a HEAD. */
export interface SinglePutAnswer {
  ETag?: string | undefined;
  VersionId?: string | undefined;
  ChecksumSHA256?: string | undefined;
  ChecksumCRC32C?: string | undefined;
}

/**
 * The S3 requests one upload makes. How each is sent (retries, counting, which upload ids were
 * created) is the caller's: the S3 destination sends them through S3Requests and records them.
 */
export interface UploadRequests {
  putObject(input: PutObjectCommandInput): Promise<SinglePutAnswer>;
  createMultipartUpload(input: CreateMultipartUploadCommandInput): Promise<{ UploadId?: string | undefined }>;
  uploadPart(input: UploadPartCommandInput): Promise<{ ETag?: string | undefined }>;
  completeMultipartUpload(input: CompleteMultipartUploadCommandInput): Promise<unknown>;
  abortMultipartUpload(input: AbortMultipartUploadCommandInput): Promise<unknown>;
}

/** Each request sent once through `client`: no retries, nothing recorded. */
export function clientRequests(client: S3Client): UploadRequests {
  return {
    putObject: (input) => client.send(new (s3Sdk().PutObjectCommand)(input)),
    createMultipartUpload: (input) => client.send(new (s3Sdk().CreateMultipartUploadCommand)(input)),
    uploadPart: (input) => client.send(new (s3Sdk().UploadPartCommand)(input)),
    completeMultipartUpload: (input) => client.send(new (s3Sdk().CompleteMultipartUploadCommand)(input)),
    abortMultipartUpload: (input) => client.send(new (s3Sdk().AbortMultipartUploadCommand)(input)),
  };
}

export interface PartUploadInput {
  requests: UploadRequests;
  /** The object's parameters (Bucket, Key, metadata, checksum algorithm, encryption...), no Body. */
  params: Omit<PutObjectCommandInput, 'Body' | 'ContentLength'>;
  source: { path: string } | { body: Buffer };
  /** What the source must be: its size and lowercase hex SHA-256, and how to name it in errors. */
  expected: { size: number; sha256: string; label: string };
  partSize: number;
  queueSize: number;
  algorithm: ObjectDigest['algorithm'];
  /** No part (nor a single PutObject) is sent before this resolves; a rejection stops the upload. */
  partsWaitFor?: Promise<unknown> | undefined;
  /** The request that creates the object waits for this too; a rejection stops the upload. */
  completionWaitsFor?: Promise<unknown> | undefined;
  /** Called once the whole source has been read and matched its declared size and SHA-256. */
  onSourceRead?: (() => void) | undefined;
  /** Stops the upload: no more of the source is read, no new request started. */
  signal?: AbortSignal | undefined;
}

/**
 * The integrity member of a request for a part digest, by mode: `x-amz-checksum-sha256` /
 * `x-amz-checksum-crc32c`, `Content-MD5`, or nothing (NONE).
 */
export function checksumParams(algorithm: ObjectDigest['algorithm'], digest: Buffer): { ChecksumSHA256?: string; ChecksumCRC32C?: string; ContentMD5?: string } {
  const value = digest.toString('base64');
  switch (algorithm) {
    case 'SHA256':
      return { ChecksumSHA256: value };
    case 'CRC32C':
      return { ChecksumCRC32C: value };
    case 'MD5':
      return { ContentMD5: value };
    case 'NONE':
      return {};
  }
}

/** What CompleteMultipartUpload repeats of a part's checksum (S3 checks it): the x-amz-checksum ones only. */
function completedChecksum(sent: ReturnType<typeof checksumParams>): Pick<CompletedPart, 'ChecksumSHA256' | 'ChecksumCRC32C'> {
  return {
    ...(sent.ChecksumSHA256 !== undefined ? { ChecksumSHA256: sent.ChecksumSHA256 } : {}),
    ...(sent.ChecksumCRC32C !== undefined ? { ChecksumCRC32C: sent.ChecksumCRC32C } : {}),
  };
}

/** Reads [position, position + length) of a file into `into` (length bytes); fewer bytes mean the file is shorter. */
async function readRange(file: FileHandle, into: Buffer, position: number): Promise<number> {
  let filled = 0;
  while (filled < into.length) {
    const { bytesRead } = await file.read(into, filled, into.length - filled, position + filled);
    if (bytesRead === 0) break;
    filled += bytesRead;
  }
  return filled;
}

/**
 * The source, read part by part in order. A file's bytes go through the digester as they are
 * read; a body is digested and checked whole before anything is sent (`checkBody`).
 */
class PartReader {
  private file: FileHandle | undefined;
  private readonly spare: Buffer[] = [];
  private offset = 0;

  constructor(
    private readonly input: PartUploadInput,
    private readonly digester: ObjectDigester,
  ) {}

  /** Digests a body source whole and checks it; a file source is checked as it is read. */
  checkBody(): void {
    const { source, expected } = this.input;
    if (!('body' in source)) return;
    this.digester.update(source.body);
    const mismatch = sourceMismatch(this.digester.finish(), expected);
    if (mismatch !== null) throw mismatch;
  }

  /** The next `length` bytes of the source (a reused buffer for a file source). */
  async next(length: number): Promise<Buffer> {
    const { source, expected } = this.input;
    if ('body' in source) {
      const part = source.body.subarray(this.offset, this.offset + length);
      this.offset += part.length;
      return part;
    }
    this.file ??= await open(source.path, 'r');
    const buffer = this.spare.pop() ?? Buffer.allocUnsafeSlow(this.input.partSize);
    const filled = await readRange(this.file, buffer.subarray(0, length), this.offset);
    const part = buffer.subarray(0, filled);
    this.digester.update(part);
    this.offset += part.length;
    if (part.length < length) throw this.mismatch();
    if (this.offset === expected.size) await this.finish();
    return part;
  }

  /** After the declared last byte: nothing may follow, and the digest must match. */
  private async finish(): Promise<void> {
    if (this.file !== undefined) {
      const extra = Buffer.allocUnsafe(1);
      const { bytesRead } = await this.file.read(extra, 0, 1, this.offset);
      if (bytesRead > 0) {
        const { label, size } = this.input.expected;
        throw new IntegrityError('source', `${label} has more than ${size} bytes, expected ${size}: the source changed after it was sealed`);
      }
    }
    const mismatch = sourceMismatch(this.digester.finish(), this.input.expected);
    if (mismatch !== null) throw mismatch;
  }

  private mismatch(): IntegrityError {
    return sourceMismatch(this.digester.finish(), this.input.expected) ?? new IntegrityError('source', `${this.input.expected.label} ended early`);
  }

  /** A part buffer the client no longer needs (its request settled). */
  release(part: Buffer): void {
    if ('path' in this.input.source && part.buffer.byteLength === this.input.partSize && this.spare.length < this.input.queueSize + 1) {
      this.spare.push(Buffer.from(part.buffer, 0, this.input.partSize));
    }
  }

  async close(): Promise<void> {
    await this.file?.close();
  }
}

export interface UploadOutcome {
  /** The digest of the bytes sent (parts included). */
  digest: ObjectDigest;
  /** The answer to the single PutObject; absent for a multipart upload. */
  single?: SinglePutAnswer;
}

/** Settles when `gate` does, without an unhandled rejection when nobody else waits for it. */
function quiet(gate: Promise<unknown> | undefined): Promise<unknown> {
  const p = gate ?? Promise.resolve();
  p.catch(() => undefined);
  return p;
}

/** Uploads the source once. */
export async function uploadParts(input: PartUploadInput): Promise<UploadOutcome> {
  const { requests, params, expected, partSize, algorithm, signal } = input;
  const size = expected.size;
  const digester = new ObjectDigester(partSize, algorithm);
  const reader = new PartReader(input, digester);
  const fromFile = 'path' in input.source;
  const partsMayStart = quiet(input.partsWaitFor);
  const objectMayComplete = quiet(Promise.all([partsMayStart, input.completionWaitsFor]));
  try {
    reader.checkBody();
    if (!fromFile) input.onSourceRead?.();
    if (!isMultipart(size, partSize)) {
      const body = await reader.next(size);
      const digest = digester.finish();
      if (fromFile) input.onSourceRead?.();
      // The single PutObject creates the object: it waits for both gates.
      await raceAbort(objectMayComplete, signal);
      const out = await requests.putObject({ ...params, Body: body, ContentLength: size, ...checksumParams(algorithm, digest.parts[0] as Buffer) });
      return { digest, single: { ETag: out.ETag, VersionId: out.VersionId, ChecksumSHA256: out.ChecksumSHA256, ChecksumCRC32C: out.ChecksumCRC32C } };
    }
    const count = Math.ceil(size / partSize);
    const created = requests.createMultipartUpload(params);
    let failure: { error: unknown } | undefined;
    const fail = (error: unknown): void => {
      failure ??= { error };
    };
    created.catch(fail);
    // A gate that rejects stops the upload at once, not only when its turn comes.
    partsMayStart.catch(fail);
    objectMayComplete.catch(fail);
    const inflight = new Set<Promise<void>>();
    const completed: CompletedPart[] = [];
    try {
      for (let index = 0; index < count && failure === undefined; index++) {
        while (inflight.size >= input.queueSize) await Promise.race(inflight);
        if (failure !== undefined) break;
        throwIfAborted(signal);
        const length = Math.min(partSize, size - index * partSize);
        const body = await reader.next(length);
        if (fromFile && index === count - 1) input.onSourceRead?.();
        const checksum = checksumParams(algorithm, digester.partDigests[index] as Buffer);
        const { UploadId } = await created;
        throwIfAborted(signal);
        const partNumber = index + 1;
        // Parts are read (and queued) while the gate is pending; none is sent before it opens.
        const sent: Promise<void> = raceAbort(partsMayStart, signal)
          .then(() => {
            if (failure !== undefined) throw failure.error;
            throwIfAborted(signal);
            return requests.uploadPart({
              Bucket: params.Bucket,
              Key: params.Key,
              UploadId,
              PartNumber: partNumber,
              Body: body,
              ContentLength: length,
              ...(params.ChecksumAlgorithm !== undefined ? { ChecksumAlgorithm: params.ChecksumAlgorithm } : {}),
              ...checksum,
            });
          })
          .then((out) => {
            completed.push({ PartNumber: partNumber, ETag: out.ETag, ...completedChecksum(checksum) });
          }, fail)
          .finally(() => {
            inflight.delete(sent);
            reader.release(body);
          });
        inflight.add(sent);
      }
    } catch (error) {
      fail(error);
    }
    // Every failure is collected before the upload is aborted: no part is left in flight.
    await Promise.all(inflight);
    if (failure === undefined) {
      try {
        await raceAbort(objectMayComplete, signal);
        const { UploadId } = await created;
        throwIfAborted(signal);
        completed.sort((a, b) => (a.PartNumber as number) - (b.PartNumber as number));
        await requests.completeMultipartUpload({ Bucket: params.Bucket, Key: params.Key, UploadId, MultipartUpload: { Parts: completed } });
        return { digest: digester.finish() };
      } catch (error) {
        fail(error);
      }
    }
    await abortUpload(requests, params, created);
    throw (failure as { error: unknown }).error;
  } finally {
    await reader.close();
  }
}

/**
 * Aborts the multipart upload `created` made (once its CreateMultipartUpload has been answered),
 * also when the completion was sent but failed: if it completed after all, S3 answers
 * NoSuchUpload and nothing is lost. A failed abort is the requests' to record; the upload is
 * invisible anyway, and a bucket lifecycle rule AbortIncompleteMultipartUpload removes its parts.
 */
async function abortUpload(requests: UploadRequests, params: PartUploadInput['params'], created: Promise<{ UploadId?: string | undefined }>): Promise<void> {
  const uploadId = await created.then(
    (out) => out.UploadId,
    () => undefined,
  );
  if (uploadId === undefined) return;
  await requests.abortMultipartUpload({ Bucket: params.Bucket, Key: params.Key, UploadId: uploadId }).catch(() => undefined);
}
