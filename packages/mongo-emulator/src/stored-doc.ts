/**
 * A stored document. It is immutable: it holds the encoded bytes, the decoded object, or both,
 * decoding or encoding the missing form on first use. An update stores a new document, so an
 * oplog entry can keep referring to the version it describes.
 *
 * Memory: a document stored from its bytes (an insert) keeps only them, its `_id` key and its
 * position, about 200 bytes over the BSON (a 10,000,000-document collection fits in a few GB).
 * With `keepDecodedDocuments(false)` (the `--lean-documents` flag), reads that only look at a
 * document (scans, filters, replies: `view()`) decode it without keeping the object, which would
 * cost several times the BSON for every document ever read (a 10,000,000-document hour);
 * by default the decoded object is kept, so repeated scans of a collection (aggregations over a
 * day) do not decode it again. Its `_id` value is decoded on first use either way.
 */
import { BSON, ObjectId } from 'bson';
import type { Document } from 'bson';
import { documentFromElements, firstIdElement, pickElements } from './bson-raw.js';
import { keyOf } from './keys.js';
import { typedLike } from './number-types.js';
import type { RawFields } from './raw-fields.js';

/** Decoded stored objects back to their encoded bytes, to reply without re-encoding. */
const rawOfObject = new WeakMap<object, Uint8Array>();

export function rawOf(obj: object): Uint8Array | undefined {
  return rawOfObject.get(obj);
}

/** Whether `view()` keeps the object it decodes (see the header). */
let keepDecoded = true;

/** Whether reads keep the objects they decode (default true; false for big collections). */
export function keepDecodedDocuments(keep: boolean): void {
  keepDecoded = keep;
}

export class StoredDoc {
  /**
   * The encoded bytes, kept as their buffer and range rather than as a view of them: a Buffer
   * view is ~100 bytes of heap per stored document (~1 GB at 10,000,000 documents), a view made
   * on use is short-lived. Undefined buffer: not encoded yet.
   */
  #buf: ArrayBufferLike | undefined;
  #off = 0;
  #len = 0;
  #obj: Document | undefined;
  /** The `_id` value; undefined when not decoded yet (an ObjectId read from `#raw` on first use). */
  #id: unknown;
  readonly idKey: string;
  /**
   * Position in the natural order of the collection holding the document (set by
   * `Collection.put`; a new version of a document keeps the position of the one it replaces).
   */
  seq = 0;

  private constructor(raw: Uint8Array | undefined, obj: Document | undefined, id: unknown, idKey?: string) {
    if (raw) this.#keep(raw);
    this.#obj = obj;
    this.#id = id;
    this.idKey = idKey ?? keyOf(id);
    if (raw && obj) rawOfObject.set(obj, raw);
  }

  #keep(raw: Uint8Array): void {
    this.#buf = raw.buffer;
    this.#off = raw.byteOffset;
    this.#len = raw.byteLength;
  }

  /** A view of the encoded bytes (made on each call). */
  get #raw(): Buffer | undefined {
    return this.#buf === undefined ? undefined : Buffer.from(this.#buf, this.#off, this.#len);
  }

  /** The `_id` value. */
  get id(): unknown {
    if (this.#id === undefined) {
      const raw = this.#raw!;
      const range = firstIdElement(raw)!;
      this.#id = new ObjectId(Buffer.from(raw.subarray(range.start + 5, range.start + 17)));
    }
    return this.#id;
  }

  /** From encoded bytes whose first element is `_id` (checked by the caller). */
  static fromRaw(raw: Uint8Array, id: unknown): StoredDoc {
    return new StoredDoc(raw, undefined, id);
  }

  /**
   * From encoded bytes starting with an `_id` element (as stored and journaled): the `_id` is
   * read without decoding the rest. Returns undefined when the first element is not `_id`.
   */
  static fromStoredRaw(raw: Uint8Array): StoredDoc | undefined {
    const range = firstIdElement(raw);
    if (!range) return undefined;
    if (raw[range.start] === 0x07 && range.end - range.start === 17) {
      // An ObjectId: its key (keyOf: `o` + hex) read in place, the value decoded on first use.
      const view = Buffer.isBuffer(raw) ? raw : Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
      return new StoredDoc(raw, undefined, undefined, `o${view.toString('hex', range.start + 5, range.start + 17)}`);
    }
    const id = BSON.deserialize(documentFromElements(raw.subarray(range.start, range.end)))._id as unknown;
    return new StoredDoc(raw, undefined, id);
  }

  /** From an object the emulator will never mutate again; `_id` must be present. */
  static fromObject(obj: Document): StoredDoc {
    return new StoredDoc(undefined, obj, obj._id);
  }

  /**
   * A new version of `before` (an update): its bytes keep the number types of the fields the
   * update left equal (number-types.ts); the object stays as mingo made it.
   */
  static updatedFrom(obj: Document, before: StoredDoc): StoredDoc {
    const typed = typedLike(obj, () => before.raw);
    return typed === obj ? new StoredDoc(undefined, obj, obj._id) : new StoredDoc(BSON.serialize(typed), obj, obj._id);
  }

  get raw(): Uint8Array {
    let raw = this.#raw;
    if (!raw) {
      const encoded = BSON.serialize(this.#obj!);
      this.#keep(encoded);
      rawOfObject.set(this.#obj!, encoded);
      raw = this.#raw!;
    }
    return raw;
  }

  get obj(): Document {
    if (!this.#obj) {
      const raw = this.#raw!;
      this.#obj = BSON.deserialize(raw);
      rawOfObject.set(this.#obj, raw);
    }
    return this.#obj;
  }

  /**
   * The decoded object for a read that only looks at it (never mutates it): the kept object when
   * there is one, else a fresh decode that is not kept (replies still embed the stored bytes).
   */
  view(): Document {
    if (this.#obj) return this.#obj;
    if (keepDecoded) return this.obj;
    const raw = this.#raw!;
    const obj = BSON.deserialize(raw);
    rawOfObject.set(obj, raw);
    return obj;
  }

  /**
   * For a read that looks only at the top-level fields `names` (UTF-8; pipeline-fields.ts): the
   * kept object when there is one, else those elements alone decoded (not kept). Never embedded
   * in a reply: the stored bytes are not remembered for it.
   */
  viewFields(names: readonly Uint8Array[]): Document {
    if (this.#obj) return this.#obj;
    if (keepDecoded) return this.obj;
    const picked = pickElements(this.#raw!, names);
    return picked ? BSON.deserialize(picked) : this.view();
  }

  /**
   * Loads the encoded bytes into `fields` (raw-fields.ts) to read some fields without decoding;
   * false when the document has no bytes yet or they are malformed.
   */
  loadFields(fields: RawFields): boolean {
    return this.#buf !== undefined && fields.load(this.#buf, this.#off, this.#len);
  }

  /** The decoded object, if decoded already. */
  get cachedObj(): Document | undefined {
    return this.#obj;
  }

  /** The encoded bytes, if encoded already. */
  get cachedRaw(): Uint8Array | undefined {
    return this.#raw;
  }

  get size(): number {
    return this.#buf === undefined ? this.raw.length : this.#len;
  }

  /** The encoded `_id` element (type, name, value), e.g. for `documentKey`. */
  idElement(): Uint8Array {
    const raw = this.raw;
    const range = firstIdElement(raw);
    if (range) return raw.subarray(range.start, range.end);
    const encoded = BSON.serialize({ _id: this.id });
    return encoded.subarray(4, encoded.length - 1);
  }
}
