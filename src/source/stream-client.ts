/**
 * Which change-stream client capture reads its events with, and opening it at a position:
 *
 *   raw     RawChangeStream (events as bytes; its commands go to the primary, in one explicit
 *           session; its resume token advances through postBatchResumeToken while idle);
 *   driver  the driver's ChangeStream (DriverChangeStream), which keeps its cursor on the server
 *           that holds it and uses a session only where the deployment has them.
 *
 * The choice follows what the deployment advertises (`hello`), so that no optional server
 * feature is a hard dependency (DESIGN.md invariant 11):
 *  - a load-balanced connection, or mongos routers (each command selects a router anew; the
 *    cursor lives on one): driver;
 *  - no logical sessions (hello without logicalSessionTimeoutMinutes): driver;
 *  - else raw. Whether batches carry a postBatchResumeToken shows only in the first reply: the
 *    raw stream then fails with NoPostBatchResumeTokenError before handing out any event, and
 *    the tailer reopens at the same position with the driver (nothing was read, so nothing is
 *    lost or repeated).
 * With the driver and no postBatchResumeToken, the resume token is the `_id` of the last event
 * returned: an idle stream's token does not advance (see docs/operations.md, "Change stream
 * clients").
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
 * Events per getMore of the driver's client (and of capture by query). Measured with the memory
 * benchmark (catching up a 1,000,000-document hour), when every event was decoded by the driver:
 * with 1,000 the archiver's peak RSS was 265 MiB (V8 heap 141 MiB), with 500 it was 185 MiB
 * (91 MiB). On the emulator each getMore has a fixed cost, so capture from it is slower with
 * smaller batches.
 */
export const CHANGE_STREAM_BATCH_SIZE = 500;

/**
 * Events per getMore of the raw client, which keeps each reply as bytes (~600 bytes an event)
 * and decodes nothing to objects: a batch of 1,000 is ~0.6 MB, at most one more read ahead.
 * Measured 2026-12-07 21:41-21:46 (2 cores, load ~2, the machine slower than at 21:16): the
 * ceiling benchmark, 3 paired runs per setting, alternated 500/1000/500/1000: 97,540 and 87,860
 * vs 120,100 and 98,640 events/s, archiver 14.67 and 16.0 vs 11.8 and 14.47 CPU-us per event;
 * `memory-catchup` (1,000,000 events at full speed) VmHWM 143.3 and 145.7 MiB with 500 vs 137.1
 * and 136.6 with 1,000; `memory` (1M-document hour sealed while capturing) 109.8 vs 99.6 MiB with
 * 1,000 (1.10).
 */
export const RAW_CHANGE_STREAM_BATCH_SIZE = 1000;

/** The client chosen for a deployment, and why (logged at start). */
export interface StreamClientChoice {
  kind: StreamClient;
  reason: string;
  /** The server's maxWireVersion, when its hello said (the raw stream's resume rule depends on it). */
  maxWireVersion?: number;
}

/**
 * The change-stream client for a deployment (see the header). `hello` is the server's hello
 * reply (none for a load-balanced connection).
 */
export function changeStreamClientFor(client: { loadBalanced: boolean }, hello: Document): StreamClientChoice {
  const choice = clientFor(client, hello);
  return typeof hello.maxWireVersion === 'number' ? { ...choice, maxWireVersion: hello.maxWireVersion } : choice;
}

function clientFor(client: { loadBalanced: boolean }, hello: Document): StreamClientChoice {
  if (client.loadBalanced) {
    return { kind: 'driver', reason: 'load-balanced connection: a command may reach another server than the one holding the cursor' };
  }
  if (hello.msg === 'isdbgrid') {
    return { kind: 'driver', reason: 'mongos routers: each command may reach another router than the one holding the cursor' };
  }
  if (hello.logicalSessionTimeoutMinutes === undefined || hello.logicalSessionTimeoutMinutes === null) {
    return {
      kind: 'driver',
      reason: 'the server does not support logical sessions (its hello reports no logicalSessionTimeoutMinutes); the raw change stream needs one',
    };
  }
  return { kind: 'raw', reason: 'replica set member with logical sessions' };
}

/** The client for a deployment whose first change-stream batch carried no postBatchResumeToken. */
export const NO_PBRT_CHOICE: StreamClientChoice = {
  kind: 'driver',
  reason:
    'the server sends change stream batches without postBatchResumeToken, which the raw change stream relies on; ' +
    'the resume token now advances with each event only (an idle stream keeps its last event\'s token)',
};

/** Asks the deployment (its hello reply; none for a load-balanced connection) which client fits it. */
/** The change-stream client for the deployment whose hello is `hello` (capture-mode.ts serverHello). */
export async function chooseStreamClient(client: MongoClient, hello: Promise<Document>): Promise<StreamClientChoice> {
  if (client.options.loadBalanced) return changeStreamClientFor(client.options, {});
  return changeStreamClientFor(client.options, await hello);
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
  /** The server's maxWireVersion, if known (the raw stream's resume rule). */
  maxWireVersion?: number | undefined;
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
    batchSize: RAW_CHANGE_STREAM_BATCH_SIZE,
    maxAwaitTimeMS: options.maxAwaitTimeMS,
    ...(options.maxWireVersion !== undefined ? { maxWireVersion: options.maxWireVersion } : {}),
    readAhead: true,
  });
}
