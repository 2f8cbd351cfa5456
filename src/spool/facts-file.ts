/**
 * The facts file of a spool file (`<name>.ndjson.gz.facts`, next to it): one binary record per
 * gzip member, written by the spool as it flushes the member. A record tells what sealing needs
 * to know about the member's lines (line count, the 64-bit hash of every `_id` key, first and
 * last timestamp, see line-facts.ts) and identifies the bytes it describes (offset, length and
 * CRC-32 of the compressed member). With it, the seal checks an hour by reading the sidecar and
 * checksumming the spool file instead of decoding every line.
 *
 * It is an accelerator, never the only copy of anything: records are not fsynced (the spool file
 * is), each carries its own CRC-32, and the seal falls back to decoding the spool file whenever
 * the records do not cover exactly its bytes or their checksums disagree.
 *
 * When the spool wrote the whole file in one process, closing the file appends a closing record
 * with the SHA-256 of all its bytes (hashed as the members were written), so the seal need not
 * read the file before uploading it; the upload verifies that SHA-256 as the bytes stream.
 *
 * Member record (little-endian):
 *   u32 magic "CLSF" | u32 record bytes | f64 member offset | u32 member bytes | u32 lines
 *   | u32 CRC-32 of the member | u16 first-timestamp bytes | u16 last-timestamp bytes
 *   | first, last (UTF-8), zero-padded to a multiple of 8 | lines × u64 `_id` hashes
 *   | u32 CRC-32 of everything before it
 * Types record (follows the member record it completes; absent in sidecars written before
 * type summaries, whose files' types are then unknown):
 *   u32 magic "CLST" | u32 record bytes | f64 member offset | u32 JSON bytes | u32 zero
 *   | the member's BSON type summary as JSON (type-summary.ts), zero-padded to a multiple of 4
 *   | u32 CRC-32 of everything before it
 * Closing record:
 *   u32 magic "CLSE" | u32 record bytes (60) | f64 file bytes | u32 lines | u32 zero
 *   | 32 bytes SHA-256 of the file | u32 CRC-32 of everything before it
 */
import { promises as fs } from 'node:fs';
import { crc32 } from 'node:zlib';
import { HashBuckets, HashesChanged, PASS_HASHES, repeatedInPasses } from './hash-passes.js';
import { repeatedHashesYielding } from './line-facts.js';
import { TimeSlices } from './time-slices.js';
import type { PartTypes } from './type-summary.js';
import { mergeTypes, parsePartTypes } from './type-summary.js';

const MAGIC = 0x46534c43; // "CLSF" read as a little-endian u32
const CLOSING_MAGIC = 0x45534c43; // "CLSE"
const TYPES_MAGIC = 0x54534c43; // "CLST"
const TYPES_HEADER = 24;
const CLOSING_BYTES = 60;
const HEADER = 32;
const MAX_TIMESTAMP_BYTES = 0xffff;

/** The sidecar path of a spool file. */
export function factsPath(spoolPath: string): string {
  return `${spoolPath}.facts`;
}

/** The spool file path of a sidecar path, or undefined when `path` is not one. */
export function spoolPathOfFacts(path: string): string | undefined {
  return path.endsWith('.facts') ? path.slice(0, -'.facts'.length) : undefined;
}

export interface MemberFacts {
  lines: number;
  /** The lines' `_id` hashes, little-endian u64 each. */
  hashes: Uint8Array;
  first: string | undefined;
  last: string | undefined;
  /** The BSON type summary of the member's documents. */
  types?: PartTypes | undefined;
}

/** Encodes the record of a member written at `offset`. Undefined when it cannot be recorded. */
export function encodeFactsRecord(member: Uint8Array, offset: number, facts: MemberFacts): Buffer | undefined {
  const first = Buffer.from(facts.first ?? '', 'utf8');
  const last = Buffer.from(facts.last ?? '', 'utf8');
  if (first.length > MAX_TIMESTAMP_BYTES || last.length > MAX_TIMESTAMP_BYTES) return undefined;
  const text = Math.ceil((first.length + last.length) / 8) * 8;
  const size = HEADER + text + facts.hashes.length + 4;
  const out = Buffer.alloc(size);
  out.writeUInt32LE(MAGIC, 0);
  out.writeUInt32LE(size, 4);
  out.writeDoubleLE(offset, 8);
  out.writeUInt32LE(member.length, 16);
  out.writeUInt32LE(facts.lines, 20);
  out.writeUInt32LE(crc32(member), 24);
  out.writeUInt16LE(first.length, 28);
  out.writeUInt16LE(last.length, 30);
  first.copy(out, HEADER);
  last.copy(out, HEADER + first.length);
  out.set(facts.hashes, HEADER + text);
  out.writeUInt32LE(crc32(out.subarray(0, size - 4)), size - 4);
  if (facts.types === undefined) return out;
  return Buffer.concat([out, encodeTypesRecord(offset, facts.types)]);
}

function encodeTypesRecord(offset: number, types: PartTypes): Buffer {
  const json = Buffer.from(JSON.stringify(types), 'utf8');
  const size = TYPES_HEADER + Math.ceil(json.length / 4) * 4 + 4;
  const out = Buffer.alloc(size);
  out.writeUInt32LE(TYPES_MAGIC, 0);
  out.writeUInt32LE(size, 4);
  out.writeDoubleLE(offset, 8);
  out.writeUInt32LE(json.length, 16);
  json.copy(out, TYPES_HEADER);
  out.writeUInt32LE(crc32(out.subarray(0, size - 4)), size - 4);
  return out;
}

/** The types record at `at` describing the member at `offset`: its summary and size; undefined when there is none. */
function readTypesRecord(data: Buffer, at: number, offset: number): { types: PartTypes | undefined; size: number } | undefined {
  if (at + TYPES_HEADER + 4 > data.length || data.readUInt32LE(at) !== TYPES_MAGIC) return undefined;
  const size = data.readUInt32LE(at + 4);
  if (size < TYPES_HEADER + 4 || at + size > data.length) return undefined;
  const record = data.subarray(at, at + size);
  if (crc32(record.subarray(0, size - 4)) !== record.readUInt32LE(size - 4) || record.readDoubleLE(8) !== offset) return { types: undefined, size };
  const length = record.readUInt32LE(16);
  if (TYPES_HEADER + length > size - 4) return { types: undefined, size };
  try {
    return { types: parsePartTypes(JSON.parse(record.toString('utf8', TYPES_HEADER, TYPES_HEADER + length))), size };
  } catch {
    return { types: undefined, size };
  }
}

/** Encodes the closing record of a file of `bytes` bytes and `lines` lines with this SHA-256. */
export function encodeClosingRecord(bytes: number, lines: number, sha256: Buffer): Buffer {
  const out = Buffer.alloc(CLOSING_BYTES);
  out.writeUInt32LE(CLOSING_MAGIC, 0);
  out.writeUInt32LE(CLOSING_BYTES, 4);
  out.writeDoubleLE(bytes, 8);
  out.writeUInt32LE(lines, 16);
  sha256.copy(out, 24, 0, 32);
  out.writeUInt32LE(crc32(out.subarray(0, CLOSING_BYTES - 4)), CLOSING_BYTES - 4);
  return out;
}

export interface MemberRange {
  offset: number;
  length: number;
  crc32: number;
}

/** What the records say about a whole spool file. */
export interface FileFacts {
  lines: number;
  /**
   * The `_id` hashes that occur more than once among the file's lines (hash-passes.ts: found with
   * memory bounded by the pass size, whatever the file's size). Empty: no duplicate `_id`.
   */
  repeatedHashes: Set<bigint>;
  first: string | undefined;
  last: string | undefined;
  members: MemberRange[];
  /** SHA-256 (hex) of the whole file, from a closing record that matches it. */
  sha256?: string;
  /**
   * The BSON type summary of the file's documents, merged from its members' types records;
   * unknown (with the reason) when a member has none.
   */
  types: PartTypes;
}

/** What a closing record claims about its spool file, before the records are checked. */
export interface ClosingClaim {
  bytes: number;
  lines: number;
  /** SHA-256 (hex) of the whole file. */
  sha256: string;
}

/**
 * Reads only the closing record at the end of a sidecar (60 bytes): what the spool recorded when
 * it closed the file. Undefined when there is none, it is damaged, or it describes another size.
 * A claim, not a check: `readFactsFile` confirms it (every record, and the duplicate check is the
 * seal's), and the upload verifies the SHA-256 as the bytes stream.
 */
export async function readClosingClaim(path: string, fileSize: number): Promise<ClosingClaim | undefined> {
  let fh: fs.FileHandle | undefined;
  try {
    fh = await fs.open(path, 'r');
    const size = (await fh.stat()).size;
    if (size < CLOSING_BYTES) return undefined;
    const record = Buffer.alloc(CLOSING_BYTES);
    const { bytesRead } = await fh.read(record, 0, CLOSING_BYTES, size - CLOSING_BYTES);
    if (bytesRead !== CLOSING_BYTES) return undefined;
    if (record.readUInt32LE(0) !== CLOSING_MAGIC || record.readUInt32LE(4) !== CLOSING_BYTES) return undefined;
    if (crc32(record.subarray(0, CLOSING_BYTES - 4)) !== record.readUInt32LE(CLOSING_BYTES - 4)) return undefined;
    if (record.readDoubleLE(8) !== fileSize) return undefined;
    return { bytes: fileSize, lines: record.readUInt32LE(16), sha256: record.toString('hex', 24, 56) };
  } catch {
    return undefined;
  } finally {
    await fh?.close().catch(() => undefined);
  }
}

/** Bytes of the sidecar read at a time (a record larger than this is read whole). */
const READ_BYTES = 1 << 20;

/**
 * A window on a sidecar file: `ensure(at, n)` makes bytes [at, at + n) readable in `buf` (at
 * `at - start`), reading ahead as far as the buffer allows. Reads only move forward. Records
 * are 4-byte aligned in the file and `start` always sits at a record, so `words` (a view of
 * `buf`) holds a record's hashes at word `(at - start + offset) / 4`.
 */
class SidecarWindow {
  buf: Buffer;
  words: Uint32Array;
  start = 0;
  end = 0;

  /** `buf`: a buffer of `readBytes` to read into (one read after another may share it). */
  constructor(
    private readonly fh: fs.FileHandle,
    private readonly readBytes: number,
    buf: Buffer,
  ) {
    this.buf = buf;
    this.words = new Uint32Array(buf.buffer, buf.byteOffset, buf.length >>> 2);
  }

  /** Whether the file has bytes [at, at + n): then they are in `buf`. `at` never goes back. */
  async ensure(at: number, n: number): Promise<boolean> {
    if (at >= this.start && at + n <= this.end) return true;
    const keep = Math.max(0, this.end - at);
    if (n > this.buf.length) {
      const bigger = Buffer.allocUnsafeSlow(Math.ceil(n / this.readBytes) * this.readBytes);
      this.buf.copy(bigger, 0, at - this.start, this.end - this.start);
      this.buf = bigger;
      this.words = new Uint32Array(bigger.buffer, bigger.byteOffset, bigger.length >>> 2);
    } else if (keep > 0) {
      this.buf.copyWithin(0, at - this.start, this.end - this.start);
    }
    this.start = at;
    this.end = at + keep;
    while (this.end < at + n) {
      const { bytesRead } = await this.fh.read(this.buf, this.end - this.start, this.buf.length - (this.end - this.start), this.end);
      if (bytesRead === 0) return false;
      this.end += bytesRead;
    }
    return true;
  }
}

/** What one read of a sidecar found (`readFactsFile` reads it once, and again per pass of the duplicate check). */
type SidecarSummary = Omit<FileFacts, 'repeatedHashes'>;

/**
 * Reads the records of a sidecar in order, checking each (magic, size, CRC-32, offsets), and
 * hands every record's hashes to `onHashes`; returns what they say, or why they are unusable.
 */
async function readRecords(
  path: string,
  fileSize: number,
  readBytes: number,
  buf: Buffer,
  onHashes: (words: Uint32Array, ranges: readonly number[]) => void,
): Promise<SidecarSummary | { unusable: string }> {
  let fh: fs.FileHandle;
  try {
    fh = await fs.open(path, 'r');
  } catch (err) {
    return { unusable: (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no facts file' : `facts file unreadable (${(err as Error).message})` };
  }
  try {
    return await readOpenRecords(new SidecarWindow(fh, readBytes, buf), fileSize, onHashes);
  } catch (err) {
    return { unusable: `facts file unreadable (${(err as Error).message})` };
  } finally {
    await fh.close().catch(() => undefined);
  }
}

async function readOpenRecords(
  win: SidecarWindow,
  fileSize: number,
  onHashes: (words: Uint32Array, ranges: readonly number[]) => void,
): Promise<SidecarSummary | { unusable: string }> {
  const out: SidecarSummary = { lines: 0, first: undefined, last: undefined, members: [], types: { unknown: 'no member' } };
  const memberTypes: Array<PartTypes | undefined> = [];
  let at = 0;
  let covered = 0;
  // Checking a large hour's records takes tens of ms: let other work (the upload) run.
  const slices = new TimeSlices();
  while (covered < fileSize) {
    await slices.pause();
    if (!(await win.ensure(at, HEADER + 4))) return { unusable: `facts cover ${covered} of ${fileSize} bytes` };
    const size = win.buf.readUInt32LE(at - win.start + 4);
    if (win.buf.readUInt32LE(at - win.start) !== MAGIC || size < HEADER + 4 || at % 4 !== 0 || !(await win.ensure(at, size))) {
      return { unusable: `damaged facts record at byte ${at}` };
    }
    const p = at - win.start;
    const record = win.buf.subarray(p, p + size);
    if (crc32(record.subarray(0, size - 4)) !== record.readUInt32LE(size - 4)) return { unusable: `facts record at byte ${at} fails its checksum` };
    const offset = record.readDoubleLE(8);
    if (offset !== covered) return { unusable: `facts record at byte ${at} describes offset ${offset}, expected ${covered}` };
    const length = record.readUInt32LE(16);
    const lines = record.readUInt32LE(20);
    const firstLen = record.readUInt16LE(28);
    const lastLen = record.readUInt16LE(30);
    const text = Math.ceil((firstLen + lastLen) / 8) * 8;
    if (HEADER + text + lines * 8 + 4 !== size) return { unusable: `damaged facts record at byte ${at}` };
    out.members.push({ offset, length, crc32: record.readUInt32LE(24) });
    out.lines += lines;
    onHashes(win.words, [(p + HEADER + text) / 4, lines]);
    if (firstLen > 0) {
      const first = record.toString('utf8', HEADER, HEADER + firstLen);
      if (out.first === undefined || first < out.first) out.first = first;
    }
    if (lastLen > 0) {
      const last = record.toString('utf8', HEADER + firstLen, HEADER + firstLen + lastLen);
      if (out.last === undefined || last > out.last) out.last = last;
    }
    covered += length;
    at += size;
    let typesRecord: { types: PartTypes | undefined; size: number } | undefined;
    if (await win.ensure(at, TYPES_HEADER + 4)) {
      const typesSize = win.buf.readUInt32LE(at - win.start + 4);
      if (win.buf.readUInt32LE(at - win.start) === TYPES_MAGIC && typesSize % 4 === 0 && (await win.ensure(at, typesSize))) {
        typesRecord = readTypesRecord(win.buf.subarray(at - win.start, win.end - win.start), 0, offset);
      }
    }
    memberTypes.push(typesRecord?.types);
    if (typesRecord) at += typesRecord.size;
  }
  out.types = mergeTypes(memberTypes, 'a member of the spool file has no type summary in its facts');
  if (covered !== fileSize) return { unusable: `facts describe ${covered} bytes, the file has ${fileSize}` };
  if ((await win.ensure(at, CLOSING_BYTES)) && win.buf.readUInt32LE(at - win.start) === CLOSING_MAGIC && win.buf.readUInt32LE(at - win.start + 4) === CLOSING_BYTES) {
    const record = win.buf.subarray(at - win.start, at - win.start + CLOSING_BYTES);
    if (
      crc32(record.subarray(0, CLOSING_BYTES - 4)) === record.readUInt32LE(CLOSING_BYTES - 4) &&
      record.readDoubleLE(8) === fileSize &&
      record.readUInt32LE(16) === out.lines
    ) {
      out.sha256 = record.toString('hex', 24, 56);
    }
  }
  return out;
}

/** Options of `readFactsFile`. */
export interface ReadFactsOptions {
  /** Hashes held at a time by the duplicate check (hash-passes.ts; default PASS_HASHES). */
  passHashes?: number;
  /** Bytes of the sidecar read at a time (default 1 MiB; a multiple of 8; tests use small ones). */
  readBytes?: number;
}

/**
 * Reads the facts of a spool file of `fileSize` bytes, streaming (memory bounded whatever the
 * hour's size): every record is checked, and the `_id` hashes that occur more than once are
 * found in passes over the sidecar (hash-passes.ts; one read when they fit in one pass). Returns
 * the reason instead when they cannot be used: missing, damaged, not covering exactly the file's
 * bytes, or changed between passes. Records past the file's end (members cut off by a recovery)
 * are ignored.
 */
export async function readFactsFile(path: string, fileSize: number, options: ReadFactsOptions = {}): Promise<FileFacts | { unusable: string }> {
  const passHashes = options.passHashes ?? PASS_HASHES;
  const readBytes = options.readBytes ?? READ_BYTES;
  // One read buffer for the first read and every pass (no garbage of a buffer per pass).
  const buf = Buffer.allocUnsafeSlow(readBytes);
  const buckets = new HashBuckets();
  // The first read keeps the hashes too, as long as they fit in one pass; past that, the same
  // buffer serves the passes. (Zero-filled and written from its start: its untouched pages are
  // not resident, so a small hour does not pay for the whole buffer.)
  const kept = new Uint32Array(2 * passHashes);
  let fits = true;
  const first = await readRecords(path, fileSize, readBytes, buf, (words, ranges) => {
    const from = ranges[0] as number;
    const n = ranges[1] as number;
    if (fits && buckets.total + n > passHashes) fits = false;
    if (fits) kept.set(words.subarray(from, from + 2 * n), 2 * buckets.total);
    buckets.add(words, ranges);
  });
  if ('unusable' in first) return first;
  let repeatedHashes: Set<bigint>;
  if (fits) {
    repeatedHashes = await repeatedHashesYielding(kept, [0, buckets.total]);
  } else {
    try {
      repeatedHashes = await repeatedInPasses(
        buckets,
        async (visit) => {
          const again = await readRecords(path, fileSize, readBytes, buf, visit);
          if ('unusable' in again) throw new HashesChanged(again.unusable);
          if (again.lines !== first.lines) throw new HashesChanged(`${first.lines} lines, then ${again.lines}`);
        },
        passHashes,
        kept,
      );
    } catch (err) {
      if (err instanceof HashesChanged) return { unusable: `the facts file changed while it was read: ${err.message}` };
      throw err;
    }
  }
  return { ...first, repeatedHashes };
}
