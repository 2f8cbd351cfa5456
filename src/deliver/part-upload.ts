/**
 * One upload of an object whose size is known: a single PutObject when it fits in one part, else
 * a multipart upload with parts of exactly `partSize` bytes (the last one shorter), at most
 * `queueSize` of them in flight.
 *
 * A file source is never held in memory part by part. Each part's byte range is read twice: first
 * in order through the digester with one small reused read buffer (`READ_BUFFER`, 1 MiB: the
 * object's SHA-256, the part's checksum, and the part's SHA-256 as its SigV4 payload hash), then
 * sent as a fresh read stream of the range per try of its request (src/deliver/part-body.ts); a
 * retried part is read from the file again. So a put holds one read buffer plus a stream's
 * read-ahead per part in flight, whatever the part size (it held (queueSize + 1) × partSize
 * bytes of part buffers before: 40 MiB with 8 MiB parts and queue 4, about a third of `run`'s
 * peak RSS while it sealed a big hour; see docs/performance.md, `memory`). The second read comes
 * from the page cache. A Buffer source (`body`) is sent as slices of itself.
 * (This replaced @aws-sdk/lib-storage's `Upload`, which joins the chunks of a read stream into
 * each part; the deliver benchmark still uses `Upload` as its baseline.)
 *
 * Integrity: each part goes out with its checksum (`x-amz-checksum-*` or `Content-MD5`, by mode)
 * and its SHA-256 as `x-amz-content-sha256`; S3 rejects a part whose body does not match them,
 * so bytes that changed between the digest pass and the send are never stored. The whole source
 * is checked against the declared size and SHA-256 after its last byte is digested and before
 * the last part is sent, so a changed source is never completed. `onSourceRead` is called then.
 *
 * Ordering, in the parameters: no part (and no single PutObject) is sent before `partsWaitFor`
 * resolves (the put's check for an object already at the key), while the multipart upload is
 * created and the first parts are digested and queued; the request that creates the object
 * (CompleteMultipartUpload, or the single PutObject) is not sent before `completionWaitsFor`
 * resolves too (the seal's check of the file's facts and its ledger write). Either rejecting
 * stops the upload at once with its error.
 *
 * Failures: after the first failure (a request, the source, a gate, the signal) no new part is
 * sent; the parts in flight are waited for, the multipart upload is aborted (once its
 * CreateMultipartUpload has answered) and the first error is thrown. Request retries are the
 * caller's `requests`: each try calls the request's `PartBody` again for a body of its own.
 */
import { createHash, type Hash } from 'node:crypto';
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
import { rangeBody, type PartBody } from './part-body.js';

export type { PartBody } from './part-body.js';

/** The read buffer of the digest pass over a file source (one per upload, reused for every part). */
export const READ_BUFFER = 1024 * 1024;

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
 * PutObject and UploadPart get their body apart from their input: `body()` once per try.
 */
export interface UploadRequests {
  putObject(input: Omit<PutObjectCommandInput, 'Body'>, body: PartBody): Promise<SinglePutAnswer>;
  createMultipartUpload(input: CreateMultipartUploadCommandInput): Promise<{ UploadId?: string | undefined }>;
  uploadPart(input: Omit<UploadPartCommandInput, 'Body'>, body: PartBody): Promise<{ ETag?: string | undefined }>;
  completeMultipartUpload(input: CompleteMultipartUploadCommandInput): Promise<unknown>;
  abortMultipartUpload(input: AbortMultipartUploadCommandInput): Promise<unknown>;
}

/** Each request sent once through `client`: no retries, nothing recorded. */
export function clientRequests(client: S3Client): UploadRequests {
  return {
    putObject: (input, body) => client.send(new (s3Sdk().PutObjectCommand)({ ...input, Body: body() })),
    createMultipartUpload: (input) => client.send(new (s3Sdk().CreateMultipartUploadCommand)(input)),
    uploadPart: (input, body) => client.send(new (s3Sdk().UploadPartCommand)({ ...input, Body: body() })),
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

/** One part of the source: its body per try, and what to call once its request has settled. */
interface SourcePart {
  body: PartBody;
  release(): void;
}

/**
 * The source, part by part in order. A file's part ranges go through the digester as they are
 * read (and are sent later as streams of the range); a body is digested and checked whole before
 * anything is sent (`checkBody`).
 */
class PartReader {
  private file: FileHandle | undefined;
  private buffer: Buffer | undefined;
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

  /**
   * The next `length` bytes of the source: a slice of a body source; for a file source, its range
   * digested now (part checksum, and its SHA-256 as the payload hash) and streamed per try.
   */
  async next(length: number): Promise<SourcePart> {
    const { source, expected, algorithm } = this.input;
    if ('body' in source) {
      const part = source.body.subarray(this.offset, this.offset + length);
      this.offset += part.length;
      return { body: () => part, release: () => undefined };
    }
    this.file ??= await open(source.path, 'r');
    this.buffer ??= Buffer.allocUnsafeSlow(Math.max(1, Math.min(READ_BUFFER, this.input.partSize, expected.size)));
    const start = this.offset;
    const index = this.digester.partDigests.length;
    // In SHA256 mode the part checksum is the payload hash already.
    const payload: Hash | undefined = algorithm === 'SHA256' ? undefined : createHash('sha256');
    let read = 0;
    while (read < length) {
      const { bytesRead } = await this.file.read(this.buffer, 0, Math.min(this.buffer.length, length - read), start + read);
      if (bytesRead === 0) break;
      const chunk = this.buffer.subarray(0, bytesRead);
      this.digester.update(chunk);
      payload?.update(chunk);
      read += bytesRead;
    }
    this.offset += read;
    if (read < length) throw this.mismatch();
    if (this.offset === expected.size) await this.finish();
    // The part's digest is complete: a full part's at its last byte, the last part's at finish().
    const sha256Hex = payload !== undefined ? payload.digest('hex') : (this.digester.partDigests[index] as Buffer).toString('hex');
    return rangeBody(source.path, start, length, sha256Hex);
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
      const part = await reader.next(size);
      const digest = digester.finish();
      if (fromFile) input.onSourceRead?.();
      // The single PutObject creates the object: it waits for both gates.
      let out: SinglePutAnswer;
      try {
        await raceAbort(objectMayComplete, signal);
        out = await requests.putObject({ ...params, ContentLength: size, ...checksumParams(algorithm, digest.parts[0] as Buffer) }, part.body);
      } finally {
        part.release();
      }
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
        const part = await reader.next(length);
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
            return requests.uploadPart(
              {
                Bucket: params.Bucket,
                Key: params.Key,
                UploadId,
                PartNumber: partNumber,
                ContentLength: length,
                ...(params.ChecksumAlgorithm !== undefined ? { ChecksumAlgorithm: params.ChecksumAlgorithm } : {}),
                ...checksum,
              },
              part.body,
            );
          })
          .then((out) => {
            completed.push({ PartNumber: partNumber, ETag: out.ETag, ...completedChecksum(checksum) });
          }, fail)
          .finally(() => {
            inflight.delete(sent);
            part.release();
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
