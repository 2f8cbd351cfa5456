/**
 * The tailer's change stream through the driver's own `ChangeStream`, for deployments where
 * RawChangeStream cannot keep its cursor on one server: a sharded cluster reached through
 * several mongos routers (each `db.command` selects a router anew; the cursor lives on one) or a
 * load-balanced connection. The driver pins its cursor there and resumes by itself.
 *
 * Events come decoded; each is encoded back to BSON once so the tailer reads every event the same
 * way (change-event.ts). The driver returns one event per `fetch` (its resume token then covers
 * exactly the events returned, as the tailer's checkpoints require).
 */
import { BSON } from 'mongodb';
import type { ChangeStream, Collection, Document, ResumeToken } from 'mongodb';
import { ChangeEvent } from './change-event.js';
import type { ChangeStreamSpec } from './raw-change-stream.js';

export interface DriverChangeStreamOptions extends ChangeStreamSpec {
  collection: Collection<Document>;
  /** How the driver decodes events (the tailer's decode options). */
  decode: BSON.DeserializeOptions;
}

export class DriverChangeStream {
  private readonly stream: ChangeStream<Document>;
  private next: Document | undefined;
  private readonly event = new ChangeEvent();

  constructor(options: DriverChangeStreamOptions) {
    const start =
      options.resumeAfter !== undefined
        ? { resumeAfter: options.resumeAfter }
        : options.startAtOperationTime !== undefined
          ? { startAtOperationTime: options.startAtOperationTime }
          : {};
    this.stream = options.collection.watch(options.pipeline, {
      ...options.changeStream,
      ...start,
      ...options.decode,
      batchSize: options.batchSize,
      maxAwaitTimeMS: options.maxAwaitTimeMS,
    });
  }

  get resumeToken(): ResumeToken | undefined {
    return (this.stream.resumeToken as ResumeToken | null) ?? undefined;
  }

  /** The event the last fetch returned (once), as bytes. */
  read(): ChangeEvent | undefined {
    const doc = this.next;
    if (doc === undefined) return undefined;
    this.next = undefined;
    this.event.read(BSON.serialize(doc), 0);
    return this.event;
  }

  /** Gets the next event (waiting up to maxAwaitTimeMS); false once the stream is closed. */
  async fetch(): Promise<boolean> {
    if (this.stream.closed) return false;
    const doc = await this.stream.tryNext();
    if (doc !== null) this.next = doc;
    return !this.stream.closed || this.next !== undefined;
  }

  async close(): Promise<void> {
    await this.stream.close();
  }
}
