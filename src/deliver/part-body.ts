/**
 * The body of one upload request (a part, or a single PutObject), as a factory called once per
 * try: a Buffer source hands out its slice (sent again as it is); a file source a fresh read
 * stream of the part's byte range each time, so no part is ever held whole in memory and a
 * retried request re-sends the same bytes from the file (each part's checksum, computed by a
 * first pass over the range, makes S3 refuse any other bytes).
 *
 * A range body carries the SHA-256 of its bytes (`payloadSha256`): the S3 client sends it as the
 * SigV4 payload hash (`x-amz-content-sha256`), which the signer cannot compute for a stream (it
 * would send UNSIGNED-PAYLOAD), so the server still checks every part body against a hash in
 * every checksum mode, as it did with Buffer bodies.
 *
 * The HTTP handler pipes a stream body into its request (`body.pipe(request)`), and a pipe passes
 * on neither the source's error nor its ending short: a range stream that fails to read (the
 * file vanished, EIO) or ends before its last byte (the file shrank since the digest pass)
 * destroys the request it is piped into with that error, so the request fails at once instead
 * of waiting for bytes that never come (and a read error is never an unhandled 'error' event).
 */
import { createReadStream, type ReadStream } from 'node:fs';
import type { Readable, Writable } from 'node:stream';
import { IntegrityError } from './errors.js';

/** The body of one try of a request: call it once per try. */
export type PartBody = () => Buffer | Readable;

/** Read-ahead of a range stream: the bytes one part in flight holds at a time (plus the socket's). */
export const RANGE_STREAM_CHUNK = 256 * 1024;

const payloadHashes = new WeakMap<object, string>();

/** The hex SHA-256 of a range body's bytes, when `body` is one. */
export function payloadSha256(body: unknown): string | undefined {
  return typeof body === 'object' && body !== null ? payloadHashes.get(body) : undefined;
}

/** A file range's body and what closes its last stream (once the request has settled). */
export interface RangeBody {
  body: PartBody;
  release(): void;
}

/**
 * The bytes [start, start + length) of the file at `path`, whose SHA-256 is `sha256Hex`: each call
 * of `body` opens a new stream of the range (and closes the previous try's, should it still be open).
 */
export function rangeBody(path: string, start: number, length: number, sha256Hex: string): RangeBody {
  let current: Readable | undefined;
  const release = (): void => {
    current?.destroy();
    current = undefined;
  };
  return {
    body: () => {
      release();
      if (length === 0) return Buffer.alloc(0);
      const stream = guarded(createReadStream(path, { start, end: start + length - 1, highWaterMark: Math.min(RANGE_STREAM_CHUNK, length) }), path, start, length);
      payloadHashes.set(stream, sha256Hex);
      current = stream;
      return stream;
    },
    release,
  };
}

/** A range stream whose read error or short end destroys the request it is piped into. */
function guarded(stream: ReadStream, path: string, start: number, length: number): ReadStream {
  let target: Writable | undefined;
  let failure: Error | undefined;
  const fail = (err: Error): void => {
    failure ??= err;
    target?.destroy(failure);
  };
  stream.on('error', fail);
  stream.on('end', () => {
    if (stream.bytesRead < length) {
      fail(new IntegrityError('source', `${path} ended at byte ${start + stream.bytesRead}, expected ${length} bytes from byte ${start}: the source changed after it was sealed`));
    }
  });
  const pipe = stream.pipe.bind(stream);
  stream.pipe = <T extends NodeJS.WritableStream>(destination: T, options?: { end?: boolean }): T => {
    if (typeof (destination as unknown as Writable).destroy === 'function') target = destination as unknown as Writable;
    const out = pipe(destination, options);
    if (failure !== undefined) target?.destroy(failure);
    return out;
  };
  return stream;
}
