/**
 * What sealing needs to know about each archived line, read from the line's text: the key of
 * its `_id` (for duplicate checks) and its timestamp (for the manifest's first/last). The spool
 * computes these while appending (recorded per gzip member in a facts file, see facts-file.ts)
 * and the seal scan computes them while decoding; both use these functions, so the two ways of
 * sealing an hour agree.
 *
 * Duplicate detection keeps 8 bytes per line (a 64-bit FNV-1a hash of the `_id` key), not the
 * keys, so memory stays small for any hour size; only hash collisions are re-checked exactly.
 */

/** FNV-1a 64-bit (two 32-bit lanes) over the UTF-16 code units; `out[0]` high, `out[1]` low. */
function fnv64(s: string, out: Uint32Array): void {
  let h1 = 0x811c9dc5;
  let h2 = 0x84222325;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 0x01000193) >>> 0;
    h2 = Math.imul(h2 ^ c, 0x100001b3) >>> 0;
  }
  out[0] = h1;
  out[1] = h2;
}

const lanes = new Uint32Array(2);

/** The 64-bit hash of an `_id` key, as a bigint. */
export function hash64(s: string): bigint {
  fnv64(s, lanes);
  return (BigInt(lanes[0] as number) << 32n) | BigInt(lanes[1] as number);
}

/** A growable list of 64-bit hashes, stored as little-endian u64 (8 bytes each). */
export class HashList {
  private data = new BigUint64Array(1024);
  private words = new Uint32Array(this.data.buffer);
  length = 0;

  private grow(): void {
    const next = new BigUint64Array(this.data.length * 2);
    next.set(this.data);
    this.data = next;
    this.words = new Uint32Array(next.buffer);
  }

  push(v: bigint): void {
    if (this.length === this.data.length) this.grow();
    this.data[this.length++] = v;
  }

  /** Pushes the hash of `key` without allocating a bigint. */
  pushKey(key: string): void {
    if (this.length === this.data.length) this.grow();
    fnv64(key, lanes);
    const w = this.length * 2;
    // Little-endian u64: low word first (x64 and arm64 are little-endian, like the file format).
    this.words[w] = lanes[1] as number;
    this.words[w + 1] = lanes[0] as number;
    this.length++;
  }

  /** The hashes as little-endian u64 bytes (a view, valid until the next push). */
  bytes(): Uint8Array {
    return new Uint8Array(this.data.buffer, 0, this.length * 8);
  }

  clear(): void {
    this.length = 0;
  }

  /** Hashes that occur more than once. */
  repeated(): Set<bigint> {
    return repeatedHashes(this.words, [0, this.length]);
  }
}

/**
 * The hashes that occur more than once among those stored in `words` (little-endian u64 hashes as
 * pairs of 32-bit words, low word first) at the `ranges` given as flat pairs [first hash's word
 * index, number of hashes, ...]. The hashes are read where they are (the facts file's buffer, or a
 * HashList), never copied. An open-addressing table of word indexes, 4 bytes per slot.
 */
export function repeatedHashes(words: Uint32Array, ranges: readonly number[]): Set<bigint> {
  const out = new Set<bigint>();
  let n = 0;
  for (let r = 1; r < ranges.length; r += 2) n += ranges[r] as number;
  if (n < 2) return out;
  let size = 1024;
  while (size < n * 2) size *= 2;
  const mask = size - 1;
  const table = new Int32Array(size).fill(-1);
  for (let r = 0; r < ranges.length; r += 2) {
    const from = ranges[r] as number;
    const to = from + 2 * (ranges[r + 1] as number);
    for (let w = from; w < to; w += 2) {
      const lo = words[w] as number;
      const hi = words[w + 1] as number;
      let slot = (lo ^ Math.imul(hi, 0x9e3779b1)) & mask;
      for (;;) {
        const j = table[slot] as number;
        if (j < 0) {
          table[slot] = w;
          break;
        }
        if (words[j] === lo && words[j + 1] === hi) {
          out.add((BigInt(hi) << 32n) | BigInt(lo));
          break;
        }
        slot = (slot + 1) & mask;
      }
    }
  }
  return out;
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

const ISO_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const CANONICAL_DATE = '{"$date":{"$numberLong":"';

/**
 * The top-level timestamp of `field` in a line our encoder wrote, without parsing it: an ISO
 * string `"field":"…Z"` (analytics), `"field":{"$date":"…Z"}` (relaxed Extended JSON) or
 * `"field":{"$date":{"$numberLong":"…"}}` (canonical Extended JSON, the ejson mode). Found
 * only where the key sits at depth 1 (outside strings and nested objects); undefined otherwise.
 */
export function fastTimestamp(line: string, field: string): string | undefined {
  const needle = `"${field}":`;
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
  let v = at + needle.length;
  if (line.startsWith(CANONICAL_DATE, v)) {
    // Canonical Extended JSON: {"$date":{"$numberLong":"<ms>"}}, as lineTimestamp reads it.
    const from = v + CANONICAL_DATE.length;
    const end = line.indexOf('"}}', from);
    if (end < 0 || end - from > 20 || !/^-?\d+$/.test(line.slice(from, end))) return undefined;
    const date = new Date(Number(line.slice(from, end)));
    return Number.isNaN(date.getTime()) ? undefined : date.toISOString();
  }
  if (line.charCodeAt(v) === 34) {
    v += 1;
  } else if (line.startsWith('{"$date":"', v) && line.startsWith('"}', v + 34)) {
    v += 10;
  } else {
    return undefined;
  }
  const ts = line.slice(v, v + 24);
  return line.charCodeAt(v + 24) === 34 && ISO_MS.test(ts) ? ts : undefined;
}

export interface LineFacts {
  /** The `_id` key (see src/source/document-ids.ts idKeyOfLine). */
  key: string;
  /** The timestamp field's value as written, when it is a timestamp. */
  ts: string | undefined;
}

/**
 * The facts of one line: fast string reads for the shapes our encoder writes, `JSON.parse`
 * otherwise (which also checks the line is JSON; it throws when it is not).
 */
export function lineFacts(line: string, timestampPath: readonly string[]): LineFacts {
  let key = fastIdKey(line);
  let ts = timestampPath.length === 1 ? fastTimestamp(line, timestampPath[0] as string) : undefined;
  if (key === undefined || ts === undefined) {
    // Uncommon shapes (or no timestamp in the line): parse it.
    const doc = JSON.parse(line) as Record<string, unknown>;
    key ??= JSON.stringify(doc._id ?? null);
    ts ??= lineTimestamp(doc, timestampPath);
  }
  return { key, ts };
}
