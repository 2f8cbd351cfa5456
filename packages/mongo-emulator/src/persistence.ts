/**
 * Optional persistence (`--dbpath`). The journal is the oplog itself: every entry is appended
 * to `journal.bson` before the reply of the command that wrote it, so data, indexes and oplog
 * survive a crash of the process (SIGKILL included; an OS crash may lose the last writes, the
 * journal is not fsynced per write). A clean shutdown, and every start, compacts the journal
 * into `snapshot.bson` (written to a temporary file, fsynced, renamed): collections with
 * their documents and indexes, then the retained oplog, so resume tokens stay valid across
 * restarts. `mongod.lock` holds the pid of the emulator using the directory.
 */
import {
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  truncateSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { BSON, Binary, UUID } from 'bson';
import type { Document } from 'bson';
import { BsonWriter } from './bson-raw.js';
import { fromTimestamp, toTimestamp } from './clock.js';
import type { Ts } from './clock.js';
import type { Engine, JournalSink } from './engine.js';
import type { OplogCommand, OplogEntry, UpdateDescription } from './oplog.js';
import { uuidTokenPart } from './resume-token.js';
import { Collection } from './storage.js';
import type { IndexSpec } from './storage.js';
import { StoredDoc } from './stored-doc.js';

const FORMAT = 'cron-log-service-emulator';
const FORMAT_VERSION = 1;
/** Compact the journal into a snapshot once it grows past this size. */
const COMPACT_JOURNAL_BYTES = 256 * 1024 * 1024;

export class DbPathError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DbPathError';
  }
}

/**
 * An oplog entry on disk: a BSON record of its fields, followed by the stored documents it
 * carries (`hasDoc`, `hasPre`) exactly as stored, so they are never re-encoded.
 */
function encodeEntry(e: OplogEntry): Buffer[] {
  const w = new BsonWriter(256);
  w.startDocument();
  w.string('k', 'o');
  w.timestamp('ts', e.ts);
  w.date('wall', e.wall);
  w.string('op', e.op);
  w.string('db', e.db);
  w.string('coll', e.coll);
  if (e.uuid) w.value('ui', new Binary(Buffer.from(e.uuid), Binary.SUBTYPE_UUID));
  if (e.doc) w.bool('hasDoc', true);
  if (e.pre) w.bool('hasPre', true);
  if (!e.doc && e.id !== undefined) w.value('id', e.id);
  if (e.replace) w.bool('replace', true);
  if (e.update) w.value('upd', e.update);
  if (e.cmd) w.value('cmd', e.cmd);
  const out = [w.end().finish()];
  if (e.doc) out.push(Buffer.from(e.doc.raw));
  if (e.pre) out.push(Buffer.from(e.pre.raw));
  return out;
}

/** Reads concatenated BSON documents; `undefined` at the end or at a torn tail. */
class RecordReader {
  readonly #buf: Buffer;
  pos = 0;

  constructor(buf: Buffer) {
    this.#buf = buf;
  }

  raw(): Buffer | undefined {
    const buf = this.#buf;
    if (this.pos + 5 > buf.length) return undefined;
    const size = buf.readInt32LE(this.pos);
    if (size < 5 || this.pos + size > buf.length || buf[this.pos + size - 1] !== 0) return undefined;
    const out = Buffer.from(buf.subarray(this.pos, this.pos + size));
    this.pos += size;
    return out;
  }

  record(): Document | undefined {
    const raw = this.raw();
    if (!raw) return undefined;
    try {
      return BSON.deserialize(raw);
    } catch {
      return undefined;
    }
  }
}

function storedFrom(raw: Buffer, what: string): StoredDoc {
  const doc = StoredDoc.fromStoredRaw(raw);
  if (!doc) throw new DbPathError(`${what}: stored document does not start with _id`);
  return doc;
}

/** Reads an entry written by encodeEntry: its record, then its documents from `reader`. */
function decodeEntry(rec: Document, reader: RecordReader): Omit<OplogEntry, 'seq' | 'uuidPart'> | undefined {
  const ts = fromTimestamp(rec.ts);
  if (ts === undefined) throw new DbPathError('oplog record without ts');
  const entry: Omit<OplogEntry, 'seq' | 'uuidPart'> = {
    ts,
    wall: (rec.wall as Date).getTime(),
    op: rec.op as OplogEntry['op'],
    db: rec.db as string,
    coll: rec.coll as string,
    uuid: rec.ui ? Buffer.from((rec.ui as Binary).buffer) : undefined,
  };
  if (rec.hasDoc === true) {
    const raw = reader.raw();
    if (!raw) return undefined;
    entry.doc = storedFrom(raw, 'oplog document');
    entry.id = entry.doc.id;
  }
  if (rec.hasPre === true) {
    const raw = reader.raw();
    if (!raw) return undefined;
    entry.pre = storedFrom(raw, 'oplog pre-image');
  }
  if (rec.id !== undefined) entry.id = rec.id;
  if (rec.replace === true) entry.replace = true;
  if (rec.upd) entry.update = rec.upd as UpdateDescription;
  if (rec.cmd) entry.cmd = rec.cmd as OplogCommand;
  return entry;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function writeAll(fd: number, data: Buffer): void {
  let off = 0;
  while (off < data.length) off += writeSync(fd, data, off);
}

export class Persistence implements JournalSink {
  readonly dir: string;
  readonly #engine: Engine;
  #fd: number | undefined;
  #pending: Buffer[] = [];
  #journalBytes = 0;
  #closed = false;

  private constructor(dir: string, engine: Engine) {
    this.dir = dir;
    this.#engine = engine;
  }

  get #journalPath(): string {
    return join(this.dir, 'journal.bson');
  }

  get #snapshotPath(): string {
    return join(this.dir, 'snapshot.bson');
  }

  get #lockPath(): string {
    return join(this.dir, 'mongod.lock');
  }

  /** Locks the directory, loads snapshot and journal into `engine`, and starts journaling. */
  static open(dir: string, engine: Engine): Persistence {
    mkdirSync(dir, { recursive: true });
    const p = new Persistence(dir, engine);
    p.#lock();
    try {
      const snapshotTs = p.#loadSnapshot();
      p.#replayJournal(snapshotTs);
      p.compact();
    } catch (err) {
      p.#unlock();
      throw err;
    }
    engine.journal = p;
    return p;
  }

  #lock(): void {
    if (existsSync(this.#lockPath)) {
      const pid = Number(readFileSync(this.#lockPath, 'utf8').trim());
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && processAlive(pid)) {
        throw new DbPathError(`dbpath ${this.dir} is in use by process ${pid} (${this.#lockPath})`);
      }
    }
    writeFileSync(this.#lockPath, `${process.pid}\n`);
  }

  #unlock(): void {
    rmSync(this.#lockPath, { force: true });
  }

  #loadSnapshot(): Ts {
    if (!existsSync(this.#snapshotPath)) return 0n;
    const reader = new RecordReader(readFileSync(this.#snapshotPath));
    const engine = this.#engine;
    const bad = (why: string): DbPathError =>
      new DbPathError(`${this.#snapshotPath} is damaged (${why}); restore it from a backup or remove the directory`);
    const meta = reader.record();
    if (!meta || meta.k !== 'meta' || meta.format !== FORMAT) throw new DbPathError(`${this.#snapshotPath} is not an emulator snapshot`);
    if (meta.version !== FORMAT_VERSION) throw new DbPathError(`${this.#snapshotPath}: unsupported format version ${String(meta.version)}`);
    const lastTs = fromTimestamp(meta.lastTs) ?? 0n;
    engine.clock.raiseFloor(fromTimestamp(meta.floor) ?? 0n);
    for (;;) {
      const rec = reader.record();
      if (!rec) throw bad('truncated');
      if (rec.k === 'end') break;
      if (rec.k === 'coll') {
        const coll = new Collection(rec.db as string, rec.name as string, new UUID((rec.ui as Binary).buffer), rec.options as Document);
        engine.catalog.add(coll);
        for (let i = 0; i < (rec.count as number); i++) {
          const raw = reader.raw();
          if (!raw) throw bad('truncated collection');
          coll.put(storedFrom(raw, 'snapshot document'));
        }
        for (const spec of rec.indexes as IndexSpec[]) coll.addIndex(spec);
      } else if (rec.k === 'o') {
        const e = decodeEntry(rec, reader);
        if (!e) throw bad('truncated oplog');
        if (e.doc) {
          // share the stored copy when the entry still describes the current document
          const current = engine.catalog.get(e.db, e.coll)?.docs.get(e.doc.idKey);
          if (current && Buffer.compare(current.raw, e.doc.raw) === 0) e.doc = current;
        }
        engine.oplog.append({ ...e, uuidPart: uuidTokenPart(e.uuid) });
        engine.clock.advanceTo(e.ts);
        engine.lastWrite = { ts: e.ts, wall: e.wall };
      } else {
        throw bad(`unknown record kind ${String(rec.k)}`);
      }
    }
    engine.clock.advanceTo(lastTs);
    return lastTs;
  }

  #replayJournal(after: Ts): void {
    if (!existsSync(this.#journalPath)) return;
    const buf = readFileSync(this.#journalPath);
    const reader = new RecordReader(buf);
    let good = 0;
    for (;;) {
      const rec = reader.record();
      if (!rec) break;
      const e = decodeEntry(rec, reader);
      if (!e) break;
      if (e.ts > after) this.#engine.replay(e);
      good = reader.pos;
    }
    if (good < buf.length) truncateSync(this.#journalPath, good); // torn tail of a killed process
  }

  record(entry: OplogEntry): void {
    if (this.#closed) return;
    this.#pending.push(...encodeEntry(entry));
  }

  /** Writes journaled entries to disk (called before a write is acknowledged). */
  flush(): void {
    if (this.#pending.length === 0 || this.#fd === undefined) return;
    const data = this.#pending.length === 1 ? this.#pending[0]! : Buffer.concat(this.#pending);
    this.#pending = [];
    writeAll(this.#fd, data);
    this.#journalBytes += data.length;
    if (this.#journalBytes > COMPACT_JOURNAL_BYTES) this.compact();
  }

  /** Writes a snapshot of the whole state and empties the journal. */
  compact(): void {
    this.#pending = []; // whatever was pending is part of the state the snapshot writes
    const tmp = `${this.#snapshotPath}.tmp`;
    const fd = openSync(tmp, 'w');
    try {
      let chunk: Buffer[] = [];
      let size = 0;
      const flushChunk = (): void => {
        writeAll(fd, Buffer.concat(chunk));
        chunk = [];
        size = 0;
      };
      const write = (b: Buffer): void => {
        chunk.push(b);
        size += b.length;
        if (size >= 4 * 1024 * 1024) flushChunk();
      };
      const engine = this.#engine;
      const meta = { k: 'meta', format: FORMAT, version: FORMAT_VERSION, lastTs: toTimestamp(engine.clock.latest), floor: toTimestamp(engine.clock.floor) };
      write(Buffer.from(BSON.serialize(meta)));
      for (const c of engine.catalog.all()) {
        const indexes = [...c.indexes.values()].filter((i) => i.name !== '_id_').map((i) => i.spec);
        const ui = new Binary(Buffer.from(c.uuid.buffer), Binary.SUBTYPE_UUID);
        write(Buffer.from(BSON.serialize({ k: 'coll', db: c.db, name: c.name, ui, options: c.options, indexes, count: c.docs.size })));
        for (const d of c.docs.values()) write(Buffer.from(d.raw));
      }
      for (const e of engine.oplog.entries()) for (const b of encodeEntry(e)) write(b);
      write(Buffer.from(BSON.serialize({ k: 'end' })));
      flushChunk();
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.#snapshotPath);
    try {
      const dirFd = openSync(this.dir, 'r');
      fsyncSync(dirFd);
      closeSync(dirFd);
    } catch {
      // directories cannot be fsynced on every platform
    }
    if (this.#fd !== undefined) closeSync(this.#fd);
    this.#fd = openSync(this.#journalPath, 'w');
    this.#journalBytes = 0;
  }

  /** Flushes, writes the final snapshot and releases the directory. */
  close(): void {
    if (this.#closed) return;
    this.flush();
    this.compact();
    this.#closed = true;
    if (this.#fd !== undefined) {
      closeSync(this.#fd);
      this.#fd = undefined;
    }
    this.#unlock();
  }
}
