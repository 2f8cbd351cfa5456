/**
 * The `_id`s MongoDB holds for one hour (the hour rule of hour-query.ts, projected to `_id`),
 * read from the server's replies as bytes, for the proof of an hour before purge and
 * `reconcile --deep`. An ObjectId `_id` (what MongoDB and its drivers create) becomes its key and
 * an ObjectId without decoding the document; any other `_id` is decoded from its document with
 * the driver's BSON and the hour query's decode options. So every value and key is the one the
 * driver's cursor over hourDocuments(ctx, slot, { _id: 1 }) gives, in the same order.
 *
 * Two ways, chosen by what the deployment advertises (its hello, asked once per client):
 *  - `find` and `getMore` as commands (`db.command` with `raw: true`, the batch read by
 *    src/bson/elements.ts) in one explicit session, on the primary: where each command reaches
 *    the server holding the cursor and sessions exist (the raw change stream's rule,
 *    src/source/stream-client.ts) and the collection reads from the primary;
 *  - elsewhere (mongos routers, a load balancer, no sessions, another read preference) the
 *    driver's cursor with `raw: true`, which keeps to its server; each document read the same way.
 *
 * Written here rather than taken from the driver's cursor alone: the cursor decodes every
 * `{ _id }` into an object (or, with `raw: true`, wraps and copies each document). Measured with
 * bench/extmem/hour-ids-cpu.ts (2026-12-07, 2-core machine shared, load 11.5-12.9; the purge
 * benchmark's 20,000 documents over 4 hours; CPU per listing of the 4 hours, mean of 10): the
 * driver's cursor decoding objects (batches of 1,000, as before) 153 ms in this process and
 * 114 ms in the emulator; this module through the driver's raw cursor 75 + 41 ms; through
 * commands 22 + 39 ms (the emulator's share falls with the batches of 10,000: one reply an hour
 * instead of 5).
 *
 * The first `find` is tried once more after a network error, as a retryable read; a cursor left
 * open by a consumer that stops early is killed.
 */
import { BSON, Long, MongoNetworkError, ObjectId, ReadPreference } from 'mongodb';
import type { ClientSession, Db, Document, MongoClient } from 'mongodb';
import { int32, readDocumentMembers } from '../bson/elements.js';
import { CronLogError } from '../errors.js';
import type { HourSlot } from '../hours/hour-clock.js';
import { timeRangeFilters } from '../hours/time-filter.js';
import type { IdKey } from '../spool/document-ids.js';
import { idKeyOf } from '../spool/document-ids.js';
import { decodeOptionsFor } from '../spool/json-lines.js';
import type { JsonMode } from '../spool/json-lines.js';
import { serverHello } from '../source/capture-mode.js';
import { changeStreamClientFor } from '../source/stream-client.js';
import type { HourQueryContext } from './hour-query.js';

/** `_id`s per reply: ~22 bytes each for ObjectIds (the server caps a reply at 16 MiB anyway). */
export const HOUR_IDS_BATCH = 10_000;

/** One `_id` of the hour: as MongoDB stores it (what a delete by `_id` takes) and its key. */
export interface HourId {
  id: unknown;
  key: IdKey;
}

interface Batch {
  cursorId: bigint;
  bytes: Uint8Array;
  /** Offsets of the batch array's first member and of its end. */
  from: number;
  to: number;
}

/** The cursor document of a `find`/`getMore` reply: its id and its batch. */
function batchOf(reply: Document): Batch {
  const cursor = reply.cursor as unknown;
  if (!(cursor instanceof Uint8Array)) throw new CronLogError('INTERNAL', 'the server replied to find without a cursor document');
  const types: number[] = [];
  const [id = -1, first = -1, next = -1] = readDocumentMembers(cursor, 0, ['id', 'firstBatch', 'nextBatch'], types);
  const batch = first >= 0 ? first : next;
  const batchType = first >= 0 ? types[1] : types[2];
  if (id < 0 || batch < 0 || batchType !== 0x04 || (types[0] !== 0x12 && types[0] !== 0x10)) {
    throw new CronLogError('INTERNAL', 'the server replied to find with a cursor document without an id or a batch');
  }
  const view = new DataView(cursor.buffer, cursor.byteOffset, cursor.byteLength);
  const cursorId = types[0] === 0x12 ? view.getBigInt64(id, true) : BigInt(view.getInt32(id, true));
  return { cursorId, bytes: cursor, from: batch + 4, to: batch + int32(cursor, batch) - 1 };
}

/** Whether `b[i..]` is the member name `_id` and its terminating zero. */
function isIdName(b: Uint8Array, i: number): boolean {
  return b[i] === 0x5f && b[i + 1] === 0x69 && b[i + 2] === 0x64 && b[i + 3] === 0;
}

/** Reads `HourId`s from `{ _id }` documents as bytes, for one JSON mode (see the header). */
class IdReader {
  private readonly idKey: (id: unknown) => IdKey;
  private readonly ejson: boolean;
  private readonly decode: BSON.DeserializeOptions;

  constructor(mode: JsonMode) {
    this.idKey = idKeyOf(mode);
    this.ejson = mode === 'ejson';
    this.decode = decodeOptionsFor(mode);
  }

  /** The `_id` of the document of `size` bytes at `b[doc]`; `hex` views the same bytes. */
  read(b: Uint8Array, hex: Buffer, doc: number, size: number): HourId {
    // `{ _id: <ObjectId> }`: 4 + 1 + 4 + 12 + 1 bytes, `_id` its only member.
    if (size === 22 && b[doc + 4] === 0x07 && isIdName(b, doc + 5)) {
      const h = hex.toString('hex', doc + 9, doc + 21);
      return { id: new ObjectId(b.subarray(doc + 9, doc + 21)), key: this.ejson ? `{"$oid":"${h}"}` : `"${h}"` };
    }
    const id: unknown = BSON.deserialize(b.subarray(doc, doc + size), this.decode)._id;
    return { id, key: this.idKey(id) };
  }
}

function bufferOf(b: Uint8Array): Buffer {
  return Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

/**
 * Whether `find` and `getMore` sent as commands reach the server that holds the cursor, in a
 * session: a replica set member or standalone with logical sessions, no mongos, no load
 * balancer (the raw change stream's rule, src/source/stream-client.ts), and reads from the
 * primary. Asked once per client (its hello; again after a hello that failed).
 */
const commandsFit = new WeakMap<MongoClient, Promise<boolean>>();
function rawCommandsFit(db: Db, readPreference: ReadPreference | undefined): Promise<boolean> {
  if (readPreference !== undefined && readPreference.mode !== 'primary') return Promise.resolve(false);
  const client = db.client;
  if (client.options.loadBalanced) return Promise.resolve(false);
  let fits = commandsFit.get(client);
  if (fits === undefined) {
    fits = serverHello(db).then(
      (hello) => changeStreamClientFor(client.options, hello).kind === 'raw',
      () => {
        // Unknown (the hello failed): the driver's cursor this time, ask again next time.
        commandsFit.delete(client);
        return false;
      },
    );
    commandsFit.set(client, fits);
  }
  return fits;
}

/**
 * The hour's `_id`s (see the header), in the order of the cursor, a reply's worth at a time.
 * Stopping early (a `break`, an error) kills the cursor.
 */
export async function* hourIds(ctx: HourQueryContext, slot: Pick<HourSlot, 'start' | 'end'>, batchSize = HOUR_IDS_BATCH): AsyncGenerator<HourId[]> {
  const { collection } = ctx;
  const reader = new IdReader(ctx.jsonMode);
  const filters = timeRangeFilters(ctx.timestampField, slot.start, slot.end);
  const filter = { $or: [filters.byField, filters.byObjectId] };
  if (await rawCommandsFit(collection.db, collection.readPreference)) {
    yield* byCommands(ctx, filter, reader, batchSize);
    return;
  }
  // Elsewhere the driver's cursor (it keeps to the server holding the cursor, with or without
  // sessions), its documents as bytes.
  const cursor = collection.find(filter, { projection: { _id: 1 }, batchSize, raw: true });
  try {
    let out: HourId[] = [];
    for await (const doc of cursor as unknown as AsyncIterable<Uint8Array>) {
      out.push(reader.read(doc, bufferOf(doc), 0, int32(doc, 0)));
      if (out.length >= batchSize || cursor.bufferedCount() === 0) {
        yield out;
        out = [];
      }
    }
    if (out.length > 0) yield out;
  } finally {
    await cursor.close().catch(() => undefined);
  }
}

/** The listing as `find`/`getMore` commands in one explicit session (see the header). */
async function* byCommands(ctx: HourQueryContext, filter: Document, reader: IdReader, batchSize: number): AsyncGenerator<HourId[]> {
  const { collection } = ctx;
  const db = collection.db;
  const readConcern = collection.readConcern?.level !== undefined ? { readConcern: { level: collection.readConcern.level } } : {};
  const find = { find: collection.collectionName, filter, projection: { _id: 1 }, batchSize, ...readConcern };
  const session: ClientSession = db.client.startSession({ causalConsistency: false });
  const options = { session, raw: true, readPreference: ReadPreference.primary } as const;
  let cursorId = 0n;
  try {
    let reply: Document;
    try {
      reply = await db.command(find, options);
    } catch (err) {
      // Like a retryable read: the first find is tried once more after a network error.
      if (!(err instanceof MongoNetworkError)) throw err;
      reply = await db.command(find, options);
    }
    for (;;) {
      const batch = batchOf(reply);
      cursorId = batch.cursorId;
      const b = batch.bytes;
      const hex = bufferOf(b);
      const out: HourId[] = [];
      for (let i = batch.from; i < batch.to; ) {
        // A member of the batch array: type 0x03, its name ("0", "1", …), the document.
        if (b[i] !== 0x03) throw new CronLogError('INTERNAL', 'the server replied to find with a batch member that is not a document');
        i++;
        while (b[i] !== 0) i++;
        const doc = i + 1;
        const size = int32(b, doc);
        out.push(reader.read(b, hex, doc, size));
        i = doc + size;
      }
      if (out.length > 0) yield out;
      if (cursorId === 0n) return;
      reply = await db.command({ getMore: Long.fromBigInt(cursorId), collection: collection.collectionName, batchSize }, options);
    }
  } finally {
    if (cursorId !== 0n) {
      await db.command({ killCursors: collection.collectionName, cursors: [Long.fromBigInt(cursorId)] }, { session }).catch(() => undefined);
    }
    await session.endSession().catch(() => undefined);
  }
}
