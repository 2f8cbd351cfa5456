/**
 * Where objects taken out of an hour are kept for audit: under `_superseded/`, at the root of the
 * destination (outside the data prefix `outputDirectory/`), at their data key followed by the
 * first 16 hex digits of their SHA-256, e.g.
 *
 *   _superseded/api-logs/2024-01-15/00-01.ndjson.gz.3f2a9c0d1e4b5a67
 *
 * so that no reader of the archive globs them: they are outside the data prefix (a table or glob
 * over `api-logs/` never sees them) and their names do not end with `.ndjson.gz` (a recursive
 * `*.ndjson.gz` glob over the whole destination skips them too). Reconcile
 * --repair moves an object there (a damaged object it replaced, an object the manifest does not
 * list) only after the hour's manifest no longer lists it and its replacement is delivered and
 * verified. A move copies, checks the copy, and only then removes the object from its data key:
 * nothing is ever deleted without a verified copy. Moving the same bytes again is idempotent.
 */
import { randomBytes } from 'node:crypto';
import { createWriteStream, promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { CronLogError } from '../errors.js';
import type { Destination } from '../deliver/destination.js';
import { HashTap } from './hash-tap.js';

export const SUPERSEDED_PREFIX = '_superseded/';

/** The audit key of the object at `key` whose bytes hash to `sha256`. */
export function supersededKey(key: string, sha256: string): string {
  return `${SUPERSEDED_PREFIX}${key}.${sha256.slice(0, 16)}`;
}

/**
 * Moves the object at `key` to its audit key (supersededKey): downloads it to a temp file in
 * `workDirectory`, puts it there (never over other content), checks the copy's size and SHA-256,
 * then deletes `key`. Returns the audit key.
 */
export async function moveOutOfDataPrefix(destination: Destination, key: string, workDirectory = tmpdir()): Promise<string> {
  await fs.mkdir(workDirectory, { recursive: true });
  const tmp = join(workDirectory, `superseded-${process.pid}-${randomBytes(6).toString('hex')}.tmp`);
  try {
    const tap = new HashTap();
    await pipeline((await destination.get(key)) as NodeJS.ReadableStream, tap, createWriteStream(tmp));
    const size = tap.bytes;
    const sha256 = tap.digest();
    const to = supersededKey(key, sha256);
    await destination.put({ key: to, source: { path: tmp }, size, sha256, contentType: 'application/gzip', noOverwrite: true });
    const copy = await destination.head(to);
    if (copy === undefined || copy.size !== size || (copy.sha256 !== undefined && copy.sha256 !== sha256)) {
      throw new CronLogError('DELIVERY_FAILED', `the audit copy ${to} of ${key} does not match it; ${key} is left in place`);
    }
    await destination.delete(key);
    return to;
  } finally {
    await fs.rm(tmp, { force: true });
  }
}
