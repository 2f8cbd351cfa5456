/**
 * Writes the analytics JSON line of a BSON document straight from its bytes, without decoding it
 * into JavaScript objects first (the capture path: a change event's `fullDocument` as the server
 * sent it → bytes in a spool slab). The output is byte for byte what `lineEncoder('analytics')`
 * (json-lines.ts) writes for the same document decoded by the driver; documents holding anything
 * this writer does not map itself return -1, and the caller decodes them (with `decodeOptionsFor`,
 * which keeps a regular expression's options exactly as stored) and uses that encoder:
 *
 *  - supported: double, string, document, array, binary (subtypes 0 and 4), undefined, ObjectId,
 *    boolean, date, null, int32, timestamp, int64;
 *  - returned to the caller (-1): other BSON types (regular expression, Decimal128, code, symbol,
 *    DBPointer, MinKey, MaxKey, other binary subtypes), keys a JavaScript object would reorder or
 *    treat specially (starting with a digit or `$`, and `__proto__`), and strings that are not
 *    valid UTF-8 (the driver rejects those; so does the caller's decode).
 *
 * With a TypeTree, the writer also marks the BSON type of every element it writes (see
 * type-summary.ts) as pending; `commitTypes()` adds the marks of the last document written to
 * the tree (the caller commits once the line is kept, so a line written again elsewhere, or left
 * to the caller, adds nothing twice or to the wrong tree).
 *
 * JSON strings: UTF-8 bytes are copied as they are; `"`, `\` and control characters are escaped
 * the way JSON.stringify does (`\b \t \n \f \r`, else `\u00xx`).
 */
import { isUtf8 } from 'node:buffer';
import { int32 } from '../bson/elements.js';
import type { TypeNode, TypeTree } from './type-summary.js';
import { BSON_TYPE_BITS, TYPE_BIT } from './type-summary.js';

/** The most bytes one BSON byte can become: a control character written as `\u00xx`. */
export const MAX_JSON_BYTES_PER_BSON_BYTE = 6;

const HEX = new Uint8Array(512);
for (let i = 0; i < 256; i++) {
  const h = i.toString(16).padStart(2, '0');
  HEX[2 * i] = h.charCodeAt(0);
  HEX[2 * i + 1] = h.charCodeAt(1);
}
const BASE64 = new TextEncoder().encode('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/');
const ESCAPES: Record<number, number> = { 8: 0x62, 9: 0x74, 10: 0x6e, 12: 0x66, 13: 0x72 };

/** The two ASCII digits of 0-99, at 2n and 2n + 1. */
const PAIRS = new Uint8Array(200);
for (let i = 0; i < 100; i++) {
  PAIRS[2 * i] = 0x30 + Math.floor(i / 10);
  PAIRS[2 * i + 1] = 0x30 + (i % 10);
}

const f64 = new Float64Array(1);
const f64Bytes = new Uint8Array(f64.buffer);

/** Signals a document the caller must encode (thrown inside, turned into -1). */
const UNSUPPORTED = Symbol('unsupported');

const MAX_DEPTH = 100;

function uint32(b: Uint8Array, i: number): number {
  return int32(b, i) >>> 0;
}

/**
 * Writes BSON documents as analytics JSON. One instance per caller; not reentrant.
 * `write(src, at, out, pos)` writes the document that starts at `src[at]` into `out` from `pos`
 * and returns the position after it (or -1, with `out` from `pos` on undefined). `out` must have
 * room for MAX_JSON_BYTES_PER_BSON_BYTE × the document's length bytes.
 */
export class BsonLineWriter {
  private out: Uint8Array = new Uint8Array(0);
  private p = 0;
  private types: TypeTree | undefined;
  /** Stamp of the current write; nodes marked by it are listed in `touched`. */
  private stamp = 0;
  private touched: TypeNode[] = [];
  private touchedCount = 0;

  write(src: Uint8Array, at: number, out: Uint8Array, pos: number, types?: TypeTree): number {
    this.out = out;
    this.p = pos;
    this.types = types;
    this.stamp++;
    this.touchedCount = 0;
    try {
      this.document(src, at, false, 0, types?.root);
    } catch (err) {
      if (err === UNSUPPORTED) return -1;
      throw err;
    }
    return this.p;
  }

  /** Adds the types marked by the last `write` to its tree. */
  commitTypes(): void {
    const touched = this.touched;
    for (let i = 0; i < this.touchedCount; i++) {
      const n = touched[i] as TypeNode;
      n.mask |= n.pending;
    }
    this.touchedCount = 0;
  }

  private mark(node: TypeNode, bit: number): void {
    if (node.stamp !== this.stamp) {
      node.stamp = this.stamp;
      node.pending = 0;
      this.touched[this.touchedCount++] = node;
    }
    node.pending |= bit;
  }

  private document(b: Uint8Array, at: number, isArray: boolean, depth: number, node: TypeNode | undefined): void {
    if (depth > MAX_DEPTH) throw UNSUPPORTED;
    const out = this.out;
    const size = int32(b, at);
    if (size < 5 || at + size > b.length || b[at + size - 1] !== 0) throw UNSUPPORTED;
    const end = at + size - 1;
    let i = at + 4;
    out[this.p++] = isArray ? 0x5b : 0x7b;
    let first = true;
    let index = 0;
    const items = node !== undefined && isArray ? (this.types as TypeTree).itemsOf(node) : undefined;
    while (i < end) {
      const type = b[i++] as number;
      const keyStart = i;
      let kid: TypeNode | undefined;
      // The key where it was last time, when it needs no escape: compared once, then copied.
      const guess = node !== undefined && !isArray ? node.kids[index] : undefined;
      const jsonKey = guess !== undefined ? sameKeyAt(guess, b, keyStart, end) : undefined;
      if (jsonKey !== undefined) {
        kid = guess;
        i = keyStart + (guess as TypeNode).keyBytes.length + 1;
        if (type !== 0x05) this.mark(kid as TypeNode, BSON_TYPE_BITS[type] as number);
        index++;
        if (!first) out[this.p++] = 0x2c;
        first = false;
        let p = this.p;
        for (let k = 0; k < jsonKey.length; k++) out[p++] = jsonKey[k] as number;
        this.p = p;
        i = this.value(type, b, i, end, depth, kid);
        continue;
      }
      while (i < end && b[i] !== 0) i++;
      if (i >= end) throw UNSUPPORTED;
      const keyEnd = i++;
      if (node !== undefined) {
        kid = isArray ? items : (this.types as TypeTree).kidBytes(node, index, b, keyStart, keyEnd);
        // Binary: marked by `binary` (its subtype decides).
        if (kid !== undefined && type !== 0x05) this.mark(kid, BSON_TYPE_BITS[type] as number);
      }
      index++;
      if (!first) out[this.p++] = 0x2c;
      first = false;
      if (!isArray) {
        const c0 = b[keyStart] as number;
        // JavaScript objects list integer-like keys first; `$` keys may make a DBRef.
        if ((c0 >= 0x30 && c0 <= 0x39) || c0 === 0x24) throw UNSUPPORTED;
        if (keyEnd - keyStart === 9 && c0 === 0x5f && isProtoKey(b, keyStart)) throw UNSUPPORTED;
        this.string(b, keyStart, keyEnd);
        out[this.p++] = 0x3a;
      }
      i = this.value(type, b, i, end, depth, kid);
    }
    out[this.p++] = isArray ? 0x5d : 0x7d;
  }

  /** Writes the value of type `type` at `b[i]`; returns the index after it. */
  private value(type: number, b: Uint8Array, i: number, end: number, depth: number, kid: TypeNode | undefined): number {
    switch (type) {
      case 0x01: {
        for (let k = 0; k < 8; k++) f64Bytes[k] = b[i + k] as number;
        this.number(f64[0] as number);
        return i + 8;
      }
      case 0x02: {
        const n = int32(b, i);
        if (n < 1 || i + 4 + n > end || b[i + 3 + n] !== 0) throw UNSUPPORTED;
        this.string(b, i + 4, i + 3 + n);
        return i + 4 + n;
      }
      case 0x03:
      case 0x04: {
        this.document(b, i, type === 0x04, depth + 1, kid);
        return i + int32(b, i);
      }
      case 0x05:
        return this.binary(b, i, end, kid);
      case 0x06:
      case 0x0a:
        this.ascii('null');
        return i;
      case 0x07: {
        const out = this.out;
        out[this.p++] = 0x22;
        for (let k = 0; k < 12; k++) {
          const h = 2 * (b[i + k] as number);
          out[this.p++] = HEX[h] as number;
          out[this.p++] = HEX[h + 1] as number;
        }
        out[this.p++] = 0x22;
        return i + 12;
      }
      case 0x08:
        this.ascii(b[i] === 1 ? 'true' : 'false');
        return i + 1;
      case 0x09: {
        this.date(int32(b, i + 4) * 4294967296 + uint32(b, i));
        return i + 8;
      }
      case 0x10:
        this.integer(int32(b, i));
        return i + 4;
      case 0x11: {
        this.ascii('{"t":');
        this.integer(uint32(b, i + 4));
        this.ascii(',"i":');
        this.integer(uint32(b, i));
        this.out[this.p++] = 0x7d;
        return i + 8;
      }
      case 0x12: {
        const lo = uint32(b, i);
        const hi = int32(b, i + 4);
        const v = hi * 4294967296 + lo;
        if (Number.isSafeInteger(v)) this.integer(v);
        else this.ascii(`"${BigInt.asIntN(64, (BigInt(hi) << 32n) | BigInt(lo)).toString()}"`);
        return i + 8;
      }
      default:
        throw UNSUPPORTED;
    }
  }

  /** Binary: UUID (subtype 4, 16 bytes) as its canonical string, subtype 0 as base64. */
  private binary(b: Uint8Array, i: number, end: number, kid: TypeNode | undefined): number {
    const n = int32(b, i);
    const sub = b[i + 4];
    const from = i + 5;
    if (n < 0 || from + n > end) throw UNSUPPORTED;
    const out = this.out;
    if (kid !== undefined && (sub === 0 || (sub === 4 && n === 16))) this.mark(kid, sub === 0 ? TYPE_BIT.binData : TYPE_BIT.uuid);
    if (sub === 4 && n === 16) {
      out[this.p++] = 0x22;
      for (let k = 0; k < 16; k++) {
        if (k === 4 || k === 6 || k === 8 || k === 10) out[this.p++] = 0x2d;
        const h = 2 * (b[from + k] as number);
        out[this.p++] = HEX[h] as number;
        out[this.p++] = HEX[h + 1] as number;
      }
      out[this.p++] = 0x22;
    } else if (sub === 0) {
      out[this.p++] = 0x22;
      this.base64(b, from, from + n);
      out[this.p++] = 0x22;
    } else {
      throw UNSUPPORTED;
    }
    return from + n;
  }

  private base64(b: Uint8Array, from: number, to: number): void {
    const out = this.out;
    let k = from;
    for (; k + 3 <= to; k += 3) {
      const v = ((b[k] as number) << 16) | ((b[k + 1] as number) << 8) | (b[k + 2] as number);
      out[this.p++] = BASE64[v >>> 18] as number;
      out[this.p++] = BASE64[(v >>> 12) & 63] as number;
      out[this.p++] = BASE64[(v >>> 6) & 63] as number;
      out[this.p++] = BASE64[v & 63] as number;
    }
    const rest = to - k;
    if (rest > 0) {
      const v = ((b[k] as number) << 16) | (rest === 2 ? (b[k + 1] as number) << 8 : 0);
      out[this.p++] = BASE64[v >>> 18] as number;
      out[this.p++] = BASE64[(v >>> 12) & 63] as number;
      out[this.p++] = rest === 2 ? (BASE64[(v >>> 6) & 63] as number) : 0x3d;
      out[this.p++] = 0x3d;
    }
  }

  /** A JSON string of the UTF-8 bytes b[from, to). (The position is kept in a local: this is the hottest loop.) */
  private string(b: Uint8Array, from: number, to: number): void {
    const out = this.out;
    let p = this.p;
    out[p++] = 0x22;
    let checked = false;
    for (let k = from; k < to; k++) {
      const c = b[k] as number;
      if (c >= 0x20 && c !== 0x22 && c !== 0x5c) {
        if (c >= 0x80 && !checked) {
          if (!isUtf8(b.subarray(from, to))) throw UNSUPPORTED;
          checked = true;
        }
        out[p++] = c;
        continue;
      }
      out[p++] = 0x5c;
      const short = ESCAPES[c];
      if (short !== undefined) {
        out[p++] = short;
      } else if (c === 0x22 || c === 0x5c) {
        out[p++] = c;
      } else {
        // `\u00xx` (a NUL inside a string too: only a string value can hold one).
        out[p++] = 0x75;
        out[p++] = 0x30;
        out[p++] = 0x30;
        out[p++] = HEX[2 * c] as number;
        out[p++] = HEX[2 * c + 1] as number;
      }
    }
    out[p++] = 0x22;
    this.p = p;
  }

  private ascii(s: string): void {
    const out = this.out;
    for (let k = 0; k < s.length; k++) out[this.p++] = s.charCodeAt(k);
  }

  /** A safe integer in decimal (as String(v) writes it, without making the string). */
  private integer(v: number): void {
    const out = this.out;
    if (v < 0) {
      out[this.p++] = 0x2d;
      v = -v;
    }
    if (v < 10) {
      out[this.p++] = 0x30 + v;
      return;
    }
    let n = 1;
    for (let x = v; x >= 10; x = Math.floor(x / 10)) n++;
    let k = this.p + n;
    this.p = k;
    for (let x = v; x > 0; x = Math.floor(x / 10)) out[--k] = 0x30 + (x % 10);
  }

  /** A double as JSON.stringify writes it; NaN and ±Infinity as strings (analytics mode). */
  private number(n: number): void {
    if (Number.isFinite(n)) {
      if (Number.isInteger(n) && Math.abs(n) <= Number.MAX_SAFE_INTEGER && !Object.is(n, -0)) this.integer(n);
      else this.ascii(Object.is(n, -0) ? '0' : String(n));
    } else {
      this.ascii(Number.isNaN(n) ? '"NaN"' : n > 0 ? '"Infinity"' : '"-Infinity"');
    }
  }

  /** The day of the last date written (UTC ms of its midnight; NaN: none yet), and its `"YYYY-MM-DDT`. */
  private dayStart = Number.NaN;
  private readonly dayPrefix = new Uint8Array(12);

  /**
   * A date as Date.prototype.toISOString writes it; null when out of the Date range. The civil
   * date of the last day written is kept: the dates of a capture mostly fall on the same day.
   */
  private date(ms: number): void {
    if (!(Math.abs(ms) <= 8.64e15)) {
      this.ascii('null');
      return;
    }
    let rest = ms - this.dayStart;
    if (!(rest >= 0 && rest < 86_400_000)) {
      if (!this.newDay(ms)) return;
      rest = ms - this.dayStart;
    }
    const out = this.out;
    let p = this.p;
    const prefix = this.dayPrefix;
    for (let k = 0; k < 12; k++) out[p++] = prefix[k] as number;
    const h = Math.floor(rest / 3_600_000);
    rest -= h * 3_600_000;
    const m = Math.floor(rest / 60_000);
    rest -= m * 60_000;
    const s = Math.floor(rest / 1000);
    const milli = rest - s * 1000;
    // "HH:MM:SS.mmmZ"
    out[p++] = PAIRS[2 * h] as number;
    out[p++] = PAIRS[2 * h + 1] as number;
    out[p++] = 0x3a;
    out[p++] = PAIRS[2 * m] as number;
    out[p++] = PAIRS[2 * m + 1] as number;
    out[p++] = 0x3a;
    out[p++] = PAIRS[2 * s] as number;
    out[p++] = PAIRS[2 * s + 1] as number;
    out[p++] = 0x2e;
    const hundreds = Math.floor(milli / 100);
    const below = milli - hundreds * 100;
    out[p++] = 0x30 + hundreds;
    out[p++] = PAIRS[2 * below] as number;
    out[p++] = PAIRS[2 * below + 1] as number;
    out[p++] = 0x5a;
    out[p++] = 0x22;
    this.p = p;
  }

  /**
   * Makes the day of `ms` the kept one (dayStart, dayPrefix). A year outside 0-9999 (which
   * toISOString writes with a sign and six digits) is written whole here instead: returns false.
   */
  private newDay(ms: number): boolean {
    const days = Math.floor(ms / 86_400_000);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    const z = days + 719_468;
    const era = Math.floor(z / 146_097);
    const doe = z - era * 146_097;
    const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36_524) - Math.floor(doe / 146_096)) / 365);
    const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
    const mp = Math.floor((5 * doy + 2) / 153);
    const day = doy - Math.floor((153 * mp + 2) / 5) + 1;
    const month = mp < 10 ? mp + 3 : mp - 9;
    const year = yoe + era * 400 + (month <= 2 ? 1 : 0);
    if (year < 0 || year > 9999) {
      this.ascii(`"${new Date(ms).toISOString()}"`);
      return false;
    }
    // `"YYYY-MM-DDT`
    const prefix = this.dayPrefix;
    prefix[0] = 0x22;
    const century = Math.floor(year / 100);
    const rest = year - century * 100;
    prefix[1] = PAIRS[2 * century] as number;
    prefix[2] = PAIRS[2 * century + 1] as number;
    prefix[3] = PAIRS[2 * rest] as number;
    prefix[4] = PAIRS[2 * rest + 1] as number;
    prefix[5] = 0x2d;
    prefix[6] = PAIRS[2 * month] as number;
    prefix[7] = PAIRS[2 * month + 1] as number;
    prefix[8] = 0x2d;
    prefix[9] = PAIRS[2 * day] as number;
    prefix[10] = PAIRS[2 * day + 1] as number;
    prefix[11] = 0x54;
    this.dayStart = days * 86_400_000;
    return true;
  }
}

/** `node`'s `jsonKey` when the key at b[at] (NUL-terminated before `end`) is its key; else undefined. */
function sameKeyAt(node: TypeNode, b: Uint8Array, at: number, end: number): Uint8Array | undefined {
  const json = node.jsonKey;
  if (json === undefined) return undefined;
  const key = node.keyBytes;
  const n = key.length;
  if (at + n >= end || b[at + n] !== 0) return undefined;
  for (let k = 0; k < n; k++) if (key[k] !== b[at + k]) return undefined;
  return json;
}

function isProtoKey(b: Uint8Array, at: number): boolean {
  const key = '__proto__';
  for (let k = 0; k < 9; k++) if (b[at + k] !== key.charCodeAt(k)) return false;
  return true;
}
