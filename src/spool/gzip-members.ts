/**
 * A spool file is a sequence of complete gzip members, of about 1 MiB of lines each (multi-member gzip is
 * standard: gunzip, zcat, Python, DuckDB and Athena read it). Every checkpointed offset is
 * a member boundary, so the file decodes up to any checkpoint even if a crash tore the tail.
 */
import { createReadStream } from 'node:fs';
import { promisify } from 'node:util';
import { pipeline } from 'node:stream/promises';
import { createGunzip, gzip as gzipCb } from 'node:zlib';
import split2 from 'split2';

const gzipAsync = promisify(gzipCb);

/** Compresses one chunk of NDJSON into a complete gzip member (on libuv's thread pool). */
export function gzipMember(data: Buffer | string, level: number): Promise<Buffer> {
  return gzipAsync(data, { level });
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
