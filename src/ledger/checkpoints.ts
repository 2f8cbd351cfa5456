/**
 * The capture checkpoint, one document in the `jobs` collection per watched namespace:
 *   { _id: "capture:<db>.<collection>", kind: "capture", position, spool, dedupe?, updatedAt }
 * `position` is where the change stream resumes: a resume token, or (first start, after a
 * repair or --reset-from) a cluster time to start at. `spool` lists the open spool files with
 * their durable offsets and line counts. It is written with journaled majority write concern,
 * and only after the spool bytes it covers were fsynced.
 *
 * Fenced (fence.ts): `host`, `pid` and `epoch` name the owner that wrote it last. An owner
 * takes it with `claim()`, one atomic update that stamps its epoch (and host, pid) and returns
 * the checkpoint as it was, so no save of an older owner can land after the new owner read it;
 * every later `save()` is refused (FENCED) once a newer epoch stamped the document.
 */
import type { Collection, Document, ResumeToken } from 'mongodb';
import { Timestamp } from 'mongodb';
import type { SpoolFileState, SpoolState } from '../spool/spool.js';
import type { FenceHolder } from './fence.js';
import { fencedUpsert, isDuplicateKey, notNewerThan } from './fence.js';

export type StreamPosition =
  | { kind: 'token'; token: ResumeToken; clusterTime?: Timestamp }
  | { kind: 'time'; startAtOperationTime: Timestamp };

/** After a repair from a query: events up to `until` may repeat documents the query wrote. */
export interface DedupeWindow {
  until: Timestamp;
  /** Spool files of hours from here on hold the documents to compare against. */
  fromHour: number;
}

export interface CaptureCheckpoint {
  position: StreamPosition;
  spool: SpoolState;
  dedupe?: DedupeWindow | undefined;
  /** Hours already closed for sealing, with their last local part: later events go to the next part. */
  closedHours: Array<{ hour: number; lastPart: number }>;
  /** First hour this archiver captured (empty hours from here on still get a manifest). */
  since: number;
  updatedAt: Date;
}

/** Who wrote a checkpoint last (fields absent: written before owners were recorded). */
export interface CheckpointOwner {
  host?: string;
  pid?: number;
  epoch?: number;
}

interface FileDoc {
  hour: Date;
  part: number;
  offset: number;
  lines: number;
  /** Durable bytes of the file's facts sidecar (absent: none). */
  facts?: number;
}

const fileStateAsDoc = (f: SpoolFileState): FileDoc => ({
  hour: new Date(f.hour),
  part: f.part,
  offset: f.offset,
  lines: f.lines,
  ...(f.facts === undefined ? {} : { facts: f.facts }),
});
const fileStateFromDoc = (f: FileDoc): SpoolFileState => ({
  hour: f.hour.getTime(),
  part: f.part,
  offset: f.offset,
  lines: f.lines,
  ...(typeof f.facts === 'number' ? { facts: f.facts } : {}),
});

interface CheckpointDoc extends Document {
  _id: string;
  kind: 'capture';
  namespace: string;
  position: { token?: ResumeToken; clusterTime?: Timestamp; startAtOperationTime?: Timestamp };
  spool: { files: FileDoc[]; closing?: FileDoc[] };
  dedupe?: { until: Timestamp; fromHour: Date };
  closedHours?: Array<{ hour: Date; lastPart: number }>;
  since?: Date;
  updatedAt: Date;
  host?: string;
  pid?: number;
  epoch?: number;
}

export class CheckpointStore {
  private readonly jobs: Collection<CheckpointDoc>;
  readonly id: string;
  readonly namespace: string;

  constructor(
    jobs: Collection<Document>,
    namespace: string,
    private readonly fencing?: FenceHolder,
  ) {
    this.jobs = jobs as unknown as Collection<CheckpointDoc>;
    this.namespace = namespace;
    this.id = `capture:${namespace}`;
  }

  async load(): Promise<CaptureCheckpoint | undefined> {
    return this.parse(await this.jobs.findOne({ _id: this.id }));
  }

  /**
   * Loads the checkpoint for the owner holding the fence, stamping it with its epoch, host and
   * pid in the same atomic update (without a fence: load()). Returns the checkpoint and who
   * wrote it before; FENCED when a newer epoch stamped it already.
   */
  async claim(): Promise<{ checkpoint: CaptureCheckpoint | undefined; previous: CheckpointOwner }> {
    const fence = this.fencing?.fence;
    if (!fence) {
      const doc = await this.jobs.findOne({ _id: this.id });
      return { checkpoint: this.parse(doc), previous: ownerOf(doc) };
    }
    let before: CheckpointDoc | null;
    try {
      // Upserted when there is none yet (a document with no position is no checkpoint), so a
      // first save of an older owner cannot land after this either.
      before = await this.jobs.findOneAndUpdate(
        { _id: this.id, ...notNewerThan(fence.epoch) },
        { $set: { epoch: fence.epoch, host: fence.host, pid: fence.pid } },
        { upsert: true, returnDocument: 'before', writeConcern: { w: 'majority', j: true } },
      );
    } catch (err) {
      if (isDuplicateKey(err)) throw await fence.refused();
      throw err;
    }
    return { checkpoint: this.parse(before), previous: ownerOf(before) };
  }

  private parse(doc: CheckpointDoc | null): CaptureCheckpoint | undefined {
    if (!doc?.position) return undefined;
    const p = doc.position;
    const position: StreamPosition =
      p.token !== undefined && p.token !== null
        ? { kind: 'token', token: p.token, ...(p.clusterTime ? { clusterTime: p.clusterTime } : {}) }
        : { kind: 'time', startAtOperationTime: p.startAtOperationTime ?? Timestamp.fromNumber(0) };
    return {
      position,
      spool: { files: (doc.spool?.files ?? []).map(fileStateFromDoc), closing: (doc.spool?.closing ?? []).map(fileStateFromDoc) },
      dedupe: doc.dedupe ? { until: doc.dedupe.until, fromHour: doc.dedupe.fromHour.getTime() } : undefined,
      closedHours: (doc.closedHours ?? []).map((c) => ({ hour: c.hour.getTime(), lastPart: c.lastPart })),
      since: (doc.since ?? doc.updatedAt).getTime(),
      updatedAt: doc.updatedAt,
    };
  }

  async save(cp: Omit<CaptureCheckpoint, 'updatedAt'>): Promise<CaptureCheckpoint> {
    const updatedAt = new Date();
    const position: CheckpointDoc['position'] =
      cp.position.kind === 'token'
        ? { token: cp.position.token, ...(cp.position.clusterTime ? { clusterTime: cp.position.clusterTime } : {}) }
        : { startAtOperationTime: cp.position.startAtOperationTime };
    const doc: Omit<CheckpointDoc, '_id'> = {
      kind: 'capture',
      namespace: this.namespace,
      position,
      spool: { files: cp.spool.files.map(fileStateAsDoc), closing: (cp.spool.closing ?? []).map(fileStateAsDoc) },
      ...(cp.dedupe ? { dedupe: { until: cp.dedupe.until, fromHour: new Date(cp.dedupe.fromHour) } } : {}),
      closedHours: cp.closedHours.map((c) => ({ hour: new Date(c.hour), lastPart: c.lastPart })),
      since: new Date(cp.since),
      updatedAt,
    };
    const fence = this.fencing?.fence;
    if (fence) Object.assign(doc, { host: fence.host, pid: fence.pid });
    // Every field set (a conditional update, not a replace): an absent dedupe window is unset.
    await fencedUpsert(this.jobs, { _id: this.id }, { $set: doc, ...(cp.dedupe ? {} : { $unset: { dedupe: '' } }) }, this.fencing, {
      writeConcern: { w: 'majority', j: true },
    });
    return { ...cp, updatedAt };
  }

  async clear(): Promise<void> {
    await this.jobs.deleteOne({ _id: this.id });
  }
}

function ownerOf(doc: CheckpointDoc | null): CheckpointOwner {
  if (!doc) return {};
  return {
    ...(typeof doc.host === 'string' ? { host: doc.host } : {}),
    ...(typeof doc.pid === 'number' ? { pid: doc.pid } : {}),
    ...(typeof doc.epoch === 'number' ? { epoch: doc.epoch } : {}),
  };
}
