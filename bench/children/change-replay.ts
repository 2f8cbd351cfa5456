/**
 * The change-stream replay source of the ceiling benchmark (bench/ceiling.ts), in its own process:
 * a small MongoDB wire server that serves change streams from pre-recorded insert events as fast
 * as the socket takes them, so that the source is not what limits capture (the emulator, which
 * builds every event from its oplog, serves about 30-50k events/s; this serves several times more).
 *
 * It stands in front of a real server (the emulator): every command is forwarded to it byte for
 * byte (hello and the handshake, ping, the `jobs` checkpoints, the first start's queries), except
 *  - `aggregate` whose first stage is `$changeStream`: answered here with a new replay cursor
 *    (empty firstBatch, a postBatchResumeToken, operationTime);
 *  - `getMore` and `killCursors` of a replay cursor.
 * A replay cursor hands out the recording's first `serve` events in order, in batches of the
 * getMore's batchSize, each batch's postBatchResumeToken the token of its last event; then, like
 * an idle stream, it holds each getMore for its maxTimeMS (at most 1 s) and answers an empty
 * batch with a high-water-mark token. Before `go`, a getMore is held the same way, so the bench
 * opens its stream first and then starts the clock.
 *
 * The recording: `count` insert events of generated API-log documents (~400 bytes,
 * @cron-log-service/mongo-emulator/traffic, createdAt in [from, to)), laid out as mongod 6+
 * writes them (`_id` a KeyString resume token { _data } as the emulator makes them, operationType,
 * clusterTime, wallTime, fullDocument, ns, documentKey), encoded once at start. Each cursor's
 * events carry cluster times at the second after its aggregate (increments 1, 2, …): patched into
 * the copy of each event (clusterTime and the token's hex), so they come after the cluster time
 * the archiver read before opening its stream, as live events would.
 *
 * A wire server of its own rather than an emulator mode (or a library: no MongoDB server binary
 * can be had here, see DESIGN.md): the emulator's change streams run its oplog, its matcher and
 * its encoder for every event (a bare driver loop reads about 30,000-45,000 events/s from it, the
 * capture benchmark); replaying encoded events is a different program, and keeping it here leaves
 * the emulator unchanged. Measured by the ceiling benchmark: 1.5-2 µs of this process's CPU per
 * event served (its SourceCpuMicrosPerEvent, at load 10-17 on 2 cores), against 6-9 µs on the
 * archiver's main thread and 11-14 µs on the bare driver loop's. Clients connect with
 * directConnection=true (the emulator's hello lists its own address as the replica set member).
 *
 * argv[2]: JSON { upstream: "host:port", count, from, to, seed }.
 * stdout: "ready <mongodb uri>" once listening; "opened" each time a replay cursor opens; "ok"
 * after each stdin command. stdin lines: "serve <n>" (events per cursor from now on, ≤ count),
 * "go" (release the held and later cursors; "hold" holds new cursors again).
 */
import { createServer, connect } from 'node:net';
import type { Socket } from 'node:net';
import { createInterface } from 'node:readline';
import { BSON, Long, ObjectId, Timestamp } from 'bson';
import type { Document } from 'bson';
import { apiLogsBetween, rng } from '@cron-log-service/mongo-emulator/traffic';

const OP_MSG = 2013;
const args = JSON.parse(process.argv[2] ?? '') as { upstream: string; count: number; from: number; to: number; seed: number };
const [upHost = '127.0.0.1', upPort = '27017'] = args.upstream.split(':');

// ---- the recording ----------------------------------------------------------------------------

/** All events, encoded back to back; event i is store[starts[i], starts[i + 1]). */
let store: Buffer;
const starts = new Int32Array(args.count + 1);
/** Offset (in store) of each event's clusterTime seconds (uint32 LE) and of its token's 8 hex digits of seconds. */
const tsAt = new Int32Array(args.count);
const tokenHexAt = new Int32Array(args.count);
/** Offset of each event's token string value (int32 length, chars, NUL): the batch's postBatchResumeToken. */
const tokenAt = new Int32Array(args.count);

function hex8(n: number): string {
  return n.toString(16).toUpperCase().padStart(8, '0');
}

/** Like the emulator's eventToken (packages/mongo-emulator/src/resume-token.ts) for { operationType: 'insert', documentKey: { _id: ObjectId } }. */
function insertToken(seconds: number, increment: number, uuidHex: string, id: ObjectId): string {
  const opType = `${Buffer.from('insert').toString('hex').toUpperCase()}00`;
  const field = (name: string): string => `3C${Buffer.from(name).toString('hex').toUpperCase()}00`;
  return `82${hex8(seconds)}${hex8(increment)}2B042C0100296E5A1004${uuidHex}46${field('operationType')}${opType}${field('documentKey')}${field('_id')}64${id.toHexString().toUpperCase()}000004`;
}

function highWaterMark(seconds: number, increment: number): string {
  return `82${hex8(seconds)}${hex8(increment)}2B0429296E1404`;
}

/** Where the top-level members of a BSON document start (key → value offset). */
function memberOffsets(b: Buffer, at: number): Map<string, number> {
  const out = new Map<string, number>();
  const end = at + b.readInt32LE(at) - 1;
  let i = at + 4;
  while (i < end) {
    const type = b[i] as number;
    const keyEnd = b.indexOf(0, i + 1);
    const key = b.toString('latin1', i + 1, keyEnd);
    const v = keyEnd + 1;
    out.set(key, v);
    if (type === 0x03 || type === 0x04) i = v + b.readInt32LE(v);
    else if (type === 0x02) i = v + 4 + b.readInt32LE(v);
    else if (type === 0x11 || type === 0x09 || type === 0x12 || type === 0x01) i = v + 8;
    else if (type === 0x07) i = v + 12;
    else if (type === 0x10) i = v + 4;
    else if (type === 0x08) i = v + 1;
    else if (type === 0x0a) i = v;
    else throw new Error(`change-replay: unexpected BSON type ${type} at the top level of an event`);
  }
  return out;
}

function record(): void {
  const docs = apiLogsBetween(rng(args.seed), args.count, args.from, args.to);
  const uuidHex = Buffer.from(new ObjectId().id).toString('hex').toUpperCase().padEnd(32, '0');
  const parts: Buffer[] = [];
  let size = 0;
  for (let i = 0; i < docs.length; i++) {
    const doc = docs[i] as Document & { _id: ObjectId; createdAt: Date };
    const event = {
      _id: { _data: insertToken(0, i + 1, uuidHex, doc._id) },
      operationType: 'insert',
      clusterTime: new Timestamp({ t: 0, i: i + 1 }),
      wallTime: doc.createdAt,
      fullDocument: doc,
      ns: { db: 'replay', coll: 'apilogs' },
      documentKey: { _id: doc._id },
    };
    const bytes = Buffer.from(BSON.serialize(event));
    const m = memberOffsets(bytes, 0);
    // _id: { _data: "82<seconds><increment>…" }: int32 size, 0x02 "_data\0", int32 length, chars.
    const idAt = m.get('_id') as number;
    const token = size + idAt + 4 + 1 + 6;
    tokenAt[i] = token;
    tokenHexAt[i] = token + 4 + 2;
    tsAt[i] = size + (m.get('clusterTime') as number) + 4;
    starts[i] = size;
    parts.push(bytes);
    size += bytes.length;
  }
  starts[docs.length] = size;
  store = Buffer.concat(parts, size);
}

// ---- replay cursors -------------------------------------------------------------------------

interface ReplayCursor {
  id: number;
  ns: string;
  limit: number;
  next: number;
  /** Cluster time seconds of its events, as 8 hex digits (ASCII) and as a number. */
  seconds: number;
  secondsHex: Buffer;
  released: boolean;
  /** A getMore held (before go, or once the recording is used up). */
  held: { socket: Socket; requestId: number; batchSize: number; timer: NodeJS.Timeout } | undefined;
}

const cursors = new Map<number, ReplayCursor>();
let nextCursorId = 1_000_001;
let serve = args.count;
let released = false;

function keyBytes(i: number): number {
  return i < 10 ? 1 : i < 100 ? 2 : i < 1000 ? 3 : i < 10000 ? 4 : i < 100000 ? 5 : String(i).length;
}

/** The OP_MSG reply to a getMore: events [from, to) of the recording, patched for the cursor. */
function batchReply(c: ReplayCursor, requestId: number, from: number, to: number): Buffer {
  const ns = Buffer.from(c.ns);
  const pbrt = to > from ? undefined : Buffer.from(highWaterMark(c.seconds, from + 1));
  let arraySize = 5;
  for (let i = from; i < to; i++) arraySize += 2 + keyBytes(i - from) + ((starts[i + 1] as number) - (starts[i] as number));
  const tokenLen = pbrt !== undefined ? pbrt.length : store.readInt32LE(tokenAt[to - 1] as number) - 1;
  const tokenDoc = 4 + 1 + 6 + 4 + tokenLen + 1 + 1;
  const cursorDoc = 4 + (1 + 10 + arraySize) + (1 + 3 + 8) + (1 + 3 + 4 + ns.length + 1) + (1 + 21 + tokenDoc) + 1;
  const body = 4 + (1 + 7 + cursorDoc) + (1 + 3 + 8) + 1;
  const total = 16 + 4 + 1 + body;
  const b = Buffer.allocUnsafe(total);
  let p = 0;
  /** A member's type byte and key; with `size`, the int32 that starts its value. */
  const member = (type: number, key: string, size?: number): void => {
    b[p++] = type;
    p += b.write(key, p, 'latin1');
    b[p++] = 0;
    if (size !== undefined) {
      b.writeInt32LE(size, p);
      p += 4;
    }
  };
  b.writeInt32LE(total, 0);
  b.writeInt32LE(0, 4);
  b.writeInt32LE(requestId, 8);
  b.writeInt32LE(OP_MSG, 12);
  b.writeUInt32LE(0, 16);
  b[20] = 0;
  p = 21;
  b.writeInt32LE(body, p);
  p += 4;
  member(0x03, 'cursor', cursorDoc);
  member(0x04, 'nextBatch', arraySize);
  for (let i = from; i < to; i++) {
    member(0x03, String(i - from));
    const s = starts[i] as number;
    const at = p;
    p += store.copy(b, p, s, starts[i + 1] as number);
    b.writeUInt32LE(c.seconds, at + (tsAt[i] as number) - s);
    c.secondsHex.copy(b, at + (tokenHexAt[i] as number) - s);
  }
  b[p++] = 0;
  member(0x12, 'id');
  b.writeBigInt64LE(BigInt(c.id), p);
  p += 8;
  member(0x02, 'ns', ns.length + 1);
  p += ns.copy(b, p);
  b[p++] = 0;
  member(0x03, 'postBatchResumeToken', tokenDoc);
  member(0x02, '_data', tokenLen + 1);
  if (pbrt !== undefined) p += pbrt.copy(b, p);
  else {
    const t = tokenAt[to - 1] as number;
    p += store.copy(b, p, t + 4, t + 4 + tokenLen);
    c.secondsHex.copy(b, p - tokenLen + 2);
  }
  b[p++] = 0;
  b[p++] = 0;
  b[p++] = 0;
  member(0x01, 'ok');
  b.writeDoubleLE(1, p);
  p += 8;
  b[p++] = 0;
  if (p !== total) throw new Error(`change-replay: reply size ${p} != ${total}`);
  return b;
}

function reply(socket: Socket, requestId: number, doc: Document): void {
  const body = BSON.serialize(doc);
  const head = Buffer.alloc(21);
  head.writeInt32LE(21 + body.length, 0);
  head.writeInt32LE(0, 4);
  head.writeInt32LE(requestId, 8);
  head.writeInt32LE(OP_MSG, 12);
  socket.write(Buffer.concat([head, body]));
}

function answerGetMore(c: ReplayCursor, socket: Socket, requestId: number, batchSize: number, maxTimeMS: number): void {
  if (c.released && c.next < c.limit) {
    const to = Math.min(c.limit, c.next + batchSize);
    const b = batchReply(c, requestId, c.next, to);
    c.next = to;
    socket.write(b);
    return;
  }
  const timer = setTimeout(() => {
    c.held = undefined;
    socket.write(batchReply(c, requestId, c.next, c.next));
  }, Math.min(maxTimeMS, 1000));
  c.held = { socket, requestId, batchSize, timer };
}

function release(c: ReplayCursor): void {
  c.released = true;
  const h = c.held;
  if (h === undefined) return;
  clearTimeout(h.timer);
  c.held = undefined;
  answerGetMore(c, h.socket, h.requestId, h.batchSize, 1000);
}

/** Answers a replay command; false when the command is the upstream server's. */
function intercept(socket: Socket, requestId: number, cmd: Document): boolean {
  if (cmd.aggregate !== undefined) {
    const first = (cmd.pipeline as Document[] | undefined)?.[0];
    if (first?.$changeStream === undefined) return false;
    const seconds = Math.floor(Date.now() / 1000) + 1;
    const c: ReplayCursor = {
      id: nextCursorId++,
      ns: `${String(cmd.$db)}.${String(cmd.aggregate)}`,
      limit: serve,
      next: 0,
      seconds,
      secondsHex: Buffer.from(hex8(seconds), 'latin1'),
      released,
      held: undefined,
    };
    cursors.set(c.id, c);
    reply(socket, requestId, {
      cursor: { firstBatch: [], postBatchResumeToken: { _data: highWaterMark(seconds, 0) }, id: Long.fromNumber(c.id), ns: c.ns },
      operationTime: new Timestamp({ t: seconds, i: 0 }),
      ok: 1,
    });
    process.stdout.write('opened\n');
    return true;
  }
  if (cmd.getMore !== undefined) {
    const c = cursors.get(Number(cmd.getMore));
    if (c === undefined) return false;
    answerGetMore(c, socket, requestId, typeof cmd.batchSize === 'number' ? cmd.batchSize : 101, typeof cmd.maxTimeMS === 'number' ? cmd.maxTimeMS : 1000);
    return true;
  }
  if (cmd.killCursors !== undefined) {
    const ids = ((cmd.cursors as unknown[] | undefined) ?? []).map(Number);
    if (!ids.some((id) => cursors.has(id))) return false;
    for (const id of ids) {
      const c = cursors.get(id);
      if (c?.held) clearTimeout(c.held.timer);
      cursors.delete(id);
    }
    reply(socket, requestId, { cursorsKilled: ids.map((id) => Long.fromNumber(id)), cursorsNotFound: [], cursorsAlive: [], cursorsUnknown: [], ok: 1 });
    return true;
  }
  return false;
}

const INTERCEPTED = new Set(['aggregate', 'getMore', 'killCursors']);

/** The command name of an OP_MSG whose first section is the body (kind 0), else ''. */
function commandName(msg: Buffer): string {
  if (msg.readInt32LE(12) !== OP_MSG || msg[20] !== 0) return '';
  const keyEnd = msg.indexOf(0, 26);
  return keyEnd < 0 ? '' : msg.toString('latin1', 26, keyEnd);
}

function onConnection(client: Socket): void {
  client.setNoDelay(true);
  let upstream: Socket | undefined;
  let pending: Buffer[] = [];
  let length = 0;
  const forward = (msg: Buffer): void => {
    if (upstream === undefined) {
      const up = connect(Number(upPort), upHost);
      up.setNoDelay(true);
      up.on('data', (d) => client.write(d));
      up.on('error', () => client.destroy());
      up.on('close', () => client.destroy());
      upstream = up;
    }
    upstream.write(msg);
  };
  client.on('data', (chunk: Buffer) => {
    pending.push(chunk);
    length += chunk.length;
    while (length >= 4) {
      const all = pending.length === 1 ? (pending[0] as Buffer) : Buffer.concat(pending);
      const size = all.readInt32LE(0);
      if (length < size) {
        pending = [all];
        break;
      }
      const msg = all.subarray(0, size);
      pending = size < all.length ? [all.subarray(size)] : [];
      length -= size;
      const name = commandName(msg);
      if (INTERCEPTED.has(name)) {
        const cmd = BSON.deserialize(msg.subarray(21));
        if (intercept(client, msg.readInt32LE(4), cmd)) continue;
      }
      forward(msg);
    }
  });
  client.on('error', () => upstream?.destroy());
  client.on('close', () => {
    upstream?.destroy();
    for (const c of cursors.values()) {
      if (c.held?.socket !== client) continue;
      clearTimeout(c.held.timer);
      c.held = undefined;
    }
  });
}

record();
const server = createServer(onConnection);
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('change-replay: no port');
  process.stdout.write(`ready mongodb://127.0.0.1:${address.port}/?directConnection=true\n`);
});

for await (const line of createInterface({ input: process.stdin })) {
  const [cmd, n] = line.trim().split(/\s+/);
  if (cmd === 'serve') serve = Math.min(args.count, Number(n));
  else if (cmd === 'go') {
    released = true;
    for (const c of cursors.values()) release(c);
  } else if (cmd === 'hold') released = false;
  process.stdout.write('ok\n');
}
server.close();
for (const c of cursors.values()) if (c.held) clearTimeout(c.held.timer);
process.exit(0);
