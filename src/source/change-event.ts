/**
 * Reading change events and documents as BSON bytes, without decoding them: where a member's
 * value starts, and the few members of a change event the tailer needs (its resume token, its
 * operation type, cluster and wall time, and where its fullDocument is).
 */
import { BSON } from 'mongodb';
import type { Document } from 'mongodb';
import { int32, keyBytes, keyIs, nextMember } from '../bson/elements.js';
import type { Member } from '../bson/elements.js';

const member: Member = { type: 0, keyFrom: 0, keyTo: 0, value: 0 };
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
