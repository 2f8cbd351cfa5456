/**
 * Capture by query, for servers without change streams (a standalone mongod): the tailer reads
 * new documents of the watched collection by its timestamp field, with `_id` as the tie breaker,
 * through the same interface as a change stream (read, fetch, resumeToken, close), as inserts.
 *
 * The protocol:
 *  - The position (ledger/checkpoints.ts, QueryPosition) is the last (timestamp, `_id`) read:
 *    every document whose timestamp is before `ts`, or equal to it with an `_id` up to `id`, was
 *    read; without `id`, every document up to `ts` inclusive was.
 *  - A fetch reads the documents after the position whose timestamp is at most `upTo` =
 *    now − settle delay, in (timestamp, `_id`) order, at most `batchSize` of them:
 *      { $or: [ { ts: { $gt: T, $lte: upTo } }, { ts: T, _id: { $gt: id } } ] }
 *    sorted { ts: 1, _id: 1 } (each clause is served by an index on the timestamp field). The
 *    settle delay gives writes in flight (a request that took its timestamp a moment before its
 *    insert) time to land before the position passes their timestamp.
 *  - Each document returned moves the resume token to its (timestamp, `_id`): the token covers
 *    exactly the documents returned, as the tailer's checkpoints require. When a fetch returned
 *    fewer than `batchSize` documents, every document up to `upTo` has been read: once they are
 *    all returned, the token moves to `upTo` (no `_id`), and the next fetch first waits
 *    `pollIntervalMs` (cut short by close()).
 *
 * What it cannot see: a document written more than the settle delay after its own timestamp
 * (a late write, an application server whose clock lags) lands behind the position; such
 * documents are found by the seal run's late pass (src/reconcile/late-parts.ts) and delivered as
 * a late part of their hour. A document without a date in the timestamp field (none, not a date,
 * before 1970 or from year 10000 on) is never read by this query either; the late pass finds it
 * by its ObjectId time, like reconcile counts it (src/hours/time-filter.ts).
 */
import { BSON, Timestamp } from 'mongodb';
import type { Collection, Document } from 'mongodb';
import { CronLogError } from '../errors.js';
import type { QueryPosition } from '../ledger/checkpoints.js';
import { FIELD_TIME_MIN_MS, rawEventTimeReader } from '../hours/event-time.js';
import { sleep } from '../retry.js';
import { ChangeEvent } from './change-event.js';

export interface QueryStreamOptions {
  collection: Collection<Document>;
  timestampField: string;
  /** Where to start: after this position. */
  position: QueryPosition;
  /** Documents are read once their timestamp is this far in the past (ms). */
  settleMs: number;
  /** Wait between queries once caught up (ms). */
  pollIntervalMs: number;
  batchSize: number;
  /** The clock (default Date.now), for tests. */
  now?: () => number;
}

/** Whether a stream position (or a stream's resume token) is a query position. */
export function isQueryPosition(p: unknown): p is QueryPosition {
  return p !== null && typeof p === 'object' && (p as { kind?: unknown }).kind === 'query' && (p as { ts?: unknown }).ts instanceof Date;
}

/** The position before every document whose timestamp is at or after `ms`. */
export function queryPositionBefore(ms: number): QueryPosition {
  return { kind: 'query', ts: new Date(Math.max(ms, FIELD_TIME_MIN_MS) - 1) };
}

/** The filter of the documents after `position` whose timestamp is at most `upTo` (see the header). */
export function queryFilter(field: string, position: QueryPosition, upTo: Date): Document {
  const after = { [field]: { $gt: position.ts, $lte: upTo } };
  if (!('id' in position)) return after;
  return { $or: [after, { [field]: position.ts, _id: { $gt: position.id } }] };
}

/** Position after the document `doc` (decoded), whose timestamp is `ms`. */
function positionAfter(ms: number, doc: Document): QueryPosition {
  return { kind: 'query', ts: new Date(ms), id: doc._id };
}

/** A document read by the query, as the insert event the tailer handles (bytes, like a change event). */
class QueryEvent extends ChangeEvent {
  /** Views the document `doc` (BSON bytes) whose timestamp is `ms` as an insert. */
  of(doc: Uint8Array, ms: number): void {
    this.src = doc;
    this.at = 0;
    this.tokenAt = -1;
    this.operationType = 'insert';
    // The document's time stands in for the cluster time (stats, the duplicate check's window).
    this.clusterSeconds = Math.floor(ms / 1000);
    this.clusterIncrement = 0;
    this.wallMs = Number.NaN;
    this.fullDocumentAt = 0;
  }

  override decode(options: BSON.DeserializeOptions): Document {
    return { operationType: 'insert', clusterTime: new Timestamp({ t: this.clusterSeconds, i: 0 }), fullDocument: BSON.deserialize(this.src, options) };
  }
}

export class QueryStream {
  private closed = false;
  private readonly abort = new AbortController();
  private batch: Uint8Array[] = [];
  private next = 0;
  /** The bound of the last query when it returned everything up to it; else undefined. */
  private complete: Date | undefined;
  private caughtUp = false;
  /** The last document returned and its timestamp (decoded for the token when asked). */
  private last: Uint8Array | undefined;
  private lastMs = 0;
  private token: QueryPosition;
  private readonly event = new QueryEvent();
  private readonly timeOf: (b: Uint8Array, at: number, clusterSeconds: number, wallMs: number) => number;
  private readonly now: () => number;

  constructor(private readonly options: QueryStreamOptions) {
    this.token = options.position;
    this.timeOf = rawEventTimeReader(options.timestampField);
    this.now = options.now ?? Date.now;
  }

  /** The position after every document returned so far (see the header). */
  get resumeToken(): QueryPosition {
    if (this.last !== undefined) {
      this.token = positionAfter(this.lastMs, BSON.deserialize(this.last));
      this.last = undefined;
    }
    return this.token;
  }

  /** The next document of the batch as an insert event, or undefined when the batch is used up (then call `fetch`). */
  read(): ChangeEvent | undefined {
    if (this.next >= this.batch.length) return undefined;
    const doc = this.batch[this.next++] as Uint8Array;
    // The query matched a date in the field: the time read is that date.
    const ms = this.timeOf(doc, 0, -1, Number.NaN);
    this.last = doc;
    this.lastMs = ms;
    this.event.of(doc, ms);
    if (this.next >= this.batch.length) this.batchDone();
    return this.event;
  }

  /** Every document of the batch was returned: a query that returned all up to its bound moves the token there. */
  private batchDone(): void {
    this.batch = [];
    this.next = 0;
    if (this.complete !== undefined) {
      this.token = { kind: 'query', ts: this.complete };
      this.last = undefined;
      this.complete = undefined;
    }
  }

  /** Runs the next query (after the poll interval once caught up). False once closed. */
  async fetch(): Promise<boolean> {
    if (this.closed) return false;
    if (this.next < this.batch.length) throw new CronLogError('INTERNAL', 'fetch() before the batch was read');
    if (this.caughtUp) {
      try {
        await sleep(this.options.pollIntervalMs, this.abort.signal);
      } catch {
        return false;
      }
    }
    const position = this.resumeToken;
    const upTo = new Date(this.now() - this.options.settleMs);
    if (upTo.getTime() <= position.ts.getTime()) {
      this.caughtUp = true;
      return !this.closed;
    }
    const { batchSize } = this.options;
    const docs = (await this.options.collection
      .find(queryFilter(this.options.timestampField, position, upTo), {
        sort: { [this.options.timestampField]: 1, _id: 1 },
        limit: batchSize,
        batchSize,
        raw: true,
        signal: this.abort.signal,
      })
      .toArray()) as unknown as Uint8Array[];
    this.caughtUp = docs.length < batchSize;
    this.batch = docs;
    this.next = 0;
    this.complete = this.caughtUp ? upTo : undefined;
    if (docs.length === 0) this.batchDone();
    return !this.closed;
  }

  /** Stops: a waiting poll or query in flight ends. Idempotent. */
  close(): Promise<void> {
    this.closed = true;
    this.abort.abort();
    return Promise.resolve();
  }
}

