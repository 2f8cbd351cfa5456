/**
 * The body of one upload request (a part, or a single PutObject), as a factory called once per
 * try: a Buffer source hands out its slice (sent again as it is); a file source a fresh stream
 * of the part's byte range each time (RangeStream, below), so no part is ever held whole in memory and a
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
import type { FileHandle } from 'node:fs/promises';
import { open } from 'node:fs/promises';
import { OutgoingMessage } from 'node:http';
import { Readable, type Writable } from 'node:stream';
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
      const stream = new RangeStream(path, start, length);
      payloadHashes.set(stream, sha256Hex);
      current = stream;
      return stream;
    },
    release,
  };
}

/**
 * One try's stream of a file range. Piped into an HTTP request (what the S3 client's handler
 * does), it writes the range itself through two reused buffers of RANGE_STREAM_CHUNK bytes, each
 * filled again only once the socket has taken its previous bytes (the request's write
 * callback): a part leaves no garbage behind it. (A read stream allocates a new buffer per
 * chunk; with little else allocated during an upload, V8 collects those buffers only when their
 * total grows by tens of MiB: measured 2026-12-07, a 100 MiB upload raised arrayBuffers by
 * ~30 MiB, a 5 MiB one by ~5.) Read or piped any other way, it is a plain readable stream (a new
 * buffer per chunk), since other writables may keep a chunk after calling back. Either way, a
 * read error or a range that ends short destroys the request with that error.
 */
class RangeStream extends Readable {
  private handle: FileHandle | undefined;
  private opening: Promise<FileHandle> | undefined;
  private position = 0;
  private target: Writable | undefined;
  /** Resolves once the stream is destroyed (release, or the end of a pump): stops a pump's waits. */
  private readonly stopped: Promise<void>;
  private stop!: () => void;

  constructor(
    private readonly path: string,
    private readonly start: number,
    private readonly length: number,
  ) {
    super({ highWaterMark: Math.min(RANGE_STREAM_CHUNK, length) });
    this.stopped = new Promise((resolve) => (this.stop = resolve));
    // Its errors go to the request it is piped into (_destroy): never an unhandled 'error' event.
    this.on('error', () => undefined);
  }

  override pipe<T extends NodeJS.WritableStream>(destination: T, options?: { end?: boolean }): T {
    if (destination instanceof OutgoingMessage && options?.end !== false) {
      this.target = destination;
      void this.pump(destination);
      return destination;
    }
    if (typeof (destination as unknown as Writable).destroy === 'function') this.target = destination as unknown as Writable;
    return super.pipe(destination, options);
  }

  override _read(): void {
    const size = Math.min(RANGE_STREAM_CHUNK, this.length - this.position);
    if (size === 0) {
      this.push(null);
      return;
    }
    this.readInto(Buffer.allocUnsafe(size)).then(
      (chunk) => {
        if (chunk !== undefined) this.push(chunk);
      },
      (err: Error) => this.destroy(err),
    );
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    this.stop();
    if (err) this.target?.destroy(err);
    const closing = this.handle ?? this.opening;
    this.handle = undefined;
    this.opening = undefined;
    if (closing === undefined) {
      callback(err);
      return;
    }
    Promise.resolve(closing)
      .then((fh) => fh.close())
      .then(
        () => callback(err),
        () => callback(err),
      );
  }

  /** Reads the range's next bytes into `buf` (up to its length); a short range is an IntegrityError. */
  private async readInto(buf: Buffer): Promise<Buffer | undefined> {
    this.opening ??= open(this.path, 'r');
    this.handle ??= await this.opening;
    if (this.destroyed) return undefined;
    const { bytesRead } = await this.handle.read(buf, 0, Math.min(buf.length, this.length - this.position), this.start + this.position);
    if (bytesRead === 0) {
      throw new IntegrityError('source', `${this.path} ended at byte ${this.start + this.position}, expected ${this.length} bytes from byte ${this.start}: the source changed after it was sealed`);
    }
    this.position += bytesRead;
    return buf.subarray(0, bytesRead);
  }

  /** Writes the range into `request` through two reused buffers, then ends it. */
  private async pump(request: OutgoingMessage): Promise<void> {
    const size = Math.min(RANGE_STREAM_CHUNK, this.length);
    const buffers = [Buffer.allocUnsafeSlow(size), Buffer.allocUnsafeSlow(size)];
    const taken: Array<Promise<void>> = [Promise.resolve(), Promise.resolve()];
    // A request destroyed before its socket took the bytes may never call back: its close ends the wait.
    const closed = new Promise<void>((resolve) => request.once('close', resolve));
    try {
      for (let i = 0; this.position < this.length; i ^= 1) {
        await Promise.race([taken[i], closed, this.stopped]);
        if (this.destroyed || request.destroyed) return;
        const chunk = await this.readInto(buffers[i] as Buffer);
        if (chunk === undefined || this.destroyed || request.destroyed) return;
        taken[i] = new Promise((resolve) => request.write(chunk, () => resolve()));
      }
      request.end();
      await Promise.race([Promise.all(taken), closed, this.stopped]);
      this.destroy();
    } catch (err) {
      this.destroy(err as Error);
    }
  }
}
