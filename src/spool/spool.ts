/**
 * The hourly spool: one gzip NDJSON file per hour (and per late part) under
 * `<spoolDirectory>/<namespace>/open/`. Lines wait in memory for the next flush, compressed into
 * complete gzip members of about 1 MiB as they accumulate (pending-lines.ts); a flush writes a
 * file's pending members at its durable offset and fsyncs it. Only then does `flush()` return
 * the new SpoolState, which the caller persists as (part of) the checkpoint: a checkpoint never
 * covers bytes that are not on disk (DESIGN invariant 3). On open, every file is cut back to its
 * checkpointed offset; files the checkpoint does not know were created after it and are
 * removed, since the change stream resumes from the checkpointed token and delivers their
 * events again.
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
import { encodeClosingRecord, encodeFactsRecord, factsPath, spoolPathOfFacts } from './facts-file.js';
import { PendingLines, SlabPool } from './pending-lines.js';
import type { CompressedMember, TakenLines } from './pending-lines.js';
import type { SpoolFileId, SpoolLayout } from './spool-files.js';
import { fileKey, parseSpoolFileName, spoolFileName } from './spool-files.js';

/** Durable state of one open spool file, as recorded in the checkpoint. */
export interface SpoolFileState extends SpoolFileId {
  /** Durable compressed bytes (a gzip member boundary). */
  offset: number;
  /** NDJSON lines in those bytes. */
  lines: number;
  /** Bytes of the facts sidecar describing them; absent when the file has no usable sidecar. */
  facts?: number;
}

export interface SpoolState {
  files: SpoolFileState[];
  /** Files detached for sealing whose move to sealed/ may not have happened yet. */
  closing?: SpoolFileState[];
}

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

export class Spool {
  readonly layout: SpoolLayout;
  private readonly gzipLevel: number;
  private readonly timestampPath: readonly string[] | undefined;
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

  /** Creates the directories and cuts every open file back to the checkpointed state. */
  async open(state: SpoolState | undefined): Promise<void> {
    for (const dir of [this.layout.open, this.layout.sealed]) {
      try {
        await fs.mkdir(dir, { recursive: true });
        await fs.access(dir, constants.W_OK);
      } catch (err) {
        throw new CronLogError('SPOOL_IO', `spool directory ${dir} is not writable (${describeIoError(err)})`, { cause: err });
      }
    }
    const known = new Map<string, SpoolFileState>();
    for (const f of state?.files ?? []) known.set(fileKey(f), f);
    const closing = new Map<string, SpoolFileState>();
    for (const f of state?.closing ?? []) closing.set(fileKey(f), f);
    for (const name of await fs.readdir(this.layout.open)) {
      const path = join(this.layout.open, name);
      const ofFacts = spoolPathOfFacts(name);
      const factsOf = ofFacts === undefined ? undefined : parseSpoolFileName(ofFacts);
      if (factsOf) {
        // A sidecar without its file's checkpoint entry (handled with its file otherwise).
        if (!known.has(fileKey(factsOf)) && !closing.has(fileKey(factsOf))) await fs.rm(path, { force: true });
        continue;
      }
      const id = parseSpoolFileName(name);
      if (!id) continue;
      const done = closing.get(fileKey(id));
      if (done) {
        // Closed by the last checkpoint but not moved yet: finish the move.
        if ((await fs.stat(path)).size > done.offset) await fs.truncate(path, done.offset);
        await cutFacts(factsPath(path), done.facts);
        await this.moveToSealed(done);
        continue;
      }
      const cp = known.get(fileKey(id));
      if (!cp) {
        await fs.rm(path, { force: true });
        await fs.rm(factsPath(path), { force: true });
        continue;
      }
      const { size } = await fs.stat(path);
      if (size < cp.offset) {
        throw new CronLogError(
          'SPOOL_CORRUPT',
          `spool file ${path} has ${size} bytes but the checkpoint recorded ${cp.offset} durable bytes; ` +
            'the file was truncated or replaced outside cron-log-service. Restore it, or restart capture with --reset-from TIME to rebuild from a query',
        );
      }
      if (size > cp.offset) await fs.truncate(path, cp.offset);
    }
    for (const cp of known.values()) {
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
    for (const f of this.files.values()) {
      files.push({ hour: f.id.hour, part: f.id.part, offset: f.offset, lines: f.lines, ...(f.facts === undefined ? {} : { facts: f.facts }) });
    }
    files.sort((a, b) => a.hour - b.hour || a.part - b.part);
    return { files };
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
    return { hour: f.id.hour, part: f.id.part, offset: f.offset, lines: f.lines, ...(f.facts === undefined ? {} : { facts: f.facts }) };
  }

  /** Moves a detached file (and its sidecar) from open/ to sealed/ (rename + directory fsync). Idempotent. */
  async moveToSealed(id: SpoolFileId): Promise<string> {
    const name = spoolFileName(id);
    const from = join(this.layout.open, name);
    const to = join(this.layout.sealed, name);
    // The sidecar first: once the file is in sealed/, nothing looks for its sidecar in open/.
    await fs.rename(factsPath(from), factsPath(to)).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw spoolIoError('seal', factsPath(from), err);
    });
    try {
      await fs.rename(from, to);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw spoolIoError('seal', from, err);
      try {
        await fs.access(to);
      } catch {
        // Closed with no byte ever written (the file was never created): nothing to seal.
        return to;
      }
    }
    await fsyncDir(this.layout.sealed);
    await fsyncDir(this.layout.open);
    return to;
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
