/**
 * Reading change events and documents as BSON bytes, without decoding them: where a member's
 * value starts, and the few members of a change event the tailer needs (its resume token, its
 * operation type, cluster and wall time, and where its fullDocument is).
 */
import { BSON } from 'mongodb';
import type { Document } from 'mongodb';
import { int32 } from '../spool/bson-lines.js';

/** Bytes a value of BSON type `type` at `b[i]` takes; -1 for a type this reader does not know. */
export function valueSize(type: number, b: Uint8Array, i: number): number {
  switch (type) {
    case 0x01:
    case 0x09:
    case 0x11:
    case 0x12:
      return 8;
    case 0x02:
    case 0x0d:
    case 0x0e:
      return 4 + int32(b, i);
    case 0x03:
    case 0x04:
    case 0x0f:
      return int32(b, i);
    case 0x05:
      return 5 + int32(b, i);
    case 0x06:
    case 0x0a:
    case 0x7f:
    case 0xff:
      return 0;
    case 0x07:
      return 12;
    case 0x08:
      return 1;
    case 0x0b: {
      let k = i;
      while (b[k] !== 0) k++;
      k++;
      while (b[k] !== 0) k++;
      return k + 1 - i;
    }
    case 0x0c:
      return 4 + int32(b, i) + 12;
    case 0x10:
      return 4;
    case 0x13:
      return 16;
    default:
      return -1;
  }
}

/** The key's bytes (ASCII or UTF-8) to compare member names with. */
export function keyBytes(key: string): Uint8Array {
  return new TextEncoder().encode(key);
}

function keyIs(b: Uint8Array, from: number, to: number, key: Uint8Array): boolean {
  if (to - from !== key.length) return false;
  for (let k = 0; k < key.length; k++) if (b[from + k] !== key[k]) return false;
  return true;
}

/** One member of a document, as `nextMember` reads it. */
export interface Member {
  type: number;
  /** Its key: b[keyFrom, keyTo). */
  keyFrom: number;
  keyTo: number;
  /** Where its value starts. */
  value: number;
}

/**
 * Reads the member that starts at `b[i]` into `m`; returns where the next one starts, or -1
 * when its type is one this reader cannot size.
 */
export function nextMember(b: Uint8Array, i: number, m: Member): number {
  m.type = b[i++] as number;
  m.keyFrom = i;
  while (b[i] !== 0) i++;
  m.keyTo = i++;
  m.value = i;
  const size = valueSize(m.type, b, i);
  return size < 0 ? -1 : i + size;
}

const member: Member = { type: 0, keyFrom: 0, keyTo: 0, value: 0 };

/**
 * Finds member `key` of the document at `b[at]`: returns the offset of its value and sets
 * `found.type` to its BSON type, or returns -1 when the document has no such member.
 */
export function findMember(b: Uint8Array, at: number, key: Uint8Array, found: { type: number }): number {
  const end = at + int32(b, at) - 1;
  for (let i = at + 4; i >= 0 && i < end; ) {
    const next = nextMember(b, i, member);
    if (keyIs(b, member.keyFrom, member.keyTo, key)) {
      found.type = member.type;
      return member.value;
    }
    i = next;
  }
  return -1;
}

/**
 * Offsets of the values of the members `names` (in the order given; -1 when missing) of the
 * document at `b[at]`, and their BSON types in `types` when given.
 */
export function readDocumentMembers(b: Uint8Array, at: number, names: readonly string[], types?: number[]): number[] {
  const found = { type: 0 };
  return names.map((name, k) => {
    const v = findMember(b, at, keyBytes(name), found);
    if (types && v >= 0) types[k] = found.type;
    return v;
  });
}

const K_ID = keyBytes('_id');
const K_OPERATION_TYPE = keyBytes('operationType');
const K_CLUSTER_TIME = keyBytes('clusterTime');
const K_WALL_TIME = keyBytes('wallTime');
const K_FULL_DOCUMENT = keyBytes('fullDocument');
const OPERATION_TYPES = ['insert', 'update', 'replace', 'delete', 'drop', 'rename', 'dropDatabase', 'invalidate'].map((name) => ({
  name,
  bytes: keyBytes(name),
}));

/** One change event as bytes (a view the stream reuses for the next event). */
export class ChangeEvent {
  src: Uint8Array = new Uint8Array(0);
  at = 0;
  /** Offset of the resume token document (`_id`), -1 when missing. */
  tokenAt = -1;
  operationType = '';
  /** The event's cluster time (seconds, increment); -1 when missing. */
  clusterSeconds = -1;
  clusterIncrement = 0;
  /** Wall-clock time of the event (ms), NaN when missing. */
  wallMs = Number.NaN;
  /** Offset of the fullDocument document, -1 when missing or not a document. */
  fullDocumentAt = -1;

  /** Reads the event document at `b[at]`. */
  read(b: Uint8Array, at: number): void {
    this.src = b;
    this.at = at;
    this.tokenAt = -1;
    this.operationType = '';
    this.clusterSeconds = -1;
    this.wallMs = Number.NaN;
    this.fullDocumentAt = -1;
    const end = at + int32(b, at) - 1;
    const m = member;
    for (let i = at + 4; i >= 0 && i < end; ) {
      const next = nextMember(b, i, m);
      const { type, keyFrom: from, keyTo: to, value: v } = m;
      if (type === 0x03 && keyIs(b, from, to, K_ID)) this.tokenAt = v;
      else if (type === 0x02 && keyIs(b, from, to, K_OPERATION_TYPE)) this.operationType = operationTypeAt(b, v);
      else if (type === 0x11 && keyIs(b, from, to, K_CLUSTER_TIME)) {
        this.clusterIncrement = int32(b, v) >>> 0;
        this.clusterSeconds = int32(b, v + 4) >>> 0;
      } else if (type === 0x09 && keyIs(b, from, to, K_WALL_TIME)) this.wallMs = int32(b, v + 4) * 4294967296 + (int32(b, v) >>> 0);
      else if (type === 0x03 && keyIs(b, from, to, K_FULL_DOCUMENT)) this.fullDocumentAt = v;
      i = next;
    }
  }

  /** The whole event decoded by the driver's BSON library with these options. */
  decode(options: BSON.DeserializeOptions): Document {
    return BSON.deserialize(this.src.subarray(this.at, this.at + int32(this.src, this.at)), options);
  }
}

/** The operation type string at `b[i]` (a BSON string value), without a new string for the usual ones. */
function operationTypeAt(b: Uint8Array, i: number): string {
  const n = int32(b, i) - 1;
  for (const op of OPERATION_TYPES) if (keyIs(b, i + 4, i + 4 + n, op.bytes)) return op.name;
  return new TextDecoder().decode(b.subarray(i + 4, i + 4 + n));
}
