/**
 * Server-side cursors: an id, a namespace, and batches of encoded documents. Find and
 * aggregate results are materialized when the cursor opens; change stream cursors
 * (change-stream.ts) read the oplog on every getMore. Idle cursors time out after 10 minutes,
 * like mongod's cursorTimeoutMillis.
 */
import { BSON, Long } from 'bson';
import type { Document } from 'bson';
import { BsonWriter } from './bson-raw.js';
import { rawOf } from './stored-doc.js';

/** Replies must stay under the 16 MiB BSON limit, with room for the envelope. */
export const MAX_BATCH_BYTES = 16 * 1024 * 1024 - 64 * 1024;
export const DEFAULT_FIRST_BATCH = 101;
export const CURSOR_TIMEOUT_MS = 10 * 60 * 1000;

/** A result's bytes: a stored document's own, or its encoding; a result may come encoded already. */
export function encodeDocument(doc: Document | Uint8Array): Uint8Array {
  if (doc instanceof Uint8Array) return doc;
  return rawOf(doc) ?? BSON.serialize(doc);
}

const indexNames: string[] = [];

/** "0", "1", ...: the field names of array elements. */
function indexName(i: number): string {
  let name = indexNames[i];
  if (name === undefined) {
    for (let k = indexNames.length; k <= i; k++) indexNames.push(String(k));
    name = indexNames[i]!;
  }
  return name;
}

/**
 * A batch of a cursor reply, encoded in place: the reply document is written up to the open
 * `firstBatch` / `nextBatch` array, documents are appended to it, and the server closes it
 * with the cursor id, namespace and postBatchResumeToken.
 */
export class BatchWriter {
  readonly writer: BsonWriter;
  count = 0;
  readonly #start: number;

  constructor(first: boolean, sizeHint = 64 * 1024) {
    this.writer = new BsonWriter(sizeHint);
    this.writer.startDocument().startObject('cursor').startArray(first ? 'firstBatch' : 'nextBatch');
    this.#start = this.writer.length;
  }

  get bytes(): number {
    return this.writer.length - this.#start;
  }

  /** Whether a document of about `size` bytes still fits (the first one always does). */
  fits(size: number): boolean {
    return this.count === 0 || this.bytes + size <= MAX_BATCH_BYTES;
  }

  addRaw(raw: Uint8Array): void {
    this.writer.rawDocument(indexName(this.count++), raw);
  }

  /** Opens the next element; the caller writes its fields and calls `writer.end()`. */
  startElement(): BsonWriter {
    return this.writer.startObject(indexName(this.count++));
  }
}

export interface Batch {
  /** The cursor has nothing more: the reply carries id 0 and the cursor is forgotten. */
  exhausted: boolean;
  postBatchResumeToken?: string;
}

export interface ServerCursor {
  readonly id: bigint;
  readonly ns: string;
  readonly isChangeStream: boolean;
  lastUsed: number;
  /** A getMore is running on it. */
  busy: boolean;
  /** Aborted when the cursor is killed, to interrupt a waiting getMore. */
  readonly abort: AbortController;
  /** The session the cursor was opened in (hex of `lsid.id`). */
  lsid?: string | undefined;
}

/**
 * Results of a find or a (non change stream) aggregate: materialized (an array), or produced
 * batch by batch (an iterator: a find without a sort over a big collection holds only the
 * documents of the batch being written, not every result at once).
 */
export class ResultCursor implements ServerCursor {
  readonly id: bigint;
  readonly ns: string;
  readonly isChangeStream = false;
  lastUsed = Date.now();
  busy = false;
  readonly abort = new AbortController();
  readonly #results: Iterator<Document | Uint8Array>;
  /** The next result, read ahead to know whether the cursor is exhausted. */
  #next: IteratorResult<Document | Uint8Array>;
  #remaining: number;

  constructor(id: bigint, ns: string, results: Document[] | Iterator<Document | Uint8Array>, limit = 0) {
    this.id = id;
    this.ns = ns;
    this.#results = Array.isArray(results) ? results[Symbol.iterator]() : results;
    this.#next = this.#results.next();
    this.#remaining = limit > 0 ? limit : Infinity;
  }

  /** Appends up to `batchSize` documents (0: as many as fit) to `batch`. */
  next(batchSize: number, batch: BatchWriter): Batch {
    const max = batchSize > 0 ? batchSize : Infinity;
    let added = 0;
    while (!this.#next.done && added < max && this.#remaining > 0) {
      const raw = encodeDocument(this.#next.value);
      if (!batch.fits(raw.length)) break;
      batch.addRaw(raw);
      added++;
      this.#remaining--;
      if (this.#remaining > 0) this.#next = this.#results.next();
    }
    return { exhausted: this.#next.done === true || this.#remaining <= 0 };
  }
}

export class CursorRegistry {
  readonly #cursors = new Map<bigint, ServerCursor>();
  #next = BigInt(Math.floor(Math.random() * 2 ** 40)) * 1024n + 1n;

  newId(): bigint {
    this.#next += BigInt(1 + Math.floor(Math.random() * 1000));
    return this.#next;
  }

  add(cursor: ServerCursor, lsid: string | undefined): void {
    cursor.lsid = lsid;
    this.#cursors.set(cursor.id, cursor);
  }

  /** Kills the cursors opened in these sessions (all cursors opened in a session when omitted). */
  killSessions(lsids?: Set<string>): void {
    for (const c of [...this.#cursors.values()]) {
      if (c.lsid !== undefined && (!lsids || lsids.has(c.lsid))) this.kill(c.id);
    }
  }

  get(id: bigint): ServerCursor | undefined {
    return this.#cursors.get(id);
  }

  /** Removes the cursor and interrupts a getMore waiting on it. */
  kill(id: bigint): boolean {
    const c = this.#cursors.get(id);
    if (!c) return false;
    this.#cursors.delete(id);
    c.abort.abort();
    return true;
  }

  forget(id: bigint): void {
    this.#cursors.delete(id);
  }

  get size(): number {
    return this.#cursors.size;
  }

  reapIdle(now = Date.now()): void {
    for (const c of this.#cursors.values()) {
      if (!c.busy && now - c.lastUsed > CURSOR_TIMEOUT_MS) this.kill(c.id);
    }
  }

  killAll(): void {
    for (const id of [...this.#cursors.keys()]) this.kill(id);
  }
}

/** Cursor ids travel as int64 whatever their size. */
export function cursorIdFrom(value: unknown): bigint | undefined {
  if (typeof value === 'number' && Number.isInteger(value)) return BigInt(value);
  if (typeof value === 'bigint') return value;
  if (value instanceof Long) return value.toBigInt();
  return undefined;
}
