/**
 * Rewrites a closed spool file without the lines the archive must not hold twice: the repeated
 * occurrences of `_id`s found by the scan (the first occurrence stays; defence in depth), and,
 * for an hour restored into the watched collection, every line whose `_id` a delivered part of
 * the hour already holds (src/seal/already-archived.ts: a set bounded in memory; the lines it
 * holds are found by position in a first read of the file, one bit a line). Streams; writes a
 * temp file, fsyncs, renames. When no line is dropped the file is left as it is.
 */
import { createWriteStream, promises as fs } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { gzipOptions } from '../spool/gzip-members.js';
import { readGzipLines } from '../spool/gzip-members.js';
import type { ArchivedKeySet } from '../spool/archived-key-set.js';
import type { IdKey } from '../spool/document-ids.js';
import { idKeyOfLine } from '../spool/document-ids.js';

async function* lineKeys(path: string): AsyncGenerator<IdKey> {
  for await (const line of readGzipLines(path)) yield idKeyOfLine(line);
}

/** Lines a rewrite dropped, by reason. */
export interface DroppedLines {
  /** Repeated occurrences of an `_id` in the file. */
  duplicates: number;
  /** Lines whose `_id` is in `archived`. */
  archived: number;
}

/**
 * Drops from the file at `path` the repeated occurrences of `duplicateIds` and every line whose
 * `_id` is in `archived` (see the header).
 */
export async function dropLines(path: string, drop: { duplicateIds: readonly IdKey[]; archived?: ArchivedKeySet }, gzipLevel: number): Promise<DroppedLines> {
  const dup = new Set(drop.duplicateIds);
  // Which lines the archive holds, by position (one bit a line; a first read of the file).
  const archived = drop.archived !== undefined && drop.archived.added > 0 ? await drop.archived.heldPositions(lineKeys(path)) : undefined;
  const seen = new Set<IdKey>();
  const dropped: DroppedLines = { duplicates: 0, archived: 0 };
  async function* kept(): AsyncGenerator<string> {
    let i = -1;
    for await (const line of readGzipLines(path)) {
      i++;
      if (archived !== undefined && ((archived[i >> 3] ?? 0) & (1 << (i & 7))) !== 0) {
        dropped.archived++;
        continue;
      }
      const key = idKeyOfLine(line);
      if (dup.has(key)) {
        if (seen.has(key)) {
          dropped.duplicates++;
          continue;
        }
        seen.add(key);
      }
      yield `${line}\n`;
    }
  }
  const tmp = `${path}.dedupe.tmp`;
  await pipeline(Readable.from(kept()), createGzip(gzipOptions(gzipLevel)), createWriteStream(tmp));
  if (dropped.duplicates + dropped.archived === 0) {
    await fs.rm(tmp, { force: true });
    return dropped;
  }
  const fh = await fs.open(tmp, 'r+');
  await fh.sync();
  await fh.close();
  // Replaces the file with the same lines less the dropped ones, durable before the rename: no
  // document is lost (each dropped line is kept once in the file or held by a delivered part).
  await fs.rename(tmp, path);
  return dropped;
}

/** Drops the repeated occurrences of `duplicateIds` (the first stays); returns how many. */
export async function dropDuplicateLines(path: string, duplicateIds: readonly IdKey[], gzipLevel: number): Promise<number> {
  return (await dropLines(path, { duplicateIds }, gzipLevel)).duplicates;
}
