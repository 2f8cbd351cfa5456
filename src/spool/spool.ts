/**
 * The hourly spool: one gzip NDJSON file per hour (and per late part) under
 * `<spoolDirectory>/<namespace>/open/`. Lines wait in memory for the next flush, compressed into
 * complete gzip members of about 1 MiB as they accumulate (pending-lines.ts); a flush writes a
 * file's pending members at its durable offset and fsyncs it. Only then does `flush()` return
 * the new SpoolState, which the caller persists as (part of) the checkpoint: a checkpoint never
 * covers bytes that are not on disk (DESIGN invariant 3). Before a flush creates a file, the
 * `beforeCreate` hook lets the caller list it in the checkpoint (at offset 0). On open, every
 * file is cut back to its checkpointed offset, and a file the checkpoint does not cover is
 * moved, whole, to unrecognized/ and reported, never removed (DESIGN invariant 10; the
 * decisions are recovery-plan.ts's).
 *
 * Every write or rename failure of a spool file (not of its facts sidecar, see below) breaks
 * the spool: nothing is flushed (hence checkpointed) after it, and the caller stops capture
 * (exit code 4); one at start-up fails the start with the same code.
 *
 * With `timestampField` set, each flush also appends a facts record for each member it wrote to
 * the file's sidecar (facts-file.ts), so the seal can check the hour without decoding it. The
 * checkpoint records the sidecar's length with the file's offset; a sidecar that cannot match
 * its file any more (an older checkpoint, a shorter sidecar after a crash) is removed, and the
 * seal then decodes that file.
 */
import { createHash } from 'node:crypto';
import type { Hash } from 'node:crypto';
import { constants, promises as fs } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { CronLogError } from '../errors.js';
import type { BsonLineWriter } from './bson-lines.js';
import { encodeClosingRecord, encodeFactsRecord, factsPath } from './facts-file.js';
import { PendingLines, SlabPool } from './pending-lines.js';
import type { CompressedMember, TakenLines } from './pending-lines.js';
import { planRecovery } from './recovery-plan.js';
import type { SpoolFileId, SpoolFileState, SpoolLayout, SpoolState } from './spool-files.js';
import { fileKey, parseSpoolFileName, spoolFileName } from './spool-files.js';

export type { SpoolFileState, SpoolState } from './spool-files.js';

interface OpenFile {
  id: SpoolFileId;
  path: string;
  handle: FileHandle | undefined;
  offset: number;
  lines: number;
  pending: PendingLines;
  /** Durable length of the sidecar; undefined when the file records no facts. */
  facts: number | undefined;
  factsHandle: FileHandle | undefined;
  /** SHA-256 of the file's bytes so far, when this process wrote all of them. */
  digest: Hash | undefined;
}

export interface SpoolOptions {
  layout: SpoolLayout;
  gzipLevel: number;
  /**
   * The documents' timestamp field: when given, facts of every member are recorded in a
   * sidecar for the seal (see facts-file.ts).
   */
  timestampField?: string;
  /**
   * Called by a flush before it creates files (their first bytes), with the files: the capture
   * lists them in its checkpoint first, so that a file the checkpoint does not cover is never
   * one of its own (see recovery-plan.ts). Must not reject (a failure is the caller's to
   * report: the lines taken by the flush are written anyway).
   */
  beforeCreate?: (files: SpoolFileState[]) => Promise<void>;
}

/** A file found in open/ at start-up that the checkpoint did not cover, and where it was kept. */
export interface KeptFile {
  /** Where it was found (in open/). */
  file: string;
  /** Where it is now (under unrecognized/). */
  keptAs: string;
  /** Why the checkpoint does not cover it. */
  reason: string;
}

/** What `Spool.open` found. */
export interface SpoolRecovery {
  /** Files the checkpoint did not cover, moved whole to unrecognized/ (not delivered, not removed). */
  kept: KeptFile[];
}

function describeIoError(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  const hints: Record<string, string> = {
    ENOSPC: 'the disk is full',
    EDQUOT: 'the disk quota is exhausted',
    EACCES: 'permission denied',
    EPERM: 'operation not permitted',
    EROFS: 'the file system is read-only',
    ENOENT: 'the directory does not exist',
  };
  const hint = e.code ? hints[e.code] : undefined;
  return hint ? `${e.code}: ${hint}` : e.message;
}

export function spoolIoError(action: string, path: string, err: unknown): CronLogError {
  return new CronLogError('SPOOL_IO', `cannot ${action} spool file ${path} (${describeIoError(err)})`, { cause: err });
}

function moveError(from: string, toDir: string, err: unknown, hint: string): CronLogError {
  return new CronLogError('SPOOL_IO', `cannot move spool file ${from} into ${toDir} (${describeIoError(err)}); ${hint}`, { cause: err });
}

async function exists(path: string): Promise<boolean> {
  try {
    await fs.lstat(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

async function fsyncDir(dir: string): Promise<void> {
  const fh = await fs.open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

async function writeAll(handle: FileHandle, data: Uint8Array, at: number): Promise<void> {
  let written = 0;
  while (written < data.length) {
    const r = await handle.write(data, written, data.length - written, at + written);
    written += r.bytesWritten;
  }
}

/**
 * Cuts a sidecar back to the checkpointed length `facts`. Returns that length, or undefined
 * (sidecar removed) when there is none to keep: not recorded, or shorter than recorded.
 * Removing or cutting a sidecar loses no document: it only describes its spool file, whose seal
 * decodes the file when the sidecar does not match it.
 */
async function cutFacts(path: string, facts: number | undefined): Promise<number | undefined> {
  let size: number;
  try {
    size = (await fs.stat(path)).size;
  } catch {
    return undefined;
  }
  if (facts === undefined || size < facts) {
    await fs.rm(path, { force: true });
    return undefined;
  }
  if (size > facts) await fs.truncate(path, facts);
  return facts;
}

/**
 * Cuts an open file back to its checkpointed `offset`. The bytes past it (a torn tail) were
 * written after the checkpoint's stream position, whose events the stream delivers again
 * (invariant 3): the checkpoint covers them.
 */
async function cutBack(path: string, offset: number): Promise<void> {
  const { size } = await fs.stat(path);
  if (size < offset) {
    throw new CronLogError(
      'SPOOL_CORRUPT',
      `spool file ${path} has ${size} bytes but the checkpoint recorded ${offset} durable bytes; ` +
        'the file was truncated or replaced outside cron-log-service. Restore it, or restart capture with --reset-from TIME to rebuild from a query',
    );
  }
  if (size > offset) await fs.truncate(path, offset);
}

export class Spool {
  readonly layout: SpoolLayout;
  private readonly gzipLevel: number;
  private readonly timestampPath: readonly string[] | undefined;
  private readonly beforeCreate: SpoolOptions['beforeCreate'];
  private readonly pool = new SlabPool();
  private readonly files = new Map<string, OpenFile>();
  private bytesPending = 0;
  private flushing: Promise<SpoolState> | undefined;
  private closed = false;
  /** Set by the first failed write: nothing may be flushed or checkpointed after it. */
  private broken: CronLogError | undefined;

  constructor(options: SpoolOptions) {
    this.layout = options.layout;
    this.gzipLevel = options.gzipLevel;
    this.timestampPath = options.timestampField?.split('.');
    this.beforeCreate = options.beforeCreate;
  }

  private openFile(id: SpoolFileId, offset: number, lines: number, facts: number | undefined): OpenFile {
    const recordFacts = facts !== undefined && this.timestampPath !== undefined;
    return {
      id: { hour: id.hour, part: id.part },
      path: join(this.layout.open, spoolFileName(id)),
      handle: undefined,
      offset,
      lines,
      pending: new PendingLines(this.pool, this.gzipLevel, recordFacts ? this.timestampPath : undefined),
      facts: recordFacts ? facts : undefined,
      factsHandle: undefined,
      digest: recordFacts && offset === 0 ? createHash('sha256') : undefined,
    };
  }

  /**
   * Creates the directories, cuts every open file back to the checkpointed state, finishes the
   * moves of closing files and keeps the files the checkpoint does not cover (recovery-plan.ts).
   */
  async open(state: SpoolState | undefined): Promise<SpoolRecovery> {
    for (const dir of [this.layout.open, this.layout.sealed]) {
      try {
        await fs.mkdir(dir, { recursive: true });
        await fs.access(dir, constants.W_OK);
      } catch (err) {
        throw new CronLogError('SPOOL_IO', `spool directory ${dir} is not writable (${describeIoError(err)})`, { cause: err });
      }
    }
    const recovery: SpoolRecovery = { kept: [] };
    let keepIn: string | undefined;
    for (const step of planRecovery(await fs.readdir(this.layout.open), state)) {
      const path = join(this.layout.open, step.name);
      try {
        if (step.action === 'set-aside') {
          keepIn ??= await this.keepDirectory();
          recovery.kept.push({ file: path, keptAs: await this.keep(path, keepIn), reason: step.reason });
        } else if (step.action === 'finish-move') {
          // Closed by the last checkpoint but not moved yet: finish the move. Nothing is written
          // to a file after it is detached; bytes past its final offset would be newer than the
          // checkpoint, which covers them (invariant 3).
          if ((await fs.stat(path)).size > step.state.offset) await fs.truncate(path, step.state.offset);
          await cutFacts(factsPath(path), step.state.facts);
          await this.moveToSealed(step.state);
        } else if (step.action === 'resume') {
          await cutBack(path, step.state.offset);
        }
      } catch (err) {
        throw err instanceof CronLogError ? err : spoolIoError('recover', path, err);
      }
    }
    if (keepIn !== undefined) await fsyncDir(this.layout.open);
    for (const cp of state?.files ?? []) {
      const path = join(this.layout.open, spoolFileName(cp));
      let size = 0;
      try {
        size = (await fs.stat(path)).size;
      } catch {
        if (cp.offset > 0) {
          throw new CronLogError(
            'SPOOL_CORRUPT',
            `spool file ${path} is missing but the checkpoint recorded ${cp.offset} durable bytes in it; ` +
              'restore it, or restart capture with --reset-from TIME to rebuild from a query',
          );
        }
      }
      const offset = Math.min(size, cp.offset);
      // A file starting empty records facts from its first member; otherwise its sidecar must
      // match the checkpoint exactly, or the file records none (its seal decodes it).
      const facts = offset === 0 ? await cutFacts(factsPath(path), 0) ?? 0 : await cutFacts(factsPath(path), cp.facts);
      this.files.set(fileKey(cp), this.openFile(cp, offset, cp.lines, facts));
    }
    return recovery;
  }

  /** A new folder under unrecognized/ for the files kept by this start. */
  private async keepDirectory(): Promise<string> {
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    for (let n = 0; ; n++) {
      const dir = join(this.layout.unrecognized, n === 0 ? stamp : `${stamp}-${n}`);
      try {
        await fs.mkdir(this.layout.unrecognized, { recursive: true });
        await fs.mkdir(dir);
        return dir;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EEXIST') continue;
        throw new CronLogError('SPOOL_IO', `cannot create ${dir} to keep spool files the checkpoint does not cover (${describeIoError(err)})`, { cause: err });
      }
    }
  }

  /** Moves `path` whole into `dir` (a new folder: nothing there is replaced); returns its new path. */
  private async keep(path: string, dir: string): Promise<string> {
    const to = join(dir, path.slice(this.layout.open.length + 1));
    try {
      await fs.rename(path, to);
      await fsyncDir(dir);
    } catch (err) {
      throw moveError(path, dir, err, 'the checkpoint does not cover it, so it is kept (never removed): free the directory, then restart');
    }
    return to;
  }

  /** Bytes appended and not flushed yet (what backpressure watches). */
  get pendingBytes(): number {
    return this.bytesPending;
  }

  /** Slabs of lines being compressed (each about 1 MiB of lines). */
  get compressing(): number {
    return this.pool.compressing.size;
  }

  /** Resolves once at most `max` slabs are being compressed. */
  async compressed(max: number): Promise<void> {
    while (this.pool.compressing.size > max) await this.pool.compressing.values().next().value;
  }

  /** Appends one NDJSON line (without newline) to the file `id`. Synchronous; memory only. */
  append(id: SpoolFileId, line: string): void {
    this.bytesPending += this.fileOf(id).pending.append(line);
  }

  private fileOf(id: SpoolFileId): OpenFile {
    if (this.closed) throw new CronLogError('INTERNAL', 'spool is closed');
    const key = fileKey(id);
    let f = this.files.get(key);
    if (!f) {
      f = this.openFile(id, 0, 0, 0);
      this.files.set(key, f);
    }
    return f;
  }

  /**
   * Appends the JSON line of the BSON document at `src[at]` (written by `writer`, see
   * bson-lines.ts) to the file `id`. Returns false, appending nothing, when the writer leaves the
   * document to the caller (who then decodes it and calls `append`).
   */
  appendBson(id: SpoolFileId, src: Uint8Array, at: number, writer: BsonLineWriter): boolean {
    const f = this.fileOf(id);
    const n = f.pending.appendBson(src, at, writer);
    if (n < 0) return false;
    this.bytesPending += n;
    return true;
  }

  /** The durable state (what a checkpoint taken now may record). */
  state(): SpoolState {
    const files: SpoolFileState[] = [];
    for (const f of this.files.values()) files.push(this.stateOf(f));
    files.sort((a, b) => a.hour - b.hour || a.part - b.part);
    return { files };
  }

  private stateOf(f: OpenFile): SpoolFileState {
    return { hour: f.id.hour, part: f.id.part, offset: f.offset, lines: f.lines, ...(f.facts === undefined ? {} : { facts: f.facts }) };
  }

  /** Open files known to the spool, with durable sizes. */
  openFiles(): SpoolFileState[] {
    return this.state().files;
  }

  /**
   * Writes every pending line durably. The pending buffers are taken synchronously when this
   * is called (so a caller can pair the result with a resume token read in the same tick);
   * lines appended meanwhile wait for the next flush. Flushes run one at a time.
   */
  flush(): Promise<SpoolState> {
    if (this.broken) return Promise.reject(this.broken);
    const batch: Array<{ file: OpenFile; taken: TakenLines }> = [];
    for (const f of this.files.values()) {
      const taken = f.pending.take();
      if (taken) batch.push({ file: f, taken });
    }
    const previous = this.flushing ?? Promise.resolve(this.state());
    const run = previous.catch(() => undefined).then(() => {
      if (this.broken) throw this.broken;
      return this.writeBatch(batch);
    });
    this.flushing = run;
    return run;
  }

  private async writeBatch(batch: Array<{ file: OpenFile; taken: TakenLines }>): Promise<SpoolState> {
    const creating = batch.filter(({ file: f }) => f.offset === 0 && f.handle === undefined).map(({ file: f }) => this.stateOf(f));
    if (creating.length > 0 && this.beforeCreate) await this.beforeCreate(creating).catch(() => undefined);
    for (const { file: f, taken } of batch) {
      let members: CompressedMember[];
      try {
        members = await Promise.all(taken.members);
      } catch (err) {
        this.bytesPending -= taken.bytes;
        this.broken = spoolIoError('compress lines for', f.path, err);
        throw this.broken;
      }
      // One facts record per member, each naming the offset it is written at.
      const records: Buffer[] = [];
      let recordsComplete = f.facts !== undefined;
      let at = f.offset;
      for (const m of members) {
        const record = recordsComplete && m.facts ? encodeFactsRecord(m.member, at, m.facts) : undefined;
        if (record) records.push(record);
        else recordsComplete = false;
        at += m.member.length;
      }
      const data = members.length === 1 ? (members[0] as CompressedMember).member : Buffer.concat(members.map((m) => m.member));
      try {
        // 'w' only at offset 0: a file the checkpoint lists empty (open cut it to 0 bytes) or a
        // new one (open moved any file of that name the checkpoint did not cover aside).
        f.handle ??= await fs.open(f.path, f.offset === 0 ? 'w' : 'r+');
        await writeAll(f.handle, data, f.offset);
        await f.handle.sync();
      } catch (err) {
        // The bytes of this batch are lost from memory; the checkpoint is not advanced, so the
        // change stream delivers them again after a restart. Capture must stop now.
        this.bytesPending -= taken.bytes;
        this.broken = spoolIoError('write', f.path, err);
        throw this.broken;
      }
      f.offset += data.length;
      f.lines += taken.lines;
      f.digest?.update(data);
      this.bytesPending -= taken.bytes;
      if (f.facts !== undefined) await this.writeFacts(f, recordsComplete ? Buffer.concat(records) : undefined);
    }
    return this.state();
  }

  /**
   * Appends the facts records of a flush's members to the file's sidecar. Not fsynced: the sidecar only
   * speeds the seal up, which checks every record against the file's bytes. A record that
   * cannot be written (or encoded) ends the file's facts; capture goes on.
   */
  private async writeFacts(f: OpenFile, record: Buffer | undefined): Promise<void> {
    const path = factsPath(f.path);
    try {
      if (!record) throw new Error('a member has no facts');
      f.factsHandle ??= await fs.open(path, f.facts === 0 ? 'w' : 'r+');
      await writeAll(f.factsHandle, record, f.facts as number);
      f.facts = (f.facts as number) + record.length;
    } catch {
      f.facts = undefined;
      f.digest = undefined;
      f.pending.stopFacts();
      await f.factsHandle?.close().catch(() => undefined);
      f.factsHandle = undefined;
      // The sidecar holds no document (its file's seal decodes the file instead).
      await fs.rm(path, { force: true }).catch(() => undefined);
    }
  }

  /**
   * Removes an open file from the spool and returns its final state. The caller (seal) has
   * stopped routing events to it and flushed. The file stays in `open/` until `moveToSealed`,
   * which the caller runs after a checkpoint that lists it under `closing`.
   */
  async detach(id: SpoolFileId): Promise<SpoolFileState | undefined> {
    const key = fileKey(id);
    const f = this.files.get(key);
    if (!f) return undefined;
    if (f.pending.lines > 0) throw new CronLogError('INTERNAL', `spool file ${f.path} still has unflushed lines`);
    if (f.facts !== undefined && f.digest && f.offset > 0) await this.writeFacts(f, encodeClosingRecord(f.offset, f.lines, f.digest.digest()));
    this.files.delete(key);
    await f.handle?.close();
    f.handle = undefined;
    await f.factsHandle?.close();
    f.factsHandle = undefined;
    return this.stateOf(f);
  }

  /**
   * Moves a detached file (and its sidecar) from open/ to sealed/ (rename + directory fsync).
   * Idempotent; never replaces a file in sealed/. A failure breaks the spool (nothing is
   * checkpointed after it): the file stays in open/, listed as closing by the checkpoint, and
   * the next start moves it.
   */
  async moveToSealed(id: SpoolFileId): Promise<string> {
    const name = spoolFileName(id);
    const from = join(this.layout.open, name);
    const to = join(this.layout.sealed, name);
    const hint = 'capture stopped; the file stays in open/ and the checkpoint lists it as closing, so the next start moves it';
    try {
      if (await exists(to)) {
        if (!(await exists(from))) return to; // moved already
        throw Object.assign(new Error(`${to} already exists and is not replaced`), { code: 'EEXIST' });
      }
      // The sidecar first: once the file is in sealed/, nothing looks for its sidecar in open/.
      await fs.rename(factsPath(from), factsPath(to)).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') throw err;
      });
      try {
        await fs.rename(from, to);
      } catch (err) {
        // Closed with no byte ever written (the file was never created): nothing to seal.
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return to;
        throw err;
      }
      await fsyncDir(this.layout.sealed);
      await fsyncDir(this.layout.open);
      return to;
    } catch (err) {
      const failure = moveError(from, this.layout.sealed, err, hint);
      this.broken ??= failure;
      throw failure;
    }
  }

  /** Files waiting in sealed/ for delivery, oldest hour first. */
  async sealedFiles(): Promise<Array<SpoolFileId & { path: string; name: string }>> {
    const out: Array<SpoolFileId & { path: string; name: string }> = [];
    for (const name of await fs.readdir(this.layout.sealed)) {
      const id = parseSpoolFileName(name);
      if (id) out.push({ ...id, name, path: join(this.layout.sealed, name) });
    }
    return out.sort((a, b) => a.hour - b.hour || a.part - b.part);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.flushing?.catch(() => undefined);
    for (const f of this.files.values()) {
      await f.handle?.close().catch(() => undefined);
      f.handle = undefined;
      await f.factsHandle?.close().catch(() => undefined);
      f.factsHandle = undefined;
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
