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

import { TimeSlices } from './time-slices.js';

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

/** fnv64 of the text of the ASCII bytes b[from, to). */
function fnv64Bytes(b: Uint8Array, from: number, to: number, out: Uint32Array): void {
  let h1 = 0x811c9dc5;
  let h2 = 0x84222325;
  for (let i = from; i < to; i++) {
    const c = b[i] as number;
    h1 = Math.imul(h1 ^ c, 0x01000193) >>> 0;
    h2 = Math.imul(h2 ^ c, 0x100001b3) >>> 0;
  }
  out[0] = h1;
  out[1] = h2;
}

const lanes = new Uint32Array(2);

/**
 * Writes the 64-bit hash of an `_id` key into `words` at `at` as a little-endian u64 (low word,
 * then high word), the layout of HashList and of the facts file.
 */
export function hashKeyInto(key: string, words: Uint32Array, at: number): void {
  fnv64(key, lanes);
  words[at] = lanes[1] as number;
  words[at + 1] = lanes[0] as number;
}

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
    fnv64(key, lanes);
    this.pushLanes();
  }

  /**
   * Pushes the hash of the key whose text is the ASCII bytes `b[from, to)` (the same hash as
   * `pushKey` of that text: for ASCII, UTF-16 code units and bytes are the same numbers).
   */
  pushAsciiKey(b: Uint8Array, from: number, to: number): void {
    fnv64Bytes(b, from, to, lanes);
    this.pushLanes();
  }

  private pushLanes(): void {
    if (this.length === this.data.length) this.grow();
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

/** At most this many hashes per partition of `repeatedHashes` (its table then stays in cache). */
const PARTITION_HASHES = 131_072;

/**
 * The hashes that occur more than once among those stored in `words` (little-endian u64 hashes as
 * pairs of 32-bit words, low word first) at the `ranges` given as flat pairs [first hash's word
 * index, number of hashes, ...]. The hashes are read where they are (the facts file's buffer, or a
 * HashList), never copied.
 *
 * An open-addressing table of word indexes (4 bytes per slot, at least twice as many slots as
 * hashes). The hashes are split by the top bits of their mixed high word into partitions of about
 * PARTITION_HASHES, checked one after the other with one small table: a table for all of them at
 * once would be a large new allocation, which costs more in page faults (about 30 ms for the
 * 8 MiB of a 520,000-line hour here) than reading the hashes once per partition.
 */
export function repeatedHashes(words: Uint32Array, ranges: readonly number[]): Set<bigint> {
  const out = new Set<bigint>();
  for (const _ of findRepeated(words, ranges, out));
  return out;
}

/**
 * `repeatedHashes` that lets other work run (see TimeSlices). The seal checks an hour's facts
 * this way while its upload reads the file, so the check does not hold up the upload's reads.
 */
export async function repeatedHashesYielding(hashWords: Uint32Array, ranges: readonly number[]): Promise<Set<bigint>> {
  const out = new Set<bigint>();
  const slices = new TimeSlices();
  for (const _ of findRepeated(hashWords, ranges, out)) await slices.pause();
  return out;
}

/**
 * The partition of a hash by its high word: the top bits of the word times an odd constant, so
 * that hashes that share their top bits (one pass of hash-passes.ts) still spread over the
 * partitions. `shift` < 32.
 */
function partitionOf(high: number, shift: number): number {
  return Math.imul(high, 0x9e3779b1) >>> shift;
}

/** The work of `repeatedHashes`, adding to `out`; it pauses (yields) after every range. */
function* findRepeated(words: Uint32Array, ranges: readonly number[], out: Set<bigint>): Generator<void> {
  let n = 0;
  for (let r = 1; r < ranges.length; r += 2) n += ranges[r] as number;
  if (n < 2) return;
  let bits = 0;
  while (bits < 16 && n / (1 << bits) > PARTITION_HASHES) bits++;
  const shift = 32 - bits;
  // Partition p holds the hashes whose high word's top `bits` bits are p; the table is sized for
  // the largest one.
  const counts = new Int32Array(1 << bits);
  if (bits > 0) {
    for (let r = 0; r < ranges.length; r += 2) {
      const from = ranges[r] as number;
      const to = from + 2 * (ranges[r + 1] as number);
      for (let w = from + 1; w < to; w += 2) {
        const p = partitionOf(words[w] as number, shift);
        counts[p] = (counts[p] as number) + 1;
      }
    }
  } else {
    counts[0] = n;
  }
  let largest = 0;
  for (const c of counts) if (c > largest) largest = c;
  let slotBits = 10;
  while (1 << slotBits < largest * 2) slotBits++;
  const slotShift = 32 - slotBits;
  const table = new Int32Array(1 << slotBits);
  const mask = (1 << slotBits) - 1;
  for (let p = 0; p < counts.length; p++) {
    if ((counts[p] as number) < 2) continue;
    table.fill(-1);
    for (let r = 0; r < ranges.length; r += 2) {
      const from = ranges[r] as number;
      const to = from + 2 * (ranges[r + 1] as number);
      for (let w = from; w < to; w += 2) {
        const hi = words[w + 1] as number;
        if (bits > 0 && partitionOf(hi, shift) !== p) continue;
        const lo = words[w] as number;
        // The top bits of a product of both words: FNV-1a's low bits are poorly mixed, and a
        // slot taken from them makes long probe runs (3 to 4 times slower here).
        let slot = Math.imul(lo ^ Math.imul(hi, 0x9e3779b1), 0x85ebca6b) >>> slotShift;
        for (;;) {
          const j = table[slot] as number;
          if (j < 0) {
            table[slot] = w;
            break;
          }
          if (words[j] === lo && words[j + 1] === hi) {
            out.add((BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0));
            break;
          }
          slot = (slot + 1) & mask;
        }
      }
      yield;
    }
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

const ISO_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const CANONICAL_DATE = '{"$date":{"$numberLong":"';

/** The index of the quote that closes the string opening at `open`, or -1. */
function stringEnd(line: string, open: number): number {
  for (let e = line.indexOf('"', open + 1); e > 0; e = line.indexOf('"', e + 1)) {
    let backslashes = 0;
    for (let j = e - 1; line.charCodeAt(j) === 92 /* \ */; j--) backslashes++;
    if (backslashes % 2 === 0) return e;
  }
  return -1;
}

/**
 * Where the value of member `key` of the object that opens at `open` (the index of its `{`)
 * starts, or -1 when the object has no such member. Occurrences of `"key":` inside strings or in
 * nested objects and arrays are skipped: the line is read once up to the member, tracking depth
 * and jumping over strings whole.
 */
function memberValue(line: string, open: number, key: string): number {
  const needle = `"${key}":`;
  let depth = 1;
  let k = open + 1;
  for (let at = line.indexOf(needle, k); at >= 0; at = line.indexOf(needle, Math.max(k, at + 1))) {
    while (k < at) {
      const c = line.charCodeAt(k);
      if (c === 34) {
        const e = stringEnd(line, k);
        if (e < 0) return -1;
        k = e + 1;
        continue;
      }
      if (c === 123 || c === 91) depth++;
      else if (c === 125 || c === 93) {
        depth--;
        if (depth === 0) return -1;
      }
      k++;
    }
    // k > at: that occurrence was inside a string; depth > 1: in a nested object or array.
    if (k === at && depth === 1) return at + needle.length;
  }
  return -1;
}

/**
 * The timestamp at `path` (a top-level field, or a dotted path split into its keys) in a line our
 * encoder wrote, without parsing it: an ISO string `"field":"…Z"` (analytics),
 * `"field":{"$date":"…Z"}` (relaxed Extended JSON) or `"field":{"$date":{"$numberLong":"…"}}`
 * (canonical Extended JSON, the ejson mode). Each key is found only as a member of the object
 * the path leads to (not inside strings or other nested objects); undefined when the path or the
 * value is not there in one of these forms (the caller then parses the line).
 */
export function fastTimestamp(line: string, path: string | readonly string[]): string | undefined {
  const keys = typeof path === 'string' ? [path] : path;
  if (keys.length === 0 || line.charCodeAt(0) !== 123 /* { */) return undefined;
  let v = -1;
  let open = 0;
  for (let i = 0; i < keys.length; i++) {
    v = memberValue(line, open, keys[i] as string);
    if (v < 0) return undefined;
    if (i < keys.length - 1) {
      if (line.charCodeAt(v) !== 123) return undefined;
      open = v;
    }
  }
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
  let ts = fastTimestamp(line, timestampPath);
  if (key === undefined || ts === undefined) {
    // Uncommon shapes (or no timestamp in the line): parse it.
    const doc = JSON.parse(line) as Record<string, unknown>;
    key ??= JSON.stringify(doc._id ?? null);
    ts ??= lineTimestamp(doc, timestampPath);
  }
  return { key, ts };
}

/**
 * Where a line's facts are in its UTF-8 bytes, for the shape the analytics encoders write most:
 * `{"_id":"<ASCII string without escapes>"…` and the timestamp, a top-level member, as
 * `"field":"YYYY-MM-DDTHH:MM:SS.mmmZ"`. `keyFrom`/`keyTo`: the `_id` key's text (quotes
 * included); `tsAt`: the timestamp's first byte (24 ASCII bytes).
 */
export interface LineFactsAt {
  keyFrom: number;
  keyTo: number;
  tsAt: number;
}

const ID_PREFIX = [...'{"_id":"'].map((c) => c.charCodeAt(0));
/** Where each character of an ISO timestamp must be a digit (0) or that character. */
const ISO_SHAPE = [...'0000-00-00T00:00:00.000Z'].map((c) => (c === '0' ? 0 : c.charCodeAt(0)));

/**
 * The facts of the line at `b[from, to)` (UTF-8, no newline) without decoding it, when it has the
 * shape of `LineFactsAt` and the timestamp `key` is a top-level member (found as `fastTimestamp`
 * finds it: outside strings and nested values); false otherwise (then decode the line and use
 * `lineFacts`). When it returns true, `lineFacts` of the decoded line gives the same key (the
 * text at keyFrom-keyTo) and timestamp (the 24 bytes at tsAt).
 */
export function lineFactsAt(b: Uint8Array, from: number, to: number, key: Uint8Array, out: LineFactsAt): boolean {
  if (to - from < 10) return false;
  for (let k = 0; k < 8; k++) if (b[from + k] !== ID_PREFIX[k]) return false;
  let e = from + 8;
  for (; e < to; e++) {
    const c = b[e] as number;
    if (c === 0x22) break;
    if (c === 0x5c || c >= 0x80) return false;
  }
  if (e >= to) return false;
  out.keyFrom = from + 7;
  out.keyTo = e + 1;
  // The member `key` of the top-level object: scan from the `_id` value's end, at depth 1,
  // jumping over strings; a string that starts at depth 1 and reads `"key":` is the member.
  let depth = 1;
  for (let k = e + 1; k < to; ) {
    const c = b[k] as number;
    if (c === 0x22) {
      if (depth === 1 && bytesAt(b, k, key) && b[k + key.length] === 0x3a) {
        const v = k + key.length + 1;
        if (b[v] !== 0x22 || v + 26 > to || b[v + 25] !== 0x22) return false;
        for (let j = 0; j < 24; j++) {
          const x = b[v + 1 + j] as number;
          const want = ISO_SHAPE[j] as number;
          if (want === 0 ? x < 0x30 || x > 0x39 : x !== want) return false;
        }
        out.tsAt = v + 1;
        return true;
      }
      // Jump over the string: to the quote not escaped by an odd number of backslashes.
      k++;
      while (k < to) {
        const d = b[k] as number;
        if (d === 0x5c) k += 2;
        else if (d === 0x22) break;
        else k++;
      }
      k++;
      continue;
    }
    if (c === 0x7b || c === 0x5b) depth++;
    else if (c === 0x7d || c === 0x5d) {
      depth--;
      if (depth === 0) return false;
    }
    k++;
  }
  return false;
}

function bytesAt(b: Uint8Array, at: number, want: Uint8Array): boolean {
  for (let j = 0; j < want.length; j++) if (b[at + j] !== want[j]) return false;
  return true;
}

/** The needle `lineFactsAt` looks for: `"key"` as UTF-8 bytes (quotes included). */
export function memberKeyBytes(key: string): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(key));
}
