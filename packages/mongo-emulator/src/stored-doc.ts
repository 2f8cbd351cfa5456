/**
 * A stored document. It is immutable: it holds the encoded bytes, the decoded object, or both,
 * decoding or encoding the missing form on first use. An update stores a new document, so an
 * oplog entry can keep referring to the version it describes.
 */
import { BSON, ObjectId } from 'bson';
import type { Document } from 'bson';
import { documentFromElements, firstIdElement } from './bson-raw.js';
import { keyOf } from './keys.js';

/** Decoded stored objects back to their encoded bytes, to reply without re-encoding. */
const rawOfObject = new WeakMap<object, Uint8Array>();

export function rawOf(obj: object): Uint8Array | undefined {
  return rawOfObject.get(obj);
}

export class StoredDoc {
  #raw: Uint8Array | undefined;
  #obj: Document | undefined;
  readonly id: unknown;
  readonly idKey: string;
  /**
   * Position in the natural order of the collection holding the document (set by
   * `Collection.put`; a new version of a document keeps the position of the one it replaces).
   */
  seq = 0;

  private constructor(raw: Uint8Array | undefined, obj: Document | undefined, id: unknown) {
    this.#raw = raw;
    this.#obj = obj;
    this.id = id;
    this.idKey = keyOf(id);
    if (raw && obj) rawOfObject.set(obj, raw);
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
    if (raw[range.start] === 0x07) return new StoredDoc(raw, undefined, new ObjectId(raw.subarray(range.start + 5, range.start + 17)));
    const id = BSON.deserialize(documentFromElements(raw.subarray(range.start, range.end)))._id as unknown;
    return new StoredDoc(raw, undefined, id);
  }

  /** From an object the emulator will never mutate again; `_id` must be present. */
  static fromObject(obj: Document): StoredDoc {
    return new StoredDoc(undefined, obj, obj._id);
  }

  get raw(): Uint8Array {
    if (!this.#raw) {
      this.#raw = BSON.serialize(this.#obj!);
      rawOfObject.set(this.#obj!, this.#raw);
    }
    return this.#raw;
  }

  get obj(): Document {
    if (!this.#obj) {
      this.#obj = BSON.deserialize(this.#raw!);
      rawOfObject.set(this.#obj, this.#raw!);
    }
    return this.#obj;
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
    return this.raw.length;
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
