/**
 * Reading a few top-level fields of a stored document's BSON in place, without decoding it: the
 * type and offset of each named field (the last one when a name repeats, as `BSON.deserialize`
 * keeps), for the range tests and count keys of raw-range-filter.ts and count-group.ts.
 *
 * Decoding a ~400-byte API-log document to read its `createdAt` and `_id` cost the count per hour
 * ~8.7 µs a document in the emulator (1,000,000 documents, `--lean-documents`; node --cpu-prof:
 * bson's deserializeObject, Buffer views and the garbage they leave); walking its elements costs
 * a fraction of that and allocates nothing (`RawFields` is reused document after document).
 */

/** The type byte of a field not present. */
export const ABSENT = 0;

export class RawFields {
  /** The names read, UTF-8. */
  readonly #names: Uint8Array[];
  /** Per name: its BSON type byte (ABSENT when missing), and its value's offset in `bytes`. */
  readonly types: Uint8Array;
  readonly offsets: Int32Array;
  /** Per name: where its element starts (its type byte) and ends, in `bytes`. */
  readonly starts: Int32Array;
  readonly ends: Int32Array;
  /** The bytes of the document loaded last (a view of its whole buffer), and its range. */
  bytes: Buffer = Buffer.alloc(0);
  #buffer: ArrayBufferLike | undefined;

  constructor(names: readonly string[]) {
    this.#names = names.map((n) => Buffer.from(n, 'utf8'));
    this.types = new Uint8Array(names.length);
    this.offsets = new Int32Array(names.length);
    this.starts = new Int32Array(names.length);
    this.ends = new Int32Array(names.length);
  }

  /**
   * Reads the document of `length` bytes at `offset` of `buffer`. False when its bytes are
   * malformed (the caller decodes it instead, which reports the error as it always did).
   */
  load(buffer: ArrayBufferLike, offset: number, length: number): boolean {
    if (buffer !== this.#buffer) {
      // Documents of one insert share their message's buffer: one view for all of them.
      this.#buffer = buffer;
      this.bytes = Buffer.from(buffer);
    }
    const b = this.bytes;
    const names = this.#names;
    this.types.fill(ABSENT);
    const last = offset + length - 1;
    if (length < 5 || last >= b.length || b[last] !== 0) return false;
    let pos = offset + 4;
    while (pos < last) {
      const type = b[pos]!;
      const nameAt = pos + 1;
      let p = nameAt;
      while (p < last && b[p] !== 0) p++;
      if (p >= last) return false;
      const nameLen = p - nameAt;
      p++;
      let matched = -1;
      for (let i = 0; i < names.length; i++) {
        const name = names[i]!;
        if (name.length !== nameLen) continue;
        let same = true;
        for (let j = 0; j < nameLen; j++) {
          if (b[nameAt + j] !== name[j]) {
            same = false;
            break;
          }
        }
        if (same) {
          matched = i;
          break;
        }
      }
      const next = valueEnd(b, type, p, last);
      if (next < 0) return false;
      if (matched >= 0) {
        this.types[matched] = type;
        this.offsets[matched] = p;
        this.starts[matched] = pos;
        this.ends[matched] = next;
      }
      pos = next;
    }
    return pos === last;
  }

  /** The int64 at `at` (exact within ±2^53; beyond, only its magnitude is meaningful). */
  int64(at: number): number {
    const b = this.bytes;
    const lo = (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)) >>> 0;
    const hi = b[at + 4]! | (b[at + 5]! << 8) | (b[at + 6]! << 16) | (b[at + 7]! << 24);
    return hi * 4294967296 + lo;
  }

  /**
   * The int64 at `at` when it is within ±2^53 (what bson decodes as a number, promoteLongs),
   * else undefined (decoded as a Long).
   */
  int64AsNumber(at: number): number | undefined {
    const b = this.bytes;
    const hi = b[at + 4]! | (b[at + 5]! << 8) | (b[at + 6]! << 16) | (b[at + 7]! << 24);
    const lo = (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)) >>> 0;
    if (hi >= -0x20_0000 && (hi < 0x20_0000 || (hi === 0x20_0000 && lo === 0))) return hi * 4294967296 + lo;
    return undefined;
  }

  int32(at: number): number {
    const b = this.bytes;
    return b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24);
  }

  double(at: number): number {
    return this.bytes.readDoubleLE(at);
  }
}

function u32(b: Uint8Array, at: number): number {
  return (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)) >>> 0;
}

/** Offset just past a value of `type` starting at `p`, or -1 when it does not end by `last`. */
function valueEnd(b: Uint8Array, type: number, p: number, last: number): number {
  let end: number;
  switch (type) {
    case 0x01: case 0x09: case 0x11: case 0x12: end = p + 8; break;
    case 0x02: case 0x0d: case 0x0e: end = p + 4 + u32(b, p); break;
    case 0x03: case 0x04: case 0x0f: end = p + u32(b, p); break;
    case 0x05: end = p + 5 + u32(b, p); break;
    case 0x06: case 0x0a: case 0xff: case 0x7f: end = p; break;
    case 0x07: end = p + 12; break;
    case 0x08: end = p + 1; break;
    case 0x0b: {
      let q = p;
      while (q < last && b[q] !== 0) q++;
      q++;
      while (q < last && b[q] !== 0) q++;
      end = q + 1;
      break;
    }
    case 0x0c: end = p + 4 + u32(b, p) + 12; break;
    case 0x10: end = p + 4; break;
    case 0x13: end = p + 16; break;
    default: return -1;
  }
  return end > last || end < p ? -1 : end;
}
