/**
 * Reads a closed spool file once, streaming, and tells what sealing needs: that it decodes, its
 * line count, duplicate `_id`s, the first and last document timestamps, and the SHA-256 of its
 * bytes. Duplicate detection keeps 8 bytes per line (a 64-bit hash of the `_id` key) rather
 * than the keys themselves, so memory stays small for any hour size; only hash collisions are
 * re-checked exactly, in a second pass.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import split2 from 'split2';
import { CronLogError } from '../errors.js';
import { readGzipLines } from '../spool/gzip-members.js';
import type { IdKey } from '../source/document-ids.js';
import { idKeyOfLine } from '../source/document-ids.js';

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

/** FNV-1a 64-bit over the UTF-16 code units, as a bigint. */
export function hash64(s: string): bigint {
  let h1 = 0x811c9dc5;
  let h2 = 0x84222325;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 0x01000193) >>> 0;
    h2 = Math.imul(h2 ^ c, 0x100001b3) >>> 0;
  }
  return (BigInt(h1) << 32n) | BigInt(h2);
}

export class HashList {
  private data = new BigUint64Array(1024);
  length = 0;
  push(v: bigint): void {
    if (this.length === this.data.length) {
      const next = new BigUint64Array(this.data.length * 2);
      next.set(this.data);
      this.data = next;
    }
    this.data[this.length++] = v;
  }
  /** Hashes that occur more than once. */
  repeated(): Set<bigint> {
    const sorted = this.data.subarray(0, this.length).sort();
    const out = new Set<bigint>();
    for (let i = 1; i < sorted.length; i++) if (sorted[i] === sorted[i - 1]) out.add(sorted[i] as bigint);
    return out;
  }
}

/** Reads the timestamp of a decoded line: ISO string (analytics) or {$date} (ejson). */
export function lineTimestamp(doc: Record<string, unknown>, path: readonly string[]): string | undefined {
  let v: unknown = doc;
  for (const k of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string, unknown>)[k];
  }
  if (typeof v === 'string' && /^\d{4}-\d{2}-\d{2}T/.test(v)) return v;
  if (v !== null && typeof v === 'object' && '$date' in v) {
    const d = (v as { $date: unknown }).$date;
    if (typeof d === 'string') return d;
    if (d !== null && typeof d === 'object' && '$numberLong' in d) return new Date(Number((d as { $numberLong: string }).$numberLong)).toISOString();
  }
  return undefined;
}

/**
 * The `_id` key of a line without parsing it, for the shapes our encoder writes first:
 * `{"_id":"<string without escapes>"...` (analytics) and `{"_id":{"$oid":"<hex>"}...` (ejson).
 * Equal to idKeyOfLine(line) whenever it returns a value.
 */
export function fastIdKey(line: string): string | undefined {
  if (line.startsWith('{"_id":"')) {
    const end = line.indexOf('"', 8);
    if (end > 0 && !line.slice(8, end).includes('\\')) return line.slice(7, end + 1);
    return undefined;
  }
  if (line.startsWith('{"_id":{"$oid":"') && line.charCodeAt(41) === 125 /* } */ && line.charCodeAt(40) === 34 /* " */) {
    return line.slice(7, 42);
  }
  return undefined;
}

/**
 * The top-level ISO timestamp string of `field` in an analytics line, without parsing it:
 * found only where the key sits at depth 1 (outside strings and nested objects).
 */
export function fastTimestamp(line: string, field: string): string | undefined {
  const needle = `"${field}":"`;
  const at = line.indexOf(needle);
  if (at < 0) return undefined;
  let depth = 0;
  let inString = false;
  for (let k = 0; k < at; k++) {
    const c = line.charCodeAt(k);
    if (inString) {
      if (c === 92 /* \ */) k++;
      else if (c === 34) inString = false;
    } else if (c === 34) inString = true;
    else if (c === 123 || c === 91) depth++;
    else if (c === 125 || c === 93) depth--;
  }
  if (depth !== 1 || inString) return undefined;
  const v = line.slice(at + needle.length, at + needle.length + 24);
  return /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/.test(v) ? v : undefined;
}

export async function scanSpoolFile(path: string, timestampField: string): Promise<ScanResult> {
  const tsPath = timestampField.split('.');
  const topLevel = tsPath.length === 1;
  const hashes = new HashList();
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
      let key = fastIdKey(line);
      let ts = topLevel ? fastTimestamp(line, timestampField) : undefined;
      if (key === undefined || (ts === undefined && !line.includes('"$date"'))) {
        // Uncommon shapes: parse the line (also checks it is JSON).
        const doc = JSON.parse(line) as Record<string, unknown>;
        key ??= JSON.stringify(doc._id ?? null);
        ts ??= lineTimestamp(doc, tsPath);
      } else if (ts === undefined) {
        ts = lineTimestamp(JSON.parse(line) as Record<string, unknown>, tsPath);
      }
      hashes.push(hash64(key));
      if (ts !== undefined) {
        if (first === undefined || ts < first) first = ts;
        if (last === undefined || ts > last) last = ts;
      }
      lines++;
    }
    await done;
  } catch (err) {
    throw new CronLogError('SPOOL_CORRUPT', `spool file ${path} does not decode (${(err as Error).message}); it is kept for inspection and the hour is rebuilt from MongoDB by reconcile --repair`, { cause: err });
  }
  const suspects = hashes.repeated();
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
