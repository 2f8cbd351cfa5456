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
 * Takeover from an owner that may still be alive (DESIGN invariant 8: bytes a stale owner
 * appends can never reach an object or a checkpoint). The capture that opens the spool holds
 * the namespace lease with a newer epoch than the process that wrote the checkpoint. When that
 * previous owner is provably dead (same host, its pid gone) every listed file is cut back to its
 * offset in place, as after any crash. Otherwise (another host, a live pid, unknown) the
 * previous owner may still hold open file descriptors and append through them (a frozen VM, a
 * long GC pause, SIGSTOP), so `open(state, { previousOwnerMayWrite: true })` does not reuse its
 * files: for each file the checkpoint lists (open and closing), and its facts sidecar, the
 * checkpointed prefix is copied into a temp file, fsynced and renamed over the name, then the
 * directory is fsynced. The stale writer's descriptors then point at unlinked inodes: whatever
 * it writes is lost, never reaching an object or a checkpoint (its checkpoint saves are refused
 * by their epoch). Further rules that keep a stale writer off the new owner's files:
 * - Every file (and sidecar) that exists at open is opened at open, right after the fenced
 *   checkpoint claim; a file is never opened by name later except to create it, and creation is
 *   exclusive ('wx'). A stale writer therefore writes only through descriptors of inodes that
 *   the new owner replaced, or of files it created itself.
 * - A name taken when a file is created ('wx' fails): `checkOwner` is asked first (a stale
 *   writer is refused, FENCED, and stops); the owner moves the file found there aside to
 *   unrecognized/ (never delivered, never removed; reported through `onKept`) and creates its own
 *   (a symbolic link there is an operator's, written through: captures create regular files).
 * - `beforeCreate` (the checkpoint listing the new files) may reject: the flush then writes
 *   nothing and fails with its error (a fenced writer creates no file).
 * - Renames of files (open/ → sealed/) happen only after a checkpoint save (fenced) listed the
 *   file as closing; the seal removes a sealed file only after its ledger record (fenced).
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
   * gzip level of the members started while capture outruns compression (see
   * pending-lines.ts), when lower than `gzipLevel`; undefined: always `gzipLevel`.
   */
  gzipBurstLevel?: number;
  /**
   * The documents' timestamp field: when given, facts of every member are recorded in a
   * sidecar for the seal (see facts-file.ts).
   */
  timestampField?: string;
  /**
   * Called by a flush before it creates files (their first bytes), with the files: the capture
   * lists them in its checkpoint first, so that a file the checkpoint does not cover is never
   * one of its own (see recovery-plan.ts). A rejection fails the flush and breaks the spool (a
   * fenced-out capture must not create files); failures the caller can live with it reports
   * itself and resolves (the lines taken by the flush are written anyway).
   */
  beforeCreate?: (files: SpoolFileState[]) => Promise<void>;
  /**
   * Asked before a file found at the name of a file being created is moved aside: rejects
   * (FENCED) when this process no longer owns the spool (see the header).
   */
  checkOwner?: () => Promise<void>;
  /** Told of each file moved aside to unrecognized/ after the spool was opened. */
  onKept?: (kept: KeptFile) => void;
}

/** Options of `Spool.open`. */
export interface SpoolOpenOptions {
  /**
   * The process that wrote the checkpoint may still be alive and appending (see the header):
   * replace every listed file by a copy of its checkpointed prefix instead of cutting it back.
   */
  previousOwnerMayWrite?: boolean;
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
 * Replaces `path` by a new file holding its first `length` bytes (temp file, fsync, rename over
 * the name): descriptors open on the old file keep writing into an unlinked inode. The caller
 * fsyncs the directory.
 */
async function replaceWithPrefix(path: string, length: number): Promise<void> {
  const tmp = `${path}.takeover-${process.pid}.tmp`;
  const src = await fs.open(path, 'r');
  try {
    const out = await fs.open(tmp, 'w');
    try {
      const buf = Buffer.allocUnsafe(Math.min(length, 1 << 20) || 1);
      let at = 0;
      while (at < length) {
        const { bytesRead } = await src.read(buf, 0, Math.min(buf.length, length - at), at);
        if (bytesRead === 0) break;
        await writeAll(out, buf.subarray(0, bytesRead), at);
        at += bytesRead;
      }
      await out.sync();
    } finally {
      await out.close();
    }
    await fs.rename(tmp, path);
  } catch (err) {
    await fs.rm(tmp, { force: true }).catch(() => undefined);
    throw err;
  } finally {
    await src.close();
  }
}

/** Size of `path`, undefined when it does not exist. */
async function sizeOf(path: string): Promise<number | undefined> {
  try {
    return (await fs.stat(path)).size;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/**
 * Takes a listed file over from a previous owner that may still write (see the header): the
 * file and its sidecar become new inodes holding their checkpointed bytes. A file shorter than
 * its offset is left to the checks of `open` (SPOOL_CORRUPT); a sidecar that cannot match is
 * unlinked (the seal decodes its file).
 */
async function takeOver(path: string, state: SpoolFileState): Promise<void> {
  const size = await sizeOf(path);
  if (size !== undefined && size >= state.offset) await replaceWithPrefix(path, state.offset);
  const facts = factsPath(path);
  const factsSize = await sizeOf(facts);
  if (factsSize === undefined) return;
  if (state.facts !== undefined && factsSize >= state.facts) await replaceWithPrefix(facts, state.facts);
  else await fs.rm(facts, { force: true });
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
  private readonly checkOwner: SpoolOptions['checkOwner'];
  private readonly onKept: SpoolOptions['onKept'];
  private readonly pool: SlabPool;
  private readonly files = new Map<string, OpenFile>();
  private bytesPending = 0;
  private flushing: Promise<SpoolState> | undefined;
  private closed = false;
  /** Set by the first failed write: nothing may be flushed or checkpointed after it. */
  private broken: CronLogError | undefined;

  constructor(options: SpoolOptions) {
    this.layout = options.layout;
    this.gzipLevel = options.gzipLevel;
    this.pool = new SlabPool(options.gzipBurstLevel);
    this.timestampPath = options.timestampField?.split('.');
    this.beforeCreate = options.beforeCreate;
    this.checkOwner = options.checkOwner;
    this.onKept = options.onKept;
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
   * With `previousOwnerMayWrite`, the listed files are first replaced by copies of their
   * checkpointed bytes (see the header). Every listed file that exists is opened here.
   */
  async open(state: SpoolState | undefined, options: SpoolOpenOptions = {}): Promise<SpoolRecovery> {
    for (const dir of [this.layout.open, this.layout.sealed]) {
      try {
        await fs.mkdir(dir, { recursive: true });
        await fs.access(dir, constants.W_OK);
      } catch (err) {
        throw new CronLogError('SPOOL_IO', `spool directory ${dir} is not writable (${describeIoError(err)})`, { cause: err });
      }
    }
    if (options.previousOwnerMayWrite === true && state !== undefined) {
      for (const cp of [...state.files, ...(state.closing ?? [])]) {
        const path = join(this.layout.open, spoolFileName(cp));
        try {
          await takeOver(path, cp);
        } catch (err) {
          throw spoolIoError('take over', path, err);
        }
      }
      await fsyncDir(this.layout.open);
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
    // Each listed file is opened on its own (a few stats and opens each): all at once, in the
    // checkpoint's order in `files`.
    const opened = await Promise.allSettled((state?.files ?? []).map((cp) => this.openListed(cp)));
    for (const o of opened) if (o.status === 'fulfilled') this.files.set(fileKey(o.value.id), o.value);
    this.lastFile = undefined;
    const failed = opened.find((o): o is PromiseRejectedResult => o.status === 'rejected');
    if (failed !== undefined) throw failed.reason;
    return recovery;
  }

  /** Opens a file the checkpoint lists as open (after recovery cut it back), with its sidecar. */
  private async openListed(cp: SpoolFileState): Promise<OpenFile> {
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
    const f = this.openFile(cp, offset, cp.lines, facts);
    // Opened now, while this process is known to own the spool (see the header).
    try {
      if (size > 0 || (await exists(path))) f.handle = await fs.open(path, 'r+');
      if (f.facts !== undefined && (await exists(factsPath(path)))) f.factsHandle = await fs.open(factsPath(path), 'r+');
    } catch (err) {
      await f.handle?.close().catch(() => undefined);
      throw spoolIoError('open', path, err);
    }
    return f;
  }

  /**
   * Creates a file exclusively. A name already taken (by a process that no longer owns the
   * spool, see the header): once `checkOwner` confirms this one does, the file there is moved
   * aside to unrecognized/ (with its sidecar) and the file created; a symbolic link there is
   * written through.
   */
  private async create(path: string): Promise<FileHandle> {
    try {
      return await fs.open(path, 'wx');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    await this.checkOwner?.();
    // A symbolic link is an operator's (the file lives elsewhere): a capture creates regular
    // files only, so no stale writer holds it open. It is written through, as before.
    if ((await fs.lstat(path)).isSymbolicLink()) return fs.open(path, 'w');
    const dir = await this.keepDirectory();
    const reason = 'found at the name of a file this capture was creating: written by another process after this one took the spool over (a writer fenced out by a newer lease epoch)';
    for (const p of [factsPath(path), path]) {
      if (!(await exists(p))) continue;
      const kept = { file: p, keptAs: await this.keep(p, dir), reason };
      this.onKept?.(kept);
    }
    await fsyncDir(this.layout.open);
    return fs.open(path, 'wx');
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

  /** Members compressed at the burst level so far (capture catching up or outrunning compression; see pending-lines.ts). */
  get burstMembers(): number {
    return this.pool.burstMembers;
  }

  /**
   * Whether capture is catching up (the change stream's last batch was full): members then
   * start at the burst level (pending-lines.ts). Set by the tailer after each batch.
   */
  set catchingUp(value: boolean) {
    this.pool.catchingUp = value;
  }

  /** Resolves once at most `max` slabs are being compressed. */
  async compressed(max: number): Promise<void> {
    while (this.pool.compressing.size > max) await this.pool.compressing.values().next().value;
  }

  /**
   * Appends one NDJSON line (without newline) to the file `id`. Synchronous; memory only. `doc`:
   * the document the line was encoded from (decoded with `promoteValues: false`), whose BSON
   * types the file's type summary records (type-summary.ts); without it they are unknown.
   */
  append(id: SpoolFileId, line: string, doc?: object): void {
    this.bytesPending += this.fileOf(id).pending.append(line, doc);
  }

  private fileOf(id: SpoolFileId): OpenFile {
    if (this.closed) throw new CronLogError('INTERNAL', 'spool is closed');
    // Nearly every event goes to the same file as the one before it: no key string to make.
    const last = this.lastFile;
    if (last !== undefined && last.id.hour === id.hour && last.id.part === id.part) return last;
    const key = fileKey(id);
    let f = this.files.get(key);
    if (!f) {
      f = this.openFile(id, 0, 0, 0);
      this.files.set(key, f);
    }
    this.lastFile = f;
    return f;
  }

  /** The file the last append went to (forgotten when a file leaves `files`). */
  private lastFile: OpenFile | undefined;

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
    if (creating.length > 0 && this.beforeCreate) {
      try {
        await this.beforeCreate(creating);
      } catch (err) {
        // Nothing of this batch is written (e.g. a fenced-out capture): the spool is done.
        for (const { taken } of batch) this.bytesPending -= taken.bytes;
        this.broken = err instanceof CronLogError ? err : spoolIoError('list new files for', this.layout.open, err);
        throw this.broken;
      }
    }
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
        // A file that existed at open was opened then; any other is created here, exclusively.
        f.handle ??= await this.create(f.path);
        await writeAll(f.handle, data, f.offset);
        await f.handle.sync();
      } catch (err) {
        // The bytes of this batch are lost from memory; the checkpoint is not advanced, so the
        // change stream delivers them again after a restart. Capture must stop now.
        this.bytesPending -= taken.bytes;
        this.broken = err instanceof CronLogError ? err : spoolIoError('write', f.path, err);
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
      // Opened at open when it existed; else created here, exclusively (a sidecar found at its
      // name is not this file's: the file records no facts then).
      f.factsHandle ??= await fs.open(path, 'wx');
      await writeAll(f.factsHandle, record, f.facts as number);
      f.facts = (f.facts as number) + record.length;
    } catch {
      f.facts = undefined;
      f.digest = undefined;
      f.pending.stopFacts();
      const ours = f.factsHandle !== undefined;
      await f.factsHandle?.close().catch(() => undefined);
      f.factsHandle = undefined;
      // The sidecar holds no document (its file's seal decodes the file instead).
      if (ours) await fs.rm(path, { force: true }).catch(() => undefined);
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
    this.lastFile = undefined;
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
