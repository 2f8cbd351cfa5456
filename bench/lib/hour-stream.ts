/**
 * The documents of one big benchmark hour as a stream: `count` API-log documents, regenerated
 * identically on every pass, with bounded memory (10,000,000 documents do not fit in memory as
 * objects). A pool of generated documents (the emulator package's traffic generator) is cycled,
 * and each document handed out is a shallow copy with an `_id` of its own: an ObjectId whose
 * time is the document's `createdAt` second (as a live insert would give) and whose last 8
 * bytes are the document's position, so every pass yields the same `_id`s and no two repeat.
 * The per-document cost of a copy (~0.1 µs) is the same on both sides of a pair.
 */
import { ObjectId } from 'mongodb';
import type { Collection, Document } from 'mongodb';
import type { ApiLogDocument } from '@cron-log-service/mongo-emulator/traffic';
import { makeDocs } from './documents.js';

const POOL = 50_000;

export class HourStream {
  readonly count: number;
  readonly #pool: ApiLogDocument[];

  constructor(count: number, from: number, to: number, seed = 21) {
    this.count = count;
    this.#pool = makeDocs(Math.min(POOL, count), from, to, seed);
  }

  /** Document `i` (0 ≤ i < count): the same on every call. */
  doc(i: number): ApiLogDocument {
    const base = this.#pool[i % this.#pool.length]!;
    const bytes = new Uint8Array(12);
    const seconds = Math.floor(base.createdAt.getTime() / 1000);
    bytes[0] = seconds >>> 24;
    bytes[1] = (seconds >>> 16) & 0xff;
    bytes[2] = (seconds >>> 8) & 0xff;
    bytes[3] = seconds & 0xff;
    let n = i;
    for (let b = 11; b >= 4; b--) {
      bytes[b] = n % 256;
      n = Math.floor(n / 256);
    }
    return { ...base, _id: new ObjectId(bytes) };
  }

  /** Documents [start, start + n) as an array. */
  batch(start: number, n: number): ApiLogDocument[] {
    const end = Math.min(this.count, start + n);
    const out: ApiLogDocument[] = [];
    for (let i = start; i < end; i++) out.push(this.doc(i));
    return out;
  }

  /** Batches of `size` documents over the whole hour. */
  *batches(size: number): IterableIterator<ApiLogDocument[]> {
    for (let i = 0; i < this.count; i += size) yield this.batch(i, size);
  }
}

/**
 * Makes the emulator sort the keys of `createdAt` and `_id` of a freshly filled collection (a
 * query by each), untimed: the first query by an indexed field does it over the whole collection
 * in one go (a stall of tens of seconds at 10,000,000 documents); later writes are merged in
 * cheaply. The client calling this must not time out meanwhile.
 */
export async function warmIndexKeys(coll: Collection<Document>, from: number): Promise<void> {
  await coll.findOne({ createdAt: { $lt: new Date(from) } });
  await coll.findOne({ _id: { $lt: ObjectId.createFromTime(Math.floor(from / 1000)) } });
}
