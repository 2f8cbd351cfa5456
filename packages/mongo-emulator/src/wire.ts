/**
 * MongoDB wire protocol framing: the 16-byte header, OP_MSG (body and document sequences) and
 * the legacy OP_QUERY / OP_REPLY pair that drivers still use for the first `isMaster` of a
 * connection. See the MongoDB Wire Protocol reference.
 */
import { BSON } from 'bson';
import type { Document } from 'bson';

export const OP_REPLY = 1;
export const OP_QUERY = 2004;
export const OP_COMPRESSED = 2012;
export const OP_MSG = 2013;

export const MAX_MESSAGE_SIZE = 48_000_000;

const FLAG_CHECKSUM_PRESENT = 1 << 0;
const FLAG_MORE_TO_COME = 1 << 1;
const FLAG_EXHAUST_ALLOWED = 1 << 16;

export class ProtocolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ProtocolError';
  }
}

export interface RawMessage {
  requestId: number;
  responseTo: number;
  opCode: number;
  /** The whole message, header included. */
  data: Buffer;
}

/** Splits a byte stream into messages. */
export class MessageReader {
  #chunks: Buffer[] = [];
  #length = 0;

  push(chunk: Buffer): RawMessage[] {
    this.#chunks.push(chunk);
    this.#length += chunk.length;
    const out: RawMessage[] = [];
    for (;;) {
      if (this.#length < 4) break;
      const size = this.#peekInt32();
      if (size < 16 || size > MAX_MESSAGE_SIZE) throw new ProtocolError(`invalid message length ${size}`);
      if (this.#length < size) break;
      const data = this.#take(size);
      out.push({
        data,
        requestId: data.readInt32LE(4),
        responseTo: data.readInt32LE(8),
        opCode: data.readInt32LE(12),
      });
    }
    return out;
  }

  #peekInt32(): number {
    const first = this.#chunks[0]!;
    if (first.length >= 4) return first.readInt32LE(0);
    return Buffer.concat(this.#chunks).readInt32LE(0);
  }

  #take(n: number): Buffer {
    const first = this.#chunks[0]!;
    let out: Buffer;
    if (first.length >= n) {
      out = first.subarray(0, n);
      if (first.length === n) this.#chunks.shift();
      else this.#chunks[0] = first.subarray(n);
    } else {
      const all = Buffer.concat(this.#chunks);
      out = all.subarray(0, n);
      this.#chunks = all.length > n ? [all.subarray(n)] : [];
    }
    this.#length -= n;
    return out;
  }
}

export interface OpMsgRequest {
  requestId: number;
  body: Document;
  /** Kind 1 sections: identifier → encoded documents. */
  sequences: Map<string, Buffer[]>;
  moreToCome: boolean;
  exhaustAllowed: boolean;
}

function readCString(buf: Buffer, pos: number): { value: string; next: number } {
  const end = buf.indexOf(0, pos);
  if (end < 0) throw new ProtocolError('unterminated cstring');
  return { value: buf.toString('utf8', pos, end), next: end + 1 };
}

/**
 * The documents of a kind 1 section, as views of one copy of the section (they outlive the
 * message buffer: inserted documents are stored as these bytes). One copy per section, not one
 * per document: a copy per document took a slice of Buffer's 8 KiB pool each, a new pool every
 * ~20 documents, and with millions of documents held those allocations (and the collections
 * they triggered) made an insert cost grow with the collection (a 1M-document hour: 106 s of a
 * profile's 490 s of CPU in Buffer pool creation). A stored document thus keeps the section it
 * came in alive (a few MB at most) until every document of it is gone.
 */
function readDocuments(buf: Buffer, start: number, end: number): Buffer[] {
  const docs: Buffer[] = [];
  const section = Buffer.from(buf.subarray(start, end));
  let pos = 0;
  const last = end - start;
  while (pos < last) {
    if (pos + 5 > last) throw new ProtocolError('truncated document sequence');
    const size = section.readInt32LE(pos);
    if (size < 5 || pos + size > last) throw new ProtocolError('invalid document size in sequence');
    docs.push(section.subarray(pos, pos + size));
    pos += size;
  }
  return docs;
}

/** Name of the first field of an encoded document (the command name). */
function firstKey(doc: Buffer): string {
  if (doc.length < 6) return '';
  const end = doc.indexOf(0, 5);
  return end < 0 ? '' : doc.toString('utf8', 5, end);
}

/**
 * Decodes a command body. The documents of an `insert` stay encoded (one Buffer each, copied
 * out of the message), so they are stored exactly as the client sent them: no decoding cost,
 * and every BSON type (int64, whole-number doubles) survives.
 */
export function deserializeCommand(body: Buffer): Document {
  if (firstKey(body) !== 'insert') return BSON.deserialize(body);
  const cmd = BSON.deserialize(body, { fieldsAsRaw: { documents: true } });
  if (Array.isArray(cmd.documents)) cmd.documents = cmd.documents.map((d: Uint8Array) => Buffer.from(d));
  return cmd;
}

export function parseOpMsg(msg: RawMessage): OpMsgRequest {
  const { data } = msg;
  const flags = data.readUInt32LE(16);
  const end = flags & FLAG_CHECKSUM_PRESENT ? data.length - 4 : data.length;
  let pos = 20;
  let body: Document | undefined;
  const sequences = new Map<string, Buffer[]>();
  while (pos < end) {
    const kind = data[pos++];
    if (kind === 0) {
      const size = data.readInt32LE(pos);
      if (size < 5 || pos + size > end) throw new ProtocolError('invalid OP_MSG body size');
      if (body) throw new ProtocolError('OP_MSG with more than one body section');
      body = deserializeCommand(data.subarray(pos, pos + size));
      pos += size;
    } else if (kind === 1) {
      const size = data.readInt32LE(pos);
      const sectionEnd = pos + size;
      if (size < 5 || sectionEnd > end) throw new ProtocolError('invalid OP_MSG document sequence size');
      const id = readCString(data, pos + 4);
      sequences.set(id.value, readDocuments(data, id.next, sectionEnd));
      pos = sectionEnd;
    } else {
      throw new ProtocolError(`unknown OP_MSG section kind ${String(kind)}`);
    }
  }
  if (!body) throw new ProtocolError('OP_MSG without a body section');
  return {
    requestId: msg.requestId,
    body,
    sequences,
    moreToCome: (flags & FLAG_MORE_TO_COME) !== 0,
    exhaustAllowed: (flags & FLAG_EXHAUST_ALLOWED) !== 0,
  };
}

export interface OpQueryRequest {
  requestId: number;
  collection: string;
  query: Document;
}

export function parseOpQuery(msg: RawMessage): OpQueryRequest {
  const { data } = msg;
  const name = readCString(data, 20);
  const pos = name.next + 8; // numberToSkip, numberToReturn
  const size = data.readInt32LE(pos);
  if (size < 5 || pos + size > data.length) throw new ProtocolError('invalid OP_QUERY document');
  const query = BSON.deserialize(data.subarray(pos, pos + size));
  return { requestId: msg.requestId, collection: name.value, query };
}

function header(total: number, requestId: number, responseTo: number, opCode: number): Buffer {
  const h = Buffer.allocUnsafe(16);
  h.writeInt32LE(total, 0);
  h.writeInt32LE(requestId, 4);
  h.writeInt32LE(responseTo, 8);
  h.writeInt32LE(opCode, 12);
  return h;
}

/** An OP_MSG reply carrying one body document (already encoded). */
export function encodeOpMsg(requestId: number, responseTo: number, body: Uint8Array, moreToCome = false): Buffer[] {
  const total = 16 + 4 + 1 + body.length;
  const prefix = Buffer.allocUnsafe(21);
  header(total, requestId, responseTo, OP_MSG).copy(prefix, 0);
  prefix.writeUInt32LE(moreToCome ? FLAG_MORE_TO_COME : 0, 16);
  prefix[20] = 0;
  return [prefix, Buffer.from(body.buffer, body.byteOffset, body.byteLength)];
}

/** An OP_REPLY carrying one document (answer to an OP_QUERY command). */
export function encodeOpReply(requestId: number, responseTo: number, doc: Uint8Array): Buffer[] {
  const total = 16 + 20 + doc.length;
  const prefix = Buffer.alloc(36);
  header(total, requestId, responseTo, OP_REPLY).copy(prefix, 0);
  prefix.writeInt32LE(0, 16); // responseFlags
  prefix.writeBigInt64LE(0n, 20); // cursorID
  prefix.writeInt32LE(0, 28); // startingFrom
  prefix.writeInt32LE(1, 32); // numberReturned
  return [prefix, Buffer.from(doc.buffer, doc.byteOffset, doc.byteLength)];
}
