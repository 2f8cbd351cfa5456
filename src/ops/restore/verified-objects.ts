/**
 * Fetches the objects an hour's manifest lists into local temp files, through the Destination
 * interface only (any destination: directory, S3, Azure), checking each one's size and SHA-256
 * against its manifest entry as it streams. The restore loads an hour only from these verified
 * copies, after every part of the hour passed: one read of each object, and no document is
 * written from bytes that were not checked.
 */
import { createHash } from 'node:crypto';
import { createWriteStream, promises as fs } from 'node:fs';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import type { Destination } from '../../deliver/destination.js';
import { CronLogError } from '../../errors.js';
import type { ManifestPart } from '../../seal/manifest.js';
import { processAlive } from '../../spool/local-process.js';

/** One part of the hour, fetched and verified, at `path`. */
export interface VerifiedPart {
  part: ManifestPart;
  path: string;
}

/** Why a part cannot be restored: missing, or other bytes than its manifest says. */
export class PartIntegrityError extends CronLogError {
  constructor(
    readonly key: string,
    readonly problem: 'missing' | 'size' | 'sha256',
    message: string,
  ) {
    super(problem === 'missing' ? 'OBJECT_NOT_FOUND' : 'INTEGRITY_MISMATCH', message);
  }
}

const TEMP_NAME = /^restore-(\d+)-\d+-\d+\.ndjson\.gz$/;

/** Removes the temp copies a restore killed on this host left in `dir` (its pid is gone). */
async function removeStaleCopies(dir: string): Promise<void> {
  for (const name of await fs.readdir(dir).catch(() => [] as string[])) {
    const m = TEMP_NAME.exec(name);
    if (m && Number(m[1]) !== process.pid && !processAlive(Number(m[1]))) await fs.rm(join(dir, name), { force: true }).catch(() => undefined);
  }
}

/**
 * Fetches and verifies every part into `dir` (the copies of a restore killed on this host are
 * removed first); on the first failure, removes what it fetched and throws a PartIntegrityError
 * naming the key and the expected and actual size or SHA-256.
 */
export async function fetchVerifiedParts(destination: Destination, manifestKey: string, parts: readonly ManifestPart[], dir: string): Promise<VerifiedPart[]> {
  await fs.mkdir(dir, { recursive: true });
  await removeStaleCopies(dir);
  const out: VerifiedPart[] = [];
  try {
    for (const part of parts) {
      const path = join(dir, `restore-${process.pid}-${Date.now()}-${out.length}.ndjson.gz`);
      out.push({ part, path });
      await fetchOne(destination, manifestKey, part, path);
    }
    return out;
  } catch (err) {
    await removeParts(out);
    throw err;
  }
}

async function fetchOne(destination: Destination, manifestKey: string, part: ManifestPart, path: string): Promise<void> {
  const info = await destination.head(part.key);
  if (info === undefined) {
    throw new PartIntegrityError(part.key, 'missing', `object ${part.key} listed by ${manifestKey} is missing from ${destination.describe()} (expected ${part.bytes} bytes, sha256 ${part.sha256}); nothing of this hour was restored`);
  }
  const hash = createHash('sha256');
  let bytes = 0;
  const tap = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      bytes += chunk.length;
      cb(null, chunk);
    },
  });
  await pipeline((await destination.get(part.key)) as Readable, tap, createWriteStream(path));
  const sha256 = hash.digest('hex');
  if (bytes !== part.bytes) {
    throw new PartIntegrityError(part.key, 'size', `object ${part.key} has ${bytes} bytes, ${manifestKey} expects ${part.bytes} (sha256 expected ${part.sha256}, actual ${sha256}); nothing of this hour was restored`);
  }
  if (sha256 !== part.sha256) {
    throw new PartIntegrityError(part.key, 'sha256', `object ${part.key} does not match ${manifestKey}: sha256 expected ${part.sha256}, actual ${sha256} (${bytes} bytes); nothing of this hour was restored`);
  }
}

export async function removeParts(parts: readonly VerifiedPart[]): Promise<void> {
  for (const p of parts) await fs.rm(p.path, { force: true }).catch(() => undefined);
}
