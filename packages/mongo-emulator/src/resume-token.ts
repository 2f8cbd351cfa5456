/**
 * Change stream resume tokens, `{ _data: <hex> }`, laid out like mongod's: a KeyString (V1)
 * encoding of (clusterTime, version, tokenType, txnOpIndex, fromInvalidate, uuid,
 * eventIdentifier). The hex starts with `82` and the cluster time, tokens of one stream sort by
 * their hex, and a high-water-mark token sorts before every event at its cluster time.
 * See mongodb/mongo src/mongo/db/pipeline/resume_token.cpp.
 */
import { BSON, ObjectId } from 'bson';
import type { Document } from 'bson';
import type { Ts } from './clock.js';
import { Code, CommandError } from './errors.js';

export const TOKEN_VERSION = 2;
export const HIGH_WATER_MARK = 0;
export const EVENT_TOKEN = 128;

export interface ResumeTokenData {
  ts: Ts;
  version: number;
  tokenType: number;
  txnOpIndex: number;
  fromInvalidate: boolean;
  /** The full `_data` string, upper-case hex as mongod writes it. */
  hex: string;
}

class KeyStringWriter {
  readonly bytes: number[] = [];

  timestamp(ts: Ts): void {
    this.bytes.push(0x82);
    for (let shift = 56n; shift >= 0n; shift -= 8n) this.bytes.push(Number((ts >> shift) & 0xffn));
  }

  int(value: number): void {
    if (value === 0) {
      this.bytes.push(0x29);
      return;
    }
    let magnitude = BigInt(Math.abs(value)) * 2n;
    const out: number[] = [];
    while (magnitude > 0n) {
      out.unshift(Number(magnitude & 0xffn));
      magnitude >>= 8n;
    }
    if (value > 0) {
      this.bytes.push(0x2b + out.length - 1, ...out);
    } else {
      this.bytes.push(0x27 - (out.length - 1), ...out.map((b) => ~b & 0xff));
    }
  }

  bool(value: boolean): void {
    this.bytes.push(value ? 0x6f : 0x6e);
  }

  null(): void {
    this.bytes.push(0x14);
  }

  binData(subtype: number, data: Uint8Array): void {
    this.bytes.push(0x5a);
    if (data.length < 0xff) {
      this.bytes.push(data.length);
    } else {
      this.bytes.push(0xff, (data.length >>> 24) & 0xff, (data.length >>> 16) & 0xff, (data.length >>> 8) & 0xff, data.length & 0xff);
    }
    this.bytes.push(subtype);
    for (const b of data) this.bytes.push(b);
  }

  #cstring(s: string): void {
    for (const b of Buffer.from(s, 'utf8')) {
      this.bytes.push(b);
      if (b === 0) this.bytes.push(0xff);
    }
    this.bytes.push(0);
  }

  /** A value of an object field: type byte, field name, value body. */
  #field(name: string, value: unknown): void {
    const start = this.bytes.length;
    this.value(value);
    const typeByte = this.bytes[start];
    const body = this.bytes.splice(start + 1);
    if (typeByte === undefined) return;
    this.#cstring(name);
    this.bytes.push(...body);
  }

  value(value: unknown): void {
    if (value === null || value === undefined) return this.null();
    if (typeof value === 'string') {
      this.bytes.push(0x3c);
      return this.#cstring(value);
    }
    if (typeof value === 'boolean') return this.bool(value);
    if (typeof value === 'number' && Number.isSafeInteger(value)) return this.int(value);
    if (value instanceof ObjectId) {
      this.bytes.push(0x64, ...value.id);
      return;
    }
    if (value instanceof Date) {
      this.bytes.push(0x78);
      const v = BigInt.asUintN(64, BigInt(value.getTime())) ^ (1n << 63n);
      for (let shift = 56n; shift >= 0n; shift -= 8n) this.bytes.push(Number((v >> shift) & 0xffn));
      return;
    }
    if (typeof value === 'object' && !Array.isArray(value) && !(value as { _bsontype?: string })._bsontype) {
      this.bytes.push(0x46);
      for (const [k, v] of Object.entries(value as Document)) this.#field(k, v);
      this.bytes.push(0);
      return;
    }
    // Other types (doubles, Long, Decimal128, arrays, binaries...): their BSON encoding as BinData.
    // Deterministic, which is all a resume token needs to be matched again.
    this.binData(0, BSON.serialize({ v: value }));
  }

  end(): string {
    this.bytes.push(0x04);
    return Buffer.from(this.bytes).toString('hex').toUpperCase();
  }
}

const hexOf = (s: string): string => Buffer.from(s, 'utf8').toString('hex').toUpperCase();
const OPERATION_TYPE_FIELD = `3C${hexOf('operationType')}00`;
const DOCUMENT_KEY_ID_FIELD = `46${hexOf('documentKey')}00`;
const ID_OID_FIELD = `64${hexOf('_id')}00`;
const opTypeHex = new Map<string, string>();

function tsHex(ts: Ts): string {
  return ts.toString(16).toUpperCase().padStart(16, '0');
}

/**
 * The token of a point in time that is not an event, "every event before `ts` was seen":
 * clusterTime, version 2, tokenType 0, txnOpIndex 0, fromInvalidate false, no UUID.
 */
export function highWaterMarkToken(ts: Ts): string {
  return `82${tsHex(ts)}2B0429296E1404`;
}

/** Hex of a collection UUID as it appears in tokens (BinData subtype 4), or null. */
export function uuidTokenPart(uuid: Uint8Array | undefined): string {
  return uuid ? `5A1004${Buffer.from(uuid).toString('hex').toUpperCase()}` : '14';
}

/**
 * The token of an event. `eventIdentifier` is `{ operationType, documentKey }` for document
 * events, `{ operationType, operationDescription }` for the others (version 2 tokens).
 * `uuidPart` comes from `uuidTokenPart`.
 */
export function eventToken(ts: Ts, uuidPart: string, eventIdentifier: Document, fromInvalidate = false): string {
  const head = `82${tsHex(ts)}2B042C010029${fromInvalidate ? '6F' : '6E'}${uuidPart}`;
  const opType = eventIdentifier.operationType as string;
  const docKey = eventIdentifier.documentKey as Document | undefined;
  const id = docKey?._id;
  if (id instanceof ObjectId && Object.keys(eventIdentifier).length === 2 && Object.keys(docKey!).length === 1) {
    // fast path for the common case: { operationType, documentKey: { _id: ObjectId } }
    let op = opTypeHex.get(opType);
    if (op === undefined) {
      op = `${hexOf(opType)}00`;
      opTypeHex.set(opType, op);
    }
    return `${head}46${OPERATION_TYPE_FIELD}${op}${DOCUMENT_KEY_ID_FIELD}${ID_OID_FIELD}${id.toHexString().toUpperCase()}000004`;
  }
  const w = new KeyStringWriter();
  w.value(eventIdentifier);
  return head + w.end();
}

function readInt(bytes: Buffer, pos: number): { value: number; next: number } | undefined {
  const type = bytes[pos];
  if (type === 0x29) return { value: 0, next: pos + 1 };
  if (type === undefined || type < 0x2b || type > 0x32) return undefined;
  const n = type - 0x2b + 1;
  if (pos + 1 + n > bytes.length) return undefined;
  let v = 0n;
  for (let i = 0; i < n; i++) v = (v << 8n) | BigInt(bytes[pos + 1 + i]!);
  return { value: Number(v >> 1n), next: pos + 1 + n };
}

function badToken(message: string): CommandError {
  return new CommandError(Code.FailedToParse, `Bad resume token: ${message}`);
}

/**
 * Parses a client's `resumeAfter` / `startAfter` value, failing as mongod does for a missing or
 * non-string `_data` (40647), a non-hex string (FailedToParse), an empty one (40649), and with
 * FailedToParse for bytes that do not decode as a resume token.
 */
export function parseResumeToken(value: unknown): ResumeTokenData {
  const data = (value as Document | null)?._data;
  if (typeof data !== 'string') {
    throw new CommandError(
      Code.Location40647,
      `Bad resume token: _data of missing or of wrong type. Expected string, got ${JSON.stringify(value)}`,
    );
  }
  if (data.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(data)) {
    throw new CommandError(Code.FailedToParse, 'resume token string was not a valid hex string');
  }
  if (data.length === 0) throw new CommandError(Code.Location40649, 'invalid empty resume token');
  const bytes = Buffer.from(data, 'hex');
  if (bytes[0] !== 0x82 || bytes.length < 10) throw badToken('the token does not start with a cluster time');
  const ts = bytes.readBigUInt64BE(1);
  let pos = 9;
  const version = readInt(bytes, pos);
  if (!version) throw badToken('missing version');
  if (version.value > 2) throw new CommandError(50795, 'Invalid Resume Token: only supports version 0, 1 and 2');
  pos = version.next;
  let tokenType = EVENT_TOKEN;
  if (version.value >= 1) {
    const t = readInt(bytes, pos);
    if (!t) throw badToken('missing tokenType');
    if (t.value !== EVENT_TOKEN && t.value !== HIGH_WATER_MARK) {
      throw new CommandError(51057, `Token type ${t.value} not recognized`);
    }
    tokenType = t.value;
    pos = t.next;
  }
  const txn = readInt(bytes, pos);
  if (!txn) throw badToken('missing txnOpIndex');
  pos = txn.next;
  let fromInvalidate = false;
  if (version.value >= 1) {
    const b = bytes[pos];
    if (b !== 0x6e && b !== 0x6f) throw badToken('missing fromInvalidate');
    fromInvalidate = b === 0x6f;
    pos++;
  }
  if (bytes[bytes.length - 1] !== 0x04) throw badToken('truncated token');
  return { ts, version: version.value, tokenType, txnOpIndex: txn.value, fromInvalidate, hex: data.toUpperCase() };
}
