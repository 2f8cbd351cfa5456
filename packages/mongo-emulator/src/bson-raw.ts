/**
 * Raw BSON: reading single elements out of encoded documents and writing documents from parts,
 * some of them already encoded. Documents inserted by clients are kept as the bytes the client
 * sent; replies and change events embed those bytes as they are instead of re-encoding them.
 */
import { BSON } from 'bson';
import type { Ts } from './clock.js';

const EMPTY = Buffer.alloc(0);

function i32(buf: Uint8Array, at: number): number {
  if (at + 4 > buf.length) return -1;
  return (buf[at]! | (buf[at + 1]! << 8) | (buf[at + 2]! << 16) | (buf[at + 3]! << 24)) >>> 0;
}

/** Byte offset just past the element starting at `pos` (its type byte), or -1 when malformed. */
export function elementEnd(buf: Uint8Array, pos: number): number {
  const type = buf[pos];
  let p = pos + 1;
  while (p < buf.length && buf[p] !== 0) p++;
  p++; // past the name's NUL
  if (p > buf.length || type === undefined) return -1;
  let end: number;
  switch (type) {
    case 0x01: case 0x09: case 0x11: case 0x12: end = p + 8; break;
    case 0x02: case 0x0d: case 0x0e: { const n = i32(buf, p); end = n < 0 ? -1 : p + 4 + n; break; }
    case 0x03: case 0x04: case 0x0f: { const n = i32(buf, p); end = n < 0 ? -1 : p + n; break; }
    case 0x05: { const n = i32(buf, p); end = n < 0 ? -1 : p + 5 + n; break; }
    case 0x06: case 0x0a: case 0xff: case 0x7f: end = p; break;
    case 0x07: end = p + 12; break;
    case 0x08: end = p + 1; break;
    case 0x0b: {
      let q = p;
      while (q < buf.length && buf[q] !== 0) q++;
      q++;
      while (q < buf.length && buf[q] !== 0) q++;
      end = q + 1;
      break;
    }
    case 0x0c: { const n = i32(buf, p); end = n < 0 ? -1 : p + 4 + n + 12; break; }
    case 0x10: end = p + 4; break;
    case 0x13: end = p + 16; break;
    default: return -1;
  }
  return end > buf.length ? -1 : end;
}

/** The first element of a document when it is `_id`: its byte range [start, end). */
export function firstIdElement(raw: Uint8Array): { start: number; end: number } | undefined {
  if (raw.length < 9) return undefined;
  const start = 4;
  if (raw[start + 1] !== 0x5f || raw[start + 2] !== 0x69 || raw[start + 3] !== 0x64 || raw[start + 4] !== 0) {
    return undefined; // name is not "_id"
  }
  const end = elementEnd(raw, start);
  if (end < 0 || end > raw.length - 1) return undefined;
  return { start, end };
}

/**
 * The document with `_id` as its first element, as mongod stores it: unchanged when it already
 * is, the `_id` element moved to the front, or `makeId()` (an encoded `_id` element) prepended
 * when there is none. Elements are moved as bytes, so every value keeps its exact BSON type.
 * Undefined when the document is malformed.
 */
export function withIdFirst(raw: Uint8Array, makeId: () => Uint8Array): Uint8Array | undefined {
  const last = raw.length - 1;
  let pos = 4;
  while (pos < last) {
    const end = elementEnd(raw, pos);
    if (end < 0 || end > last) return undefined;
    if (raw[pos + 1] === 0x5f && raw[pos + 2] === 0x69 && raw[pos + 3] === 0x64 && raw[pos + 4] === 0) {
      if (pos === 4) return raw;
      return documentFromElements(raw.subarray(pos, end), raw.subarray(4, pos), raw.subarray(end, last));
    }
    pos = end;
  }
  if (pos !== last) return undefined;
  return documentFromElements(makeId(), raw.subarray(4, last));
}

/** Wraps encoded elements into a document: length, elements, terminating NUL. */
export function documentFromElements(...elements: Uint8Array[]): Buffer {
  let size = 5;
  for (const e of elements) size += e.length;
  const out = Buffer.allocUnsafe(size);
  out.writeInt32LE(size, 0);
  let pos = 4;
  for (const e of elements) {
    out.set(e, pos);
    pos += e.length;
  }
  out[pos] = 0;
  return out;
}

/** The encoded element `{ <name>: value }` without the document framing. */
export function encodeElement(name: string, value: unknown): Buffer {
  const w = new BsonWriter(64);
  w.value(name, value);
  return w.takeElements();
}

/**
 * Appends BSON to a growing buffer. Documents nest with start/end; `end` patches the length.
 */
export class BsonWriter {
  #buf: Buffer;
  #pos = 0;
  readonly #stack: number[] = [];

  constructor(initialSize = 1024) {
    this.#buf = Buffer.allocUnsafe(initialSize);
  }

  get length(): number {
    return this.#pos;
  }

  #ensure(n: number): void {
    if (this.#pos + n <= this.#buf.length) return;
    let size = this.#buf.length * 2;
    while (size < this.#pos + n) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.#buf.copy(next, 0, 0, this.#pos);
    this.#buf = next;
  }

  #byte(b: number): void {
    this.#ensure(1);
    this.#buf[this.#pos++] = b;
  }

  /** Writes a string's UTF-8 bytes; short ASCII strings without a call into the runtime. */
  #utf8(s: string): void {
    const len = s.length;
    if (len <= 64) {
      this.#ensure(len);
      const buf = this.#buf;
      let pos = this.#pos;
      let ascii = true;
      for (let i = 0; i < len; i++) {
        const c = s.charCodeAt(i);
        if (c >= 0x80) {
          ascii = false;
          break;
        }
        buf[pos++] = c;
      }
      if (ascii) {
        this.#pos = pos;
        return;
      }
    }
    const n = Buffer.byteLength(s, 'utf8');
    this.#ensure(n);
    this.#buf.write(s, this.#pos, 'utf8');
    this.#pos += n;
  }

  #cstring(s: string): void {
    this.#utf8(s);
    this.#byte(0);
  }

  #header(type: number, name: string): void {
    this.#byte(type);
    this.#cstring(name);
  }

  /** Starts the top-level document. */
  startDocument(): this {
    this.#stack.push(this.#pos);
    this.#ensure(4);
    this.#pos += 4;
    return this;
  }

  startObject(name: string): this {
    this.#header(0x03, name);
    return this.startDocument();
  }

  startArray(name: string): this {
    this.#header(0x04, name);
    return this.startDocument();
  }

  end(): this {
    const start = this.#stack.pop();
    if (start === undefined) throw new Error('BsonWriter.end without start');
    this.#byte(0);
    this.#buf.writeInt32LE(this.#pos - start, start);
    return this;
  }

  string(name: string, value: string): this {
    this.#header(0x02, name);
    this.#ensure(4);
    const lengthAt = this.#pos;
    this.#pos += 4;
    this.#utf8(value);
    this.#byte(0);
    this.#buf.writeInt32LE(this.#pos - lengthAt - 4, lengthAt);
    return this;
  }

  /** A string known to be ASCII (hex, names), written byte by byte. */
  asciiString(name: string, value: string): this {
    this.#header(0x02, name);
    const len = value.length;
    this.#ensure(len + 5);
    const buf = this.#buf;
    let pos = this.#pos;
    buf.writeInt32LE(len + 1, pos);
    pos += 4;
    if (len > 32) {
      buf.write(value, pos, len, 'latin1');
      pos += len;
    } else {
      for (let i = 0; i < len; i++) buf[pos++] = value.charCodeAt(i);
    }
    buf[pos++] = 0;
    this.#pos = pos;
    return this;
  }

  int32(name: string, value: number): this {
    this.#header(0x10, name);
    this.#ensure(4);
    this.#buf.writeInt32LE(value, this.#pos);
    this.#pos += 4;
    return this;
  }

  int64(name: string, value: bigint | number): this {
    this.#header(0x12, name);
    this.#ensure(8);
    this.#buf.writeBigInt64LE(BigInt(value), this.#pos);
    this.#pos += 8;
    return this;
  }

  double(name: string, value: number): this {
    this.#header(0x01, name);
    this.#ensure(8);
    this.#buf.writeDoubleLE(value, this.#pos);
    this.#pos += 8;
    return this;
  }

  bool(name: string, value: boolean): this {
    this.#header(0x08, name);
    this.#byte(value ? 1 : 0);
    return this;
  }

  date(name: string, ms: number): this {
    this.#header(0x09, name);
    this.#ensure(8);
    this.#buf.writeBigInt64LE(BigInt(Math.trunc(ms)), this.#pos);
    this.#pos += 8;
    return this;
  }

  timestamp(name: string, ts: Ts): this {
    this.#header(0x11, name);
    this.#ensure(8);
    this.#buf.writeBigUInt64LE(ts, this.#pos);
    this.#pos += 8;
    return this;
  }

  null(name: string): this {
    this.#header(0x0a, name);
    return this;
  }

  /** An embedded document given as its encoded bytes. */
  rawDocument(name: string, bytes: Uint8Array): this {
    this.#header(0x03, name);
    this.raw(bytes);
    return this;
  }

  /** Bytes written as they are (an encoded element, or a document's body). */
  raw(bytes: Uint8Array): this {
    this.#ensure(bytes.length);
    this.#buf.set(bytes, this.#pos);
    this.#pos += bytes.length;
    return this;
  }

  /** Any value, encoded by the bson package unless it is a common simple type. */
  value(name: string, value: unknown): this {
    switch (typeof value) {
      case 'string':
        return this.string(name, value);
      case 'boolean':
        return this.bool(name, value);
      case 'number':
        if (Number.isInteger(value) && value >= -0x80000000 && value <= 0x7fffffff) return this.int32(name, value);
        return this.double(name, value);
      case 'bigint':
        return this.int64(name, value);
      default:
        break;
    }
    if (value === null) return this.null(name);
    if (value instanceof Date) return this.date(name, value.getTime());
    const encoded = BSON.serialize({ x: value });
    // encoded: int32 length, type byte, "x\0", value bytes, NUL
    const type = encoded[4];
    if (type === undefined) throw new Error('failed to encode value');
    this.#byte(type);
    this.#cstring(name);
    this.raw(encoded.subarray(7, encoded.length - 1));
    return this;
  }

  /** The finished top-level document (a view of the writer's buffer; write no more after). */
  finish(): Buffer {
    if (this.#stack.length !== 0) throw new Error('BsonWriter.finish with open documents');
    return this.#buf.subarray(0, this.#pos);
  }

  /** The bytes written so far, without framing (used for loose elements). */
  takeElements(): Buffer {
    return this.#pos === 0 ? EMPTY : Buffer.from(this.#buf.subarray(0, this.#pos));
  }
}

/**
 * The document made of the top-level elements of `raw` whose names are in `names` (as UTF-8
 * bytes), in their order, copied as bytes; undefined when `raw` is malformed.
 */
export function pickElements(raw: Uint8Array, names: readonly Uint8Array[]): Buffer | undefined {
  const last = raw.length - 1;
  const picked: Uint8Array[] = [];
  let pos = 4;
  while (pos < last) {
    const end = elementEnd(raw, pos);
    if (end < 0 || end > last) return undefined;
    for (const name of names) {
      let same = raw[pos + 1 + name.length] === 0;
      for (let j = 0; same && j < name.length; j++) same = raw[pos + 1 + j] === name[j];
      if (same) {
        picked.push(raw.subarray(pos, end));
        break;
      }
    }
    pos = end;
  }
  if (pos !== last) return undefined;
  return documentFromElements(...picked);
}
