/**
 * The capture checkpoint, one document in the `jobs` collection per watched namespace:
 *   { _id: "capture:<db>.<collection>", kind: "capture", position, spool, dedupe?,
 *     pendingRepair?, host, pid, updatedAt }
 * `position` is where the change stream resumes: a resume token, or (first start, after a
 * repair or --reset-from) a cluster time to start at; with capture by query (a standalone
 * server, src/source/query-stream.ts) the last (timestamp, `_id`) read. `spool` lists the open
 * spool files with their durable offsets and line counts. `host` and `pid` name the process that
 * saved it (its spool files are on that host's disk: src/source/host-takeover.ts).
 * `pendingRepair` marks a repair from a query that must complete before the stream opens (a
 * first start's current hour, a takeover from another host); it stays until the repair's own
 * checkpoint clears it, so a start after a crash does it again. It is written with journaled
 * majority write concern, and only after the spool bytes it covers were fsynced.
 *
 * Fenced (fence.ts): `host`, `pid` and `epoch` name the owner that wrote it last. An owner
 * takes it with `claim()`, one atomic update that stamps its epoch and returns
 * the checkpoint as it was, so no save of an older owner can land after the new owner read it;
 * every later `save()` is refused (FENCED) once a newer epoch stamped the document.
 */
import { hostname } from 'node:os';
import type { Collection, Document, ResumeToken } from 'mongodb';
import { Timestamp } from 'mongodb';
import type { SpoolFileState, SpoolState } from '../spool/spool.js';
import type { FenceHolder } from './fence.js';
import { fencedUpsert, isDuplicateKey, notNewerThan } from './fence.js';

export type StreamPosition =
  | { kind: 'token'; token: ResumeToken; clusterTime?: Timestamp }
  | { kind: 'time'; startAtOperationTime: Timestamp }
  | QueryPosition;

/**
 * Capture by query: every document whose timestamp field is a date before `ts`, or equal to it
 * with an `_id` up to `id`, was read; without `id`, every one up to `ts` inclusive was.
 */
export interface QueryPosition {
  kind: 'query';
  ts: Date;
  id?: unknown;
}

/** The instant a position stands at (epoch seconds), when it has one (a token may be opaque). */
export function positionSeconds(p: StreamPosition): number | undefined {
  if (p.kind === 'query') return Math.floor(p.ts.getTime() / 1000);
  const t = p.kind === 'token' ? p.clusterTime : p.startAtOperationTime;
  return t?.getHighBitsUnsigned();
}

/** After a repair from a query: events up to `until` may repeat documents the query wrote. */
export interface DedupeWindow {
  until: Timestamp;
  /** Spool files of hours from here on hold the documents to compare against. */
  fromHour: number;
}

/** A repair from a query that must complete before the stream opens (see the header). */
export interface PendingRepair {
  /** Why: the first start's current hour, or a takeover of a lost host's spool. */
  reason: 'first-hour' | 'host-takeover';
  /** Start of the first hour the query rebuilds (UTC ms). */
  from: number;
  /** host-takeover: the host whose spool was lost. */
  previousHost?: string;
  /** host-takeover: the hours whose spool files were lost (UTC ms starts). */
  lostHours?: number[];
  /** host-takeover: hours lost undelivered, with the hour's lost local parts in all (src/source/host-takeover.ts). */
  undelivered?: Array<{ hour: number; lostParts: number }>;
}

export interface CaptureCheckpoint {
  position: StreamPosition;
  spool: SpoolState;
  dedupe?: DedupeWindow | undefined;
  /** Hours already closed for sealing, with their last local part: later events go to the next part. */
  closedHours: Array<{ hour: number; lastPart: number }>;
  /** First hour this archiver captured (empty hours from here on still get a manifest). */
  since: number;
  pendingRepair?: PendingRepair | undefined;
  /** Host name of the process that saved it (absent in checkpoints of older versions). */
  host?: string | undefined;
  /** Process id of the process that saved it. */
  pid?: number | undefined;
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
  position: { token?: ResumeToken; clusterTime?: Timestamp; startAtOperationTime?: Timestamp; query?: { ts: Date; id?: unknown } };
  spool: { files: FileDoc[]; closing?: FileDoc[] };
  dedupe?: { until: Timestamp; fromHour: Date };
  closedHours?: Array<{ hour: Date; lastPart: number }>;
  since?: Date;
  pendingRepair?: { reason: PendingRepair['reason']; from: Date; previousHost?: string; lostHours?: Date[]; undelivered?: Array<{ hour: Date; lostParts: number }> };
  host?: string;
  pid?: number;
  epoch?: number;
  updatedAt: Date;
}

function positionDoc(p: StreamPosition): CheckpointDoc['position'] {
  if (p.kind === 'token') return { token: p.token, ...(p.clusterTime ? { clusterTime: p.clusterTime } : {}) };
  if (p.kind === 'time') return { startAtOperationTime: p.startAtOperationTime };
  return { query: { ts: p.ts, ...('id' in p ? { id: p.id } : {}) } };
}

const pendingAsDoc = (p: PendingRepair): NonNullable<CheckpointDoc['pendingRepair']> => ({
  reason: p.reason,
  from: new Date(p.from),
  ...(p.previousHost === undefined ? {} : { previousHost: p.previousHost }),
  ...(p.lostHours === undefined ? {} : { lostHours: p.lostHours.map((h) => new Date(h)) }),
  ...(p.undelivered === undefined ? {} : { undelivered: p.undelivered.map((u) => ({ hour: new Date(u.hour), lostParts: u.lostParts })) }),
});
const pendingFromDoc = (p: NonNullable<CheckpointDoc['pendingRepair']>): PendingRepair => ({
  reason: p.reason,
  from: p.from.getTime(),
  ...(p.previousHost === undefined ? {} : { previousHost: p.previousHost }),
  ...(p.lostHours === undefined ? {} : { lostHours: p.lostHours.map((h) => h.getTime()) }),
  ...(p.undelivered === undefined ? {} : { undelivered: p.undelivered.map((u) => ({ hour: u.hour.getTime(), lostParts: u.lostParts })) }),
});

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
   * Loads the checkpoint for the owner holding the fence, stamping it with its epoch in the same
   * atomic update (without a fence: load()). Returns the checkpoint and who wrote it before;
   * FENCED when a newer epoch stamped it already. `host` and `pid` stay those of the last save
   * until this owner saves: a start that crashes before its first save leaves the checkpoint
   * naming the owner whose spool it describes (a takeover from another host is detected again).
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
        { $set: { epoch: fence.epoch } },
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
    const position: StreamPosition = p.query
      ? { kind: 'query', ts: p.query.ts, ...('id' in p.query ? { id: p.query.id } : {}) }
      : p.token !== undefined && p.token !== null
        ? { kind: 'token', token: p.token, ...(p.clusterTime ? { clusterTime: p.clusterTime } : {}) }
        : { kind: 'time', startAtOperationTime: p.startAtOperationTime ?? Timestamp.fromNumber(0) };
    return {
      position,
      spool: { files: (doc.spool?.files ?? []).map(fileStateFromDoc), closing: (doc.spool?.closing ?? []).map(fileStateFromDoc) },
      dedupe: doc.dedupe ? { until: doc.dedupe.until, fromHour: doc.dedupe.fromHour.getTime() } : undefined,
      closedHours: (doc.closedHours ?? []).map((c) => ({ hour: c.hour.getTime(), lastPart: c.lastPart })),
      since: (doc.since ?? doc.updatedAt).getTime(),
      pendingRepair: doc.pendingRepair ? pendingFromDoc(doc.pendingRepair) : undefined,
      host: doc.host,
      pid: doc.pid,
      updatedAt: doc.updatedAt,
    };
  }

  /** Saves `cp` as this process's (its `host` and `pid` are this process's, whatever `cp` says). */
  async save(cp: Omit<CaptureCheckpoint, 'updatedAt'>): Promise<CaptureCheckpoint> {
    const host = hostname();
    const updatedAt = new Date();
    const position = positionDoc(cp.position);
    const doc: Omit<CheckpointDoc, '_id'> = {
      kind: 'capture',
      namespace: this.namespace,
      position,
      spool: { files: cp.spool.files.map(fileStateAsDoc), closing: (cp.spool.closing ?? []).map(fileStateAsDoc) },
      ...(cp.dedupe ? { dedupe: { until: cp.dedupe.until, fromHour: new Date(cp.dedupe.fromHour) } } : {}),
      closedHours: cp.closedHours.map((c) => ({ hour: new Date(c.hour), lastPart: c.lastPart })),
      since: new Date(cp.since),
      ...(cp.pendingRepair ? { pendingRepair: pendingAsDoc(cp.pendingRepair) } : {}),
      host,
      pid: process.pid,
      updatedAt,
    };
    const fence = this.fencing?.fence;
    if (fence) Object.assign(doc, { host: fence.host, pid: fence.pid });
    // Every field set (a conditional update, not a replace): absent optional fields are unset.
    const unset = { ...(cp.dedupe ? {} : { dedupe: '' }), ...(cp.pendingRepair ? {} : { pendingRepair: '' }) };
    await fencedUpsert(this.jobs, { _id: this.id }, { $set: doc, ...(Object.keys(unset).length > 0 ? { $unset: unset } : {}) }, this.fencing, {
      writeConcern: { w: 'majority', j: true },
    });
    return { ...cp, host, pid: process.pid, updatedAt };
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
