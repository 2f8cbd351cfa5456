/**
 * Tells what sealing needs of a closed spool file: its line count, duplicate `_id`s, the first
 * and last document timestamps, and the SHA-256 of its bytes. Memory stays bounded whatever the
 * file's size: the duplicate check holds at most a pass of `_id` hashes (hash-passes.ts).
 *
 * `sealScan` reads the spool's facts sidecar (facts-file.ts) and checksums the file against it,
 * which costs a read of the compressed bytes. When there is no usable sidecar, or it shows a
 * possible duplicate, `scanSpoolFile` decodes the file instead: it reads it once, streaming, and
 * keeps 8 bytes per line (a 64-bit hash of the `_id` key; past a pass of them, in a temp file);
 * only hash collisions are re-checked exactly, in a second pass.
 */
import { createHash } from 'node:crypto';
import { EJSON } from 'bson';
import { createReadStream, promises as fs } from 'node:fs';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { crc32, createGunzip } from 'node:zlib';
import split2 from 'split2';
import { CronLogError } from '../errors.js';
import type { ClosingClaim } from '../spool/facts-file.js';
import { factsPath, readClosingClaim, readFactsFile } from '../spool/facts-file.js';
import { readGzipLines } from '../spool/gzip-members.js';
import { SpilledHashes } from '../spool/hash-passes.js';
import { hash64, lineFacts } from '../spool/line-facts.js';
import type { IdKey } from '../spool/document-ids.js';
import { idKeyOfLine } from '../spool/document-ids.js';
import type { JsonMode } from '../spool/json-lines.js';
import type { PartTypes } from '../spool/type-summary.js';
import { TypeTree, unknownTypes } from '../spool/type-summary.js';

export interface ScanResult {
  lines: number;
  bytes: number;
  sha256: string;
  /** Keys of `_id`s that occur more than once (each listed once). */
  duplicateIds: IdKey[];
  /** Extra occurrences (lines that dedupe would drop). */
  duplicateLines: number;
  firstTimestamp: string | undefined;
  lastTimestamp: string | undefined;
}

async function spoolFileSize(path: string): Promise<number> {
  try {
    return (await fs.stat(path)).size;
  } catch (err) {
    throw new CronLogError('SPOOL_IO', `cannot read spool file ${path} (${(err as Error).message})`, { cause: err });
  }
}

/** Decodes a spool file; `passHashes`: `_id` hashes held in memory at a time (hash-passes.ts). */
export async function scanSpoolFile(path: string, timestampField: string, options: { passHashes?: number } = {}): Promise<ScanResult> {
  const tsPath = timestampField.split('.');
  const hashes = new SpilledHashes(options.passHashes);
  const hash = createHash('sha256');
  let bytes = 0;
  let lines = 0;
  let first: string | undefined;
  let last: string | undefined;
  // One read: the compressed bytes are hashed on their way to gunzip.
  const tap = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      bytes += chunk.length;
      cb(null, chunk);
    },
  });
  const split = split2();
  const done = pipeline(createReadStream(path), tap, createGunzip(), split);
  done.catch(() => undefined);
  try {
    for await (const line of split as AsyncIterable<string>) {
      if (line.length === 0) continue;
      const { key, ts } = lineFacts(line, tsPath);
      if (hashes.full) await hashes.spill();
      hashes.pushKey(key);
      if (ts !== undefined) {
        if (first === undefined || ts < first) first = ts;
        if (last === undefined || ts > last) last = ts;
      }
      lines++;
    }
    await done;
  } catch (err) {
    await hashes.discard();
    throw new CronLogError('SPOOL_CORRUPT', `spool file ${path} does not decode (${(err as Error).message}); it is kept for inspection and the hour is rebuilt from MongoDB by reconcile --repair`, { cause: err });
  }
  const suspects = await hashes.repeated();
  const duplicateIds: IdKey[] = [];
  let duplicateLines = 0;
  if (suspects.size > 0) {
    const seen = new Map<IdKey, number>();
    for await (const line of readGzipLines(path)) {
      const key = idKeyOfLine(line);
      if (!suspects.has(hash64(key))) continue;
      seen.set(key, (seen.get(key) ?? 0) + 1);
    }
    for (const [key, n] of seen) {
      if (n > 1) {
        duplicateIds.push(key);
        duplicateLines += n - 1;
      }
    }
  }
  return { lines, bytes, sha256: hash.digest('hex'), duplicateIds, duplicateLines, firstTimestamp: first, lastTimestamp: last };
}

/**
 * The scan result from the file's facts sidecar. With a closing record (the spool hashed the
 * file as it wrote it), the file is not read: the upload verifies its SHA-256. Otherwise the
 * file is read once to check every member's CRC-32 against its record and to hash it; and the
 * SHA-256 is verified again by the upload. Returns why not instead when the sidecar
 * is missing or does not match the file, or when it shows a possible duplicate `_id` (then
 * the file is decoded, which finds and removes duplicates exactly).
 */
export async function scanWithFacts(path: string): Promise<{ scan: ScanResult; types: PartTypes } | { unusable: string; facts?: { lines: number; types: PartTypes } }> {
  const size = await spoolFileSize(path);
  const facts = await readFactsFile(factsPath(path), size);
  if ('unusable' in facts) return facts;
  if (facts.repeatedHashes.size > 0) {
    return { unusable: 'the facts show a possible duplicate _id', facts: { lines: facts.lines, types: facts.types } };
  }
  if (facts.sha256 !== undefined) {
    // Hashed as it was written: the upload checks the file's bytes against it as they stream.
    return {
      scan: { lines: facts.lines, bytes: size, sha256: facts.sha256, duplicateIds: [], duplicateLines: 0, firstTimestamp: facts.first, lastTimestamp: facts.last },
      types: facts.types,
    };
  }
  const hash = createHash('sha256');
  let member = 0;
  let memberCrc = 0;
  let memberLeft = facts.members[0]?.length ?? 0;
  let bad: string | undefined;
  const check = (chunk: Buffer): void => {
    let at = 0;
    while (at < chunk.length && bad === undefined) {
      const m = facts.members[member];
      if (!m) {
        bad = 'the file is longer than its facts';
        return;
      }
      const take = Math.min(memberLeft, chunk.length - at);
      memberCrc = crc32(chunk.subarray(at, at + take), memberCrc);
      memberLeft -= take;
      at += take;
      if (memberLeft === 0) {
        if (memberCrc !== m.crc32) bad = `member ${member + 1} at byte ${m.offset} does not match its facts (CRC-32)`;
        member++;
        memberCrc = 0;
        memberLeft = facts.members[member]?.length ?? 0;
      }
    }
  };
  let bytes = 0;
  try {
    for await (const chunk of createReadStream(path, { highWaterMark: 1024 * 1024 }) as AsyncIterable<Buffer>) {
      hash.update(chunk);
      bytes += chunk.length;
      check(chunk);
    }
  } catch (err) {
    throw new CronLogError('SPOOL_IO', `cannot read spool file ${path} (${(err as Error).message})`, { cause: err });
  }
  if (bad === undefined && (member !== facts.members.length || bytes !== size)) bad = 'the file changed while it was read';
  if (bad !== undefined) return { unusable: bad };
  return {
    scan: {
      lines: facts.lines,
      bytes,
      sha256: hash.digest('hex'),
      duplicateIds: [],
      duplicateLines: 0,
      firstTimestamp: facts.first,
      lastTimestamp: facts.last,
    },
    types: facts.types,
  };
}

export interface SealScan {
  scan: ScanResult;
  /** How the file was checked: from its facts sidecar, or by decoding every line. */
  method: 'facts' | 'decode';
  /** Why the facts were not used (method `decode`). */
  reason?: string;
  /**
   * The BSON type summary of the file's documents: from its facts; without usable facts, from
   * the lines in `ejson` mode (they carry every type) and unknown in `analytics` mode (never
   * guessed from the JSON).
   */
  types: PartTypes;
}

/**
 * The type summary of a spool file's lines: exact from `ejson` lines (canonical Extended JSON
 * keeps every type); unknown for `analytics` lines, which do not carry them.
 */
export async function typesOfLines(path: string, jsonMode: JsonMode, why: string): Promise<PartTypes> {
  if (jsonMode !== 'ejson') return unknownTypes(`${why}; analytics lines do not carry BSON types`);
  const tree = new TypeTree();
  for await (const line of readGzipLines(path)) tree.recordDocument(EJSON.parse(line, { relaxed: false }) as object);
  return tree.summary();
}

/**
 * What the seal needs of a closed spool file: from its facts when they match it, else decoded.
 * `jsonMode` (default analytics) tells how to read types from the lines without facts.
 */
export async function sealScan(path: string, timestampField: string, jsonMode: JsonMode = 'analytics'): Promise<SealScan> {
  const fast = await scanWithFacts(path);
  if (!('unusable' in fast)) return { scan: fast.scan, method: 'facts', types: fast.types };
  const scan = await scanSpoolFile(path, timestampField);
  // Facts that describe the file but show a possible duplicate: their types cover these lines.
  const types = fast.facts !== undefined && fast.facts.lines === scan.lines ? fast.facts.types : await typesOfLines(path, jsonMode, `the spool facts were not usable (${fast.unusable})`);
  return { scan, method: 'decode', reason: fast.unusable, types };
}

/**
 * What the spool claimed about a closed file when it closed it (size, lines, SHA-256: the facts'
 * closing record), read without checking the facts; undefined when there is no such claim. The
 * seal starts the upload on it while `sealScan` checks the facts, and completes the upload only
 * once they confirm it.
 */
export async function factsClaim(path: string): Promise<ClosingClaim | undefined> {
  const size = await spoolFileSize(path);
  return readClosingClaim(factsPath(path), size);
}
