/** A pass-through stream that hashes (SHA-256) and counts the bytes on their way through it. */
import { createHash } from 'node:crypto';
import { Transform } from 'node:stream';
import type { TransformCallback } from 'node:stream';

export class HashTap extends Transform {
  /** Bytes that went through so far. */
  bytes = 0;
  private readonly hash = createHash('sha256');

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    callback(null, chunk);
  }

  /** Hex SHA-256 of the bytes that went through (call once, when they all have). */
  digest(): string {
    return this.hash.digest('hex');
  }
}
