/**
 * A spool file is a sequence of complete gzip members, of about 1 MiB of lines each (multi-member gzip is
 * standard: gunzip, zcat, Python, DuckDB and Athena read it). Every checkpointed offset is
 * a member boundary, so the file decodes up to any checkpoint even if a crash tore the tail.
 */
import { createReadStream } from 'node:fs';
import { promisify } from 'node:util';
import { pipeline } from 'node:stream/promises';
import { createGunzip, gzip as gzipCb } from 'node:zlib';
import type { ZlibOptions } from 'node:zlib';
import split2 from 'split2';

const gzipAsync = promisify(gzipCb);

/**
 * zlib options for a compression level. memLevel 9 (zlib's default is 8) gives deflate a larger
 * hash table: the same output size, and 10–15% less CPU on 1 MiB slabs of API-log NDJSON at
 * level 6 here (3.1–3.5 against 3.0 µs per document), for 128 KiB more memory per stream.
 */
export function gzipOptions(level: number): ZlibOptions {
  return { level, memLevel: 9 };
}

/**
 * Output buffer of one step of a member's compression. zlib's default (16 KiB) takes about ten
 * steps for a 1 MiB slab of API-log lines (about 150 KiB compressed), each a hand-over from the
 * thread pool to the main thread and back; with 256 KiB one step usually does it. At levels 1-9
 * the bytes are the same (deflate's output does not depend on how its output space is handed
 * out); level 0 is not: its stored blocks are cut to the output space, so it keeps the default.
 */
const MEMBER_CHUNK_BYTES = 256 * 1024;

/** Compresses one chunk of NDJSON into a complete gzip member (on libuv's thread pool). */
export async function gzipMember(data: Buffer | string, level: number): Promise<Buffer> {
  const out = await gzipAsync(data, level === 0 ? gzipOptions(level) : { ...gzipOptions(level), chunkSize: MEMBER_CHUNK_BYTES });
  // One step's output is a view of its whole 256 KiB buffer: keep only the member's bytes
  // (members wait in memory until the next flush).
  return out.buffer.byteLength > out.length + 16 * 1024 ? Buffer.from(out) : out;
}

/**
 * Streams the NDJSON lines of a (multi-member) gzip file, bounded memory. `end` limits the
 * compressed bytes read (a checkpointed offset).
 */
export async function* readGzipLines(path: string, end?: number): AsyncGenerator<string> {
  if (end === 0) return;
  const input = createReadStream(path, end === undefined ? {} : { start: 0, end: end - 1 });
  const lines = split2();
  // pipeline forwards an error of any stage (a torn or corrupt member) to `lines`.
  const done = pipeline(input, createGunzip(), lines);
  done.catch(() => undefined);
  for await (const line of lines as AsyncIterable<string>) {
    if (line.length > 0) yield line;
  }
  await done;
}
