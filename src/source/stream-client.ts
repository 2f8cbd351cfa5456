/**
 * Which change-stream client capture reads its events with, and opening it at a position:
 *
 *   raw     RawChangeStream (events as bytes; its commands go to the primary);
 *   driver  the driver's ChangeStream (DriverChangeStream), which keeps its cursor on the server
 *           that holds it: for a load-balanced connection, or mongos routers (each command
 *           selects a router anew).
 *
 * Both read the same events (the captured operations, and the ones that end capture: drop,
 * rename, dropDatabase), with updates' full documents looked up when updates are captured.
 */
import type { BSON, Collection, Db, Document, MongoClient } from 'mongodb';
import type { CaptureOperation } from '../config/index.js';
import type { StreamPosition } from '../ledger/checkpoints.js';
import { DriverChangeStream } from './driver-change-stream.js';
import { RawChangeStream } from './raw-change-stream.js';

/** The client that reads the events (see the header). */
export type StreamClient = 'raw' | 'driver';

/** Either change-stream client: what the capture loop reads. */
export type CaptureStream = RawChangeStream | DriverChangeStream;

/**
 * Events per getMore. Measured with the memory benchmark (catching up a 1,000,000-document
 * hour): with 1,000 the archiver's peak RSS was 265 MiB (V8 heap 141 MiB), with 500 it was
 * 185 MiB (91 MiB). On the emulator each getMore has a fixed cost, so capture from it is
 * slower with smaller batches; see docs/performance.md.
 */
export const CHANGE_STREAM_BATCH_SIZE = 500;

/**
 * The change-stream client for a deployment: the driver's where a command may reach another
 * server than the one holding the cursor (a load-balanced connection, or mongos routers: each
 * command selects a router anew), else the raw one. `hello` is the server's hello reply.
 */
export function changeStreamClientFor(client: { loadBalanced: boolean }, hello: Document): StreamClient {
  if (client.loadBalanced) return 'driver';
  return hello.msg === 'isdbgrid' ? 'driver' : 'raw';
}

/** Asks the deployment (its hello reply; none for a load-balanced connection) which client fits it. */
export async function chooseStreamClient(client: MongoClient, db: Db): Promise<StreamClient> {
  if (client.options.loadBalanced) return changeStreamClientFor(client.options, {});
  const admin = db.admin();
  const hello = await admin.command({ hello: 1 }).catch(() => admin.command({ isMaster: 1 }));
  return changeStreamClientFor(client.options, hello);
}

export interface CaptureStreamOptions {
  kind: StreamClient;
  client: MongoClient;
  db: Db;
  collection: Collection<Document>;
  captureOperations: readonly CaptureOperation[];
  /** Where to start: after its token, or at its cluster time; undefined: now. */
  position: StreamPosition | undefined;
  maxAwaitTimeMS: number;
  /** How the driver's client decodes events (the raw one hands out bytes). */
  decode: BSON.DeserializeOptions;
}

/** Opens the change stream of the watched collection with the chosen client. */
export function openCaptureStream(options: CaptureStreamOptions): CaptureStream {
  const ops: string[] = [...options.captureOperations, 'drop', 'rename', 'dropDatabase'];
  const pipeline = [{ $match: { operationType: { $in: ops } } }];
  const p = options.position;
  // (A query position never reaches here: the tailer rebuilds from its hour first.)
  const resume = p?.kind === 'token' ? { resumeAfter: p.token } : p?.kind === 'time' ? { startAtOperationTime: p.startAtOperationTime } : {};
  const fullDocument = options.captureOperations.includes('update') ? { fullDocument: 'updateLookup' as const } : {};
  if (options.kind === 'driver') {
    return new DriverChangeStream({
      collection: options.collection,
      changeStream: fullDocument,
      ...resume,
      pipeline,
      batchSize: CHANGE_STREAM_BATCH_SIZE,
      maxAwaitTimeMS: options.maxAwaitTimeMS,
      decode: options.decode,
    });
  }
  return new RawChangeStream({
    client: options.client,
    db: options.db,
    collection: options.collection.collectionName,
    changeStream: fullDocument,
    ...resume,
    pipeline,
    batchSize: CHANGE_STREAM_BATCH_SIZE,
    maxAwaitTimeMS: options.maxAwaitTimeMS,
  });
}
