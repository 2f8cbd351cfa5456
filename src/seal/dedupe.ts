/**
 * Defence in depth: rewrites a closed spool file without the repeated occurrences of `_id`s
 * found by the scan (the first occurrence stays). Streams; writes a temp file, fsyncs, renames.
 */
import { createWriteStream, promises as fs } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { gzipOptions } from '../spool/gzip-members.js';
import { readGzipLines } from '../spool/gzip-members.js';
import type { IdKey } from '../spool/document-ids.js';
import { idKeyOfLine } from '../spool/document-ids.js';

export async function dropDuplicateLines(path: string, duplicateIds: readonly IdKey[], gzipLevel: number): Promise<number> {
  const dup = new Set(duplicateIds);
  const seen = new Set<IdKey>();
  let dropped = 0;
  async function* kept(): AsyncGenerator<string> {
    for await (const line of readGzipLines(path)) {
      const key = idKeyOfLine(line);
      if (dup.has(key)) {
        if (seen.has(key)) {
          dropped++;
          continue;
        }
        seen.add(key);
      }
      yield `${line}\n`;
    }
  }
  const tmp = `${path}.dedupe.tmp`;
  await pipeline(Readable.from(kept()), createGzip(gzipOptions(gzipLevel)), createWriteStream(tmp));
  const fh = await fs.open(tmp, 'r+');
  await fh.sync();
  await fh.close();
  // Replaces the file with the same lines less repeated occurrences of an `_id` (the first
  // stays), durable before the rename: no document is lost.
  await fs.rename(tmp, path);
  return dropped;
}
