/**
 * The lines of one spool file waiting for the next flush. They are copied as UTF-8 into slabs of
 * about 1 MiB, and each full slab is compressed right away, on libuv's thread pool, into a gzip
 * member of its own. So:
 *  - a line's string is garbage as soon as it is copied (it dies young instead of surviving until
 *    the flush and being promoted to V8's old generation);
 *  - what waits for the flush is mostly compressed (about 1/7 of the lines' bytes), and the
 *    compression runs while capture goes on instead of all at the flush;
 *  - a flush compresses only the last, partial slab and writes the members in order.
 * Deflate looks back 32 KiB at most, so 1 MiB members compress as well as one large member.
 *
 * Burst level: when capture outruns compression (BURST_QUEUE members or more of the spool are
 * still being compressed as the next one starts), or while capture is catching up (`catchingUp`,
 * set by the tailer: its change stream's last batch came back full, so the server holds more
 * events than a batch), the next members are compressed at the pool's burst level
 * (GZIP_BURST_LEVEL, default 2) instead of GZIP_LEVEL, until the queue drains and capture has
 * caught up. Each
 * member is a complete gzip member of its own, so a file of members at both levels is the same
 * valid multi-member gzip with the same lines; only its size changes. On the API-log documents
 * of the benchmarks (~395 bytes a line, 1 MiB members), level 1 takes 1.34-1.42 CPU-µs a line
 * against 3.11-3.27 at level 6 (best of 15 rounds, load 11 on 2 cores) and writes 64.5 bytes a
 * line against 52.3 (+23 %); level 2 takes the same time as level 1 and writes 60.9 bytes (+16 %),
 * so it is the default (2026-12-07, best of 15 interleaved rounds at load 14: level 1 1.33 µs,
 * 2 1.34, 3 1.56, 5 2.42, 6 2.99; 64.5, 60.9, 58.5, 53.7, 52.3 bytes a line).
 *
 * When the spool records facts, each slab's lines' facts (see line-facts.ts) are collected
 * too, for that slab's member, with the BSON type summary of its documents (type-summary.ts):
 * from the BSON bytes (`appendBson`) or the decoded document (`append` with the document). A
 * line appended without its document makes the member's types unknown (never guessed).
 */
import type { BsonLineWriter } from './bson-lines.js';
import { int32 } from '../bson/elements.js';
import { MAX_JSON_BYTES_PER_BSON_BYTE } from './bson-lines.js';
import type { MemberFacts } from './facts-file.js';
import { gzipMember } from './gzip-members.js';
import { HashList, lineFacts, lineFactsAt, memberKeyBytes } from './line-facts.js';
import type { LineFactsAt } from './line-facts.js';
import type { PartTypes } from './type-summary.js';
import { TypeTree, unknownTypes } from './type-summary.js';

/** Lines are compressed in members of about this many bytes. */
export const SLAB_BYTES = 1024 * 1024;

/**
 * Members of the pool still being compressed as the next one starts from which that one is
 * compressed at the burst level (see the header): with 2, a member waits behind at least two.
 */
export const BURST_QUEUE = 2;

/**
 * Slabs handed back after their compression, reused by the next ones; the compressions running
 * (shared by every file of a spool) and the level of the next member.
 */
export class SlabPool {
  private readonly free: Buffer[] = [];
  /** Compressions running (or queued on the thread pool), oldest first. */
  readonly compressing = new Set<Promise<unknown>>();
  /** Members compressed at the burst level so far. */
  burstMembers = 0;
  /**
   * Capture is catching up (the tailer's change stream returned a full batch last): members
   * start at the burst level whatever the queue (see the header).
   */
  catchingUp = false;
  /**
   * @param burstLevel gzip level of members started while BURST_QUEUE or more are being
   *   compressed, when lower than the file's level; undefined, or a level at or above the
   *   file's, compresses every member at the file's level.
   */
  constructor(
    private readonly burstLevel?: number,
    private readonly max = 4,
  ) {}

  /** The level of the member starting now, for a file compressed at `level`. */
  levelFor(level: number): number {
    const burst = this.burstLevel;
    if (burst === undefined || burst >= level || (!this.catchingUp && this.compressing.size < BURST_QUEUE)) return level;
    this.burstMembers++;
    return burst;
  }
  take(min: number): Buffer {
    if (min <= SLAB_BYTES) return this.free.pop() ?? Buffer.allocUnsafeSlow(SLAB_BYTES);
    return Buffer.allocUnsafeSlow(min);
  }
  give(buf: Buffer): void {
    if (buf.length === SLAB_BYTES && this.free.length < this.max) this.free.push(buf);
  }
}

/** One compressed slab: a complete gzip member. */
export interface CompressedMember {
  member: Buffer;
  lines: number;
  /** Uncompressed bytes of its lines. */
  bytes: number;
  facts: MemberFacts | undefined;
}

/** Everything taken by a flush: members in append order (compressed, or being compressed). */
export interface TakenLines {
  members: Array<Promise<CompressedMember>>;
  lines: number;
  bytes: number;
}

export class PendingLines {
  private slab: Buffer | undefined;
  private used = 0;
  private count = 0;
  private hashes: HashList | undefined;
  private first: string | undefined;
  private last: string | undefined;
  private types: TypeTree | undefined;
  /** Why the current slab's types are not known (a line appended without its document). */
  private typesUnknown: string | undefined;
  private members: Array<Promise<CompressedMember>> = [];
  private takenLines = 0;
  private takenBytes = 0;

  /** `"field"` as bytes when the timestamp is a top-level field lineFactsAt can find (see there). */
  private readonly timestampKey: Uint8Array | undefined;
  private readonly at: LineFactsAt = { keyFrom: 0, keyTo: 0, tsAt: 0 };

  /**
   * @param timestampPath the timestamp field's path when facts are recorded, else undefined.
   */
  constructor(
    private readonly pool: SlabPool,
    private readonly gzipLevel: number,
    private timestampPath: readonly string[] | undefined,
  ) {
    const field = timestampPath?.length === 1 ? timestampPath[0] : undefined;
    // (An `_id` timestamp, or a name JSON escapes, is left to lineFacts.)
    this.timestampKey = field !== undefined && field !== '_id' && /^[\x20-\x7e]+$/.test(field) && JSON.stringify(field) === `"${field}"` ? memberKeyBytes(field) : undefined;
  }

  /** Lines appended since the last take. */
  get lines(): number {
    return this.takenLines + this.count;
  }

  /** Whether facts are still being recorded for this file. */
  get recordsFacts(): boolean {
    return this.timestampPath !== undefined;
  }

  /** Stops recording facts (the file's sidecar cannot be completed any more). */
  stopFacts(): void {
    this.timestampPath = undefined;
    this.hashes = undefined;
    this.types = undefined;
  }

  /**
   * Appends one line (without newline). Returns the bytes it took. `doc`: the document the line
   * was encoded from, decoded with `promoteValues: false` (its types are recorded); without it,
   * the types of the member are unknown.
   */
  append(line: string, doc?: object): number {
    const worst = line.length * 3 + 1;
    if (this.slab && this.slab.length - this.used < worst) this.compressSlab();
    const slab = (this.slab ??= this.pool.take(worst));
    const n = slab.write(line, this.used, 'utf8');
    slab[this.used + n] = 10;
    this.used += n + 1;
    this.count++;
    if (this.timestampPath) {
      this.addFacts(line, this.timestampPath);
      if (doc === undefined) this.typesUnknown ??= 'a line was spooled without its BSON document';
      else (this.types ??= new TypeTree()).recordDocument(doc);
    }
    if (this.used >= SLAB_BYTES) this.compressSlab();
    return n + 1;
  }

  /**
   * Appends the JSON line `writer` writes for the BSON document at `src[at]`, straight into the
   * slab. Returns the bytes it took, or -1 (nothing appended) when the writer leaves that
   * document to the caller.
   */
  appendBson(src: Uint8Array, at: number, writer: BsonLineWriter): number {
    const size = int32(src, at);
    // Room for the usual line (JSON is rarely more than twice its BSON); a line that does not fit
    // (the writer's writes past the end are dropped, and it returns where it would have ended) is
    // written again into a slab with room for the worst case.
    let room = Math.min(size * 2 + 64, size * MAX_JSON_BYTES_PER_BSON_BYTE + 1);
    let end: number;
    let slab: Buffer;
    for (;;) {
      if (this.slab && this.slab.length - this.used < room + 1) this.compressSlab();
      slab = this.slab ??= this.pool.take(room + 1);
      end = writer.write(src, at, slab, this.used, this.timestampPath ? (this.types ??= new TypeTree()) : undefined);
      if (end < 0) return -1;
      if (end < slab.length) break;
      room = size * MAX_JSON_BYTES_PER_BSON_BYTE + 1;
      if (this.count > 0) {
        this.compressSlab();
      } else {
        this.pool.give(slab);
        this.slab = undefined;
      }
    }
    slab[end] = 10;
    const n = end + 1 - this.used;
    if (this.timestampPath) {
      writer.commitTypes();
      const key = this.timestampKey;
      if (key !== undefined && lineFactsAt(slab, this.used, end, key, this.at)) this.addFactsAt(slab, this.at);
      else this.addFacts(slab.toString('utf8', this.used, end), this.timestampPath);
    }
    this.used += n;
    this.count++;
    if (this.used >= SLAB_BYTES) this.compressSlab();
    return n;
  }

  /**
   * The facts of a line read from its bytes (see lineFactsAt): the same hash and timestamp as
   * `addFacts` of its text, without decoding the line into a string.
   */
  private addFactsAt(b: Buffer, at: LineFactsAt): void {
    (this.hashes ??= new HashList()).pushAsciiKey(b, at.keyFrom, at.keyTo);
    const ts = b.toString('latin1', at.tsAt, at.tsAt + 24);
    if (this.first === undefined || ts < this.first) this.first = ts;
    if (this.last === undefined || ts > this.last) this.last = ts;
  }

  private addFacts(line: string, path: readonly string[]): void {
    let facts;
    try {
      facts = lineFacts(line, path);
    } catch {
      // Not JSON (never written by our encoders): the seal decodes this file instead.
      this.stopFacts();
      return;
    }
    (this.hashes ??= new HashList()).pushKey(facts.key);
    const ts = facts.ts;
    if (ts !== undefined) {
      if (this.first === undefined || ts < this.first) this.first = ts;
      if (this.last === undefined || ts > this.last) this.last = ts;
    }
  }

  /** Starts compressing the current slab into a member; the next line starts a new slab. */
  private compressSlab(): void {
    const slab = this.slab;
    if (!slab || this.count === 0) return;
    const lines = this.count;
    const bytes = this.used;
    const facts: MemberFacts | undefined = this.timestampPath
      ? { lines, hashes: this.hashes?.bytes() ?? new Uint8Array(0), first: this.first, last: this.last, types: this.memberTypes() }
      : undefined;
    const member = gzipMember(slab.subarray(0, bytes), this.pool.levelFor(this.gzipLevel)).then((m) => {
      this.pool.give(slab);
      return { member: m, lines, bytes, facts };
    });
    // Awaited by the flush that takes it; never an unhandled rejection meanwhile.
    const settled: Promise<unknown> = member.then(
      (): boolean => this.pool.compressing.delete(settled),
      (): boolean => this.pool.compressing.delete(settled),
    );
    this.pool.compressing.add(settled);
    this.members.push(member);
    this.takenLines += lines;
    this.takenBytes += bytes;
    this.slab = undefined;
    this.used = 0;
    this.count = 0;
    this.hashes = undefined;
    this.first = undefined;
    this.last = undefined;
    this.types = undefined;
    this.typesUnknown = undefined;
  }

  private memberTypes(): PartTypes {
    if (this.typesUnknown !== undefined) return unknownTypes(this.typesUnknown);
    return (this.types ?? new TypeTree()).summary();
  }

  /** Takes every pending line (as members) for a flush; the file starts an empty batch. */
  take(): TakenLines | undefined {
    this.compressSlab();
    if (this.members.length === 0) return undefined;
    const out: TakenLines = { members: this.members, lines: this.takenLines, bytes: this.takenBytes };
    this.members = [];
    this.takenLines = 0;
    this.takenBytes = 0;
    return out;
  }
}
