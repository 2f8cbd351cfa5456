/**
 * The TCP server: accepts connections, frames wire messages, runs commands one at a time per
 * connection, applies the `failCommand` fail point, remembers retryable writes, and encodes
 * replies with `$clusterTime` and `operationTime` (replica set mode), as mongod does.
 */
import { createServer } from 'node:net';
import type { Server, Socket } from 'node:net';
import { BSON, Binary, Double, Long, ObjectId } from 'bson';
import type { Document } from 'bson';
import { toTimestamp } from './clock.js';
import { keepDecodedDocuments } from './stored-doc.js';
import { CursorReply } from './commands/context.js';
import type { CommandContext, ConnectionState, ServerConfig, ServerState } from './commands/context.js';
import { commands } from './commands/index.js';
import { isAwaitableHello } from './commands/handshake.js';
import { CursorRegistry } from './cursors.js';
import { Engine } from './engine.js';
import { Code, CommandError, codeNameOf, serverErrorLabels } from './errors.js';
import { FailPoints } from './failpoints.js';
import { Persistence } from './persistence.js';
import { DEFAULT_SERVER_VERSION, SERVER_VERSIONS, serverVersionOf } from './server-version.js';
import { RetryableWrites, isRetryableWrite, sessionIdOf } from './sessions.js';
import {
  MessageReader,
  OP_MSG,
  OP_QUERY,
  encodeOpMsg,
  encodeOpReply,
  parseOpMsg,
  parseOpQuery,
} from './wire.js';
import type { RawMessage } from './wire.js';

export interface EmulatorOptions {
  /** TCP port; 0 (the default) picks a free one. */
  port?: number;
  /** Interface to listen on (default 127.0.0.1). */
  host?: string;
  /** Replica set name (default rs0). Ignored with `standalone`. */
  replSet?: string;
  /** Present as a standalone mongod: no replica set, no change streams. */
  standalone?: boolean;
  /** Directory for persistence; data, indexes and oplog survive restarts. */
  dbpath?: string;
  /** Maximum number of oplog entries; the oldest fall off (default 1,000,000). */
  oplogSize?: number;
  /** Seconds between TTL index passes (mongod's ttlMonitorSleepSecs, default 60). */
  ttlMonitorSleepSecs?: number;
  /**
   * Play a server without logical sessions: hello has no logicalSessionTimeoutMinutes (drivers
   * then report that the topology does not support sessions) and commands carrying an `lsid`
   * are refused.
   */
  noSessions?: boolean;
  /** Play a server whose change stream batches carry no postBatchResumeToken. */
  noPostBatchResumeToken?: boolean;
  /** Reads do not keep the documents they decode (stored-doc.ts): for collections of millions. */
  leanDocuments?: boolean;
  /** Command line reported by getCmdLineOpts. */
  argv?: string[];
  /**
   * The MongoDB release to play: '4.2', '4.4', '5.0', '6.0', '7.0' or '8.0' (the default). It
   * sets the reported version and wire version, and operators newer than it are refused.
   */
  serverVersion?: string;
}

export interface EmulatorStats {
  connections: number;
  cursors: number;
  oplogEntries: number;
  oplogMaxEntries: number;
}

export interface EmulatorHandle {
  /** Connection string, e.g. mongodb://127.0.0.1:27017/?replicaSet=rs0 */
  readonly uri: string;
  readonly host: string;
  readonly port: number;
  /** Undefined in standalone mode. */
  readonly replSet: string | undefined;
  readonly dbpath: string | undefined;
  stats(): EmulatorStats;
  /** Stops listening, closes connections, and writes the snapshot when persistent. Idempotent. */
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

export const DEFAULT_OPLOG_SIZE = 1_000_000;
const CURSOR_REAP_INTERVAL_MS = 60_000;
const ZERO_HASH = new Binary(Buffer.alloc(20), 0);
const KEY_ID = Long.fromNumber(0);

/** The commands of logical sessions, which a server without sessions does not have. */
const SESSION_COMMANDS = new Set([
  'startSession', 'endSessions', 'refreshSessions', 'killSessions', 'killAllSessions', 'killAllSessionsByPattern',
  'refreshLogicalSessionCacheNow',
]);

function noSessions(command: string): CommandError {
  return new CommandError(
    Code.IllegalOperation,
    `${command}: this server does not support logical sessions (the emulator runs with --no-sessions); run the command without an lsid`,
  );
}

/** Host as written in a connection string and a replica set member name. */
function advertisedHost(host: string): string {
  if (host === '0.0.0.0' || host === '::' || host === '') return '127.0.0.1';
  return host.includes(':') ? `[${host}]` : host;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

interface Outcome {
  /** Encoded reply document; undefined when the connection must be closed instead. */
  reply: Uint8Array | undefined;
}

class EmulatorServer {
  readonly state: ServerState;
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  readonly #closing = new AbortController();
  readonly #persistence: Persistence | undefined;
  readonly #timers: NodeJS.Timeout[] = [];
  #requestId = 0;
  #connectionId = 0;
  #closePromise: Promise<void> | undefined;

  constructor(engine: Engine, config: ServerConfig, persistence: Persistence | undefined) {
    this.#persistence = persistence;
    this.state = {
      engine,
      cursors: new CursorRegistry(),
      failPoints: new FailPoints(),
      retryableWrites: new RetryableWrites(),
      config,
      me: `${advertisedHost(config.host)}:${config.port}`,
      connections: { current: 0, totalCreated: 0 },
      opcounters: { insert: 0, query: 0, update: 0, delete: 0, getmore: 0, command: 0 },
      queryExecutor: { scanned: 0, scannedObjects: 0, collectionScans: 0 },
      closing: this.#closing.signal,
    };
    this.#server = createServer((socket) => this.#onConnection(socket));
  }

  listen(): Promise<number> {
    const { host, port } = this.state.config;
    return new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(port, host, () => {
        this.#server.off('error', reject);
        // Accept errors (e.g. too many open files) must not crash the process; clients retry.
        this.#server.on('error', (err) => process.emitWarning(`mongo emulator: ${err.message}`));
        const addr = this.#server.address();
        if (!addr || typeof addr === 'string') return reject(new Error('server has no TCP address'));
        resolve(addr.port);
      });
    });
  }

  /** Starts the background work: idle cursor reaping and the TTL monitor. */
  startTimers(ttlSeconds: number): void {
    const reap = setInterval(() => this.state.cursors.reapIdle(), CURSOR_REAP_INTERVAL_MS);
    reap.unref();
    this.#timers.push(reap);
    if (ttlSeconds > 0) {
      const ttl = setInterval(() => {
        try {
          if (this.state.engine.expireTtl() > 0) this.#persistence?.flush();
        } catch (err) {
          process.emitWarning(`mongo emulator: TTL monitor pass failed: ${err instanceof Error ? err.message : String(err)}`);
        }
      }, ttlSeconds * 1000);
      ttl.unref();
      this.#timers.push(ttl);
    }
  }

  #onConnection(socket: Socket): void {
    if (this.#closing.signal.aborted) {
      socket.destroy();
      return;
    }
    socket.setNoDelay(true);
    this.#sockets.add(socket);
    const closed = new AbortController();
    const conn: ConnectionState = {
      id: ++this.#connectionId,
      remote: `${socket.remoteAddress ?? ''}:${socket.remotePort ?? 0}`,
      appName: undefined,
      closed: closed.signal,
    };
    this.state.connections.current++;
    this.state.connections.totalCreated++;
    const reader = new MessageReader();
    let queue = Promise.resolve();
    socket.on('data', (chunk: Buffer) => {
      let messages: RawMessage[];
      try {
        messages = reader.push(chunk);
      } catch {
        socket.destroy();
        return;
      }
      for (const msg of messages) {
        queue = queue
          .then(() => (closed.signal.aborted ? undefined : this.#onMessage(conn, socket, msg)))
          .catch(() => {
            socket.destroy();
          });
      }
    });
    socket.on('error', () => socket.destroy());
    socket.on('close', () => {
      closed.abort();
      this.#sockets.delete(socket);
      this.state.connections.current--;
    });
  }

  #send(socket: Socket, parts: Buffer[]): void {
    if (socket.destroyed) return;
    for (const p of parts) socket.write(p);
  }

  #nextRequestId(): number {
    this.#requestId = (this.#requestId + 1) & 0x7fffffff;
    return this.#requestId;
  }

  async #onMessage(conn: ConnectionState, socket: Socket, msg: RawMessage): Promise<void> {
    if (msg.opCode === OP_MSG) {
      const req = parseOpMsg(msg);
      const db = req.body.$db;
      let outcome: Outcome;
      if (typeof db !== 'string') {
        outcome = { reply: this.#errorReply(new CommandError(40571, 'OP_MSG requests require a $db argument')) };
      } else {
        outcome = await this.#execute(conn, db, req.body, req.sequences);
      }
      if (outcome.reply === undefined) {
        socket.destroy();
        return;
      }
      const name = Object.keys(req.body)[0] ?? '';
      const exhaust = req.exhaustAllowed && (name === 'hello' || name.toLowerCase() === 'ismaster') && isAwaitableHello(req.body);
      if (req.moreToCome && !exhaust) return;
      this.#send(socket, encodeOpMsg(this.#nextRequestId(), req.requestId, outcome.reply, exhaust));
      // Exhaust (streaming monitoring): keep answering the awaitable hello until the client hangs up.
      while (exhaust && !conn.closed.aborted && !this.#closing.signal.aborted) {
        const next = await this.#execute(conn, db as string, req.body, req.sequences);
        if (!next.reply || conn.closed.aborted) break;
        this.#send(socket, encodeOpMsg(this.#nextRequestId(), req.requestId, next.reply, true));
      }
      return;
    }
    if (msg.opCode === OP_QUERY) {
      const q = parseOpQuery(msg);
      const body = (q.query.$query as Document | undefined) ?? q.query;
      const name = Object.keys(body)[0] ?? '';
      let reply: Uint8Array | undefined;
      if (!q.collection.endsWith('.$cmd')) {
        reply = this.#errorReply(new CommandError(352, 'Unsupported OP_QUERY find. The client driver may require an upgrade.'));
      } else if (name !== 'isMaster' && name !== 'ismaster' && name !== 'hello') {
        reply = this.#errorReply(
          new CommandError(352, `Unsupported OP_QUERY command: ${name}. The client driver may require an upgrade.`),
        );
      } else {
        reply = (await this.#execute(conn, q.collection.slice(0, -'.$cmd'.length), body, new Map())).reply;
      }
      if (!reply) {
        socket.destroy();
        return;
      }
      this.#send(socket, encodeOpReply(this.#nextRequestId(), q.requestId, reply));
      return;
    }
    // OP_COMPRESSED is never negotiated; legacy opcodes are gone from current servers.
    socket.destroy();
  }

  async #execute(conn: ConnectionState, db: string, cmd: Document, sequences: Map<string, Buffer[]>): Promise<Outcome> {
    const name = Object.keys(cmd)[0] ?? '';
    const lsid = sessionIdOf(cmd);
    const ctx: CommandContext = { server: this.state, conn, name, cmd, db, sequences, lsid };
    const { failPoints, retryableWrites } = this.state;
    let writeConcernError: Document | undefined;
    let forcedLabels: string[] | undefined;
    // An error failCommand raised: mongod raises it before it knows whether the command reads a
    // change stream, so it never labels it ResumableChangeStreamError (only data.errorLabels).
    let injected = false;
    try {
      const handler = commands.get(name);
      if (!handler) throw new CommandError(Code.CommandNotFound, `no such command: '${name}'`);
      if (!this.state.config.sessions && (lsid !== undefined || SESSION_COMMANDS.has(name))) throw noSessions(name);
      if (cmd.startTransaction === true || cmd.autocommit === false) {
        // Not IllegalOperation (20): the driver rewrites that code into a retryable-writes hint.
        throw new CommandError(
          Code.OperationNotSupportedInTransaction,
          'Transactions are not supported by the cron-log-service MongoDB emulator (startTransaction / autocommit:false); nothing was written',
        );
      }
      if (failPoints.active && name !== 'configureFailPoint') {
        const target = cmd[name];
        const fp = failPoints.evaluate(name, conn.appName, typeof target === 'string' ? `${db}.${target}` : `${db}.$cmd`);
        if (fp) {
          if (fp.blockConnection) await sleep(fp.blockTimeMS ?? 0, AbortSignal.any([conn.closed, this.#closing.signal]));
          if (fp.closeConnection) return { reply: undefined };
          forcedLabels = fp.errorLabels;
          if (fp.errorCode !== undefined) {
            injected = true;
            throw new CommandError(fp.errorCode, "Failing command via 'failCommand' failpoint", {
              ...(fp.errorLabels ? { labels: fp.errorLabels } : {}),
              ...(fp.errorExtraInfo ? { extra: fp.errorExtraInfo } : {}),
            });
          }
          writeConcernError = fp.writeConcernError;
        }
      }
      if (!['insert', 'update', 'delete', 'find', 'getMore'].includes(name)) this.state.opcounters.command++;
      const retryKey = lsid && isRetryableWrite(name, cmd) ? RetryableWrites.key(lsid, cmd) : undefined;
      const remembered = retryKey ? retryableWrites.get(retryKey) : undefined;
      let result = remembered ?? (await commands.get(name)!(ctx));
      if (retryKey && !remembered && !(result instanceof CursorReply)) retryableWrites.remember(retryKey, result);
      this.#persistence?.flush();
      if (writeConcernError && !(result instanceof CursorReply)) result = { ...result, writeConcernError };
      return { reply: this.#okReply(ctx, result) };
    } catch (err) {
      this.#persistence?.flush();
      const error = err instanceof CommandError ? err : new CommandError(Code.InternalError, err instanceof Error ? err.message : String(err));
      const labels =
        error.labels ??
        forcedLabels ??
        serverErrorLabels({
          code: error.code,
          commandName: name,
          isRetryableWrite: isRetryableWrite(name, cmd),
          isChangeStream: !injected && this.#isChangeStreamCommand(name, cmd),
          hasWriteConcernError: false,
        });
      return { reply: this.#errorReply(error, labels, ctx) };
    }
  }

  #isChangeStreamCommand(name: string, cmd: Document): boolean {
    if (name === 'aggregate') {
      const first = (cmd.pipeline as Document[] | undefined)?.[0];
      return !!first && typeof first === 'object' && '$changeStream' in first;
    }
    if (name === 'getMore') {
      const id = cmd.getMore;
      const big = typeof id === 'number' ? BigInt(id) : id instanceof Long ? id.toBigInt() : undefined;
      return big !== undefined && this.state.cursors.get(big)?.isChangeStream === true;
    }
    return false;
  }

  #timeFields(ctx: CommandContext | undefined): Document {
    if (this.state.config.replSet === undefined) return {};
    const { engine } = this.state;
    return {
      $clusterTime: { clusterTime: toTimestamp(engine.clock.latest), signature: { hash: ZERO_HASH, keyId: KEY_ID } },
      operationTime: toTimestamp(ctx?.operationTime ?? engine.lastWrite.ts),
    };
  }

  #okReply(ctx: CommandContext, result: Document | CursorReply): Uint8Array {
    if (!(result instanceof CursorReply)) {
      return BSON.serialize({ ...result, ok: new Double(1), ...this.#timeFields(ctx) });
    }
    const w = result.batch.writer;
    w.end(); // the batch array
    if (result.postBatchResumeToken !== undefined && this.state.config.postBatchResumeToken) {
      w.startObject('postBatchResumeToken').asciiString('_data', result.postBatchResumeToken).end();
    }
    w.int64('id', result.id);
    w.string('ns', result.ns);
    w.end();
    w.double('ok', 1);
    const time = this.#timeFields(ctx);
    for (const [k, v] of Object.entries(time)) w.value(k, v);
    return w.end().finish();
  }

  #errorReply(error: CommandError, labels: string[] = [], ctx?: CommandContext): Uint8Array {
    const reply: Document = {
      ok: new Double(0),
      errmsg: error.message,
      code: error.code,
      codeName: error.codeName || codeNameOf(error.code),
      ...(error.extra ?? {}),
    };
    if (labels.length > 0) reply.errorLabels = labels;
    return BSON.serialize({ ...reply, ...this.#timeFields(ctx) });
  }

  close(): Promise<void> {
    this.#closePromise ??= (async () => {
      this.#closing.abort();
      for (const t of this.#timers) clearInterval(t);
      const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
      for (const s of this.#sockets) s.destroy();
      this.state.engine.oplog.releaseAll();
      this.state.cursors.killAll();
      await closed;
      this.#persistence?.close();
    })();
    return this.#closePromise;
  }
}

/** Starts an emulator; resolves once it listens. */
export async function startEmulator(options: EmulatorOptions = {}): Promise<EmulatorHandle> {
  const host = options.host ?? '127.0.0.1';
  const standalone = options.standalone === true;
  const replSet = standalone ? undefined : (options.replSet ?? 'rs0');
  const oplogSize = options.oplogSize ?? DEFAULT_OPLOG_SIZE;
  if (!Number.isSafeInteger(oplogSize) || oplogSize < 1) throw new RangeError('oplogSize must be a positive integer');
  if (replSet !== undefined && !/^[A-Za-z0-9_.-]+$/.test(replSet)) throw new RangeError(`invalid replica set name: ${replSet}`);
  const serverVersion = options.serverVersion === undefined ? DEFAULT_SERVER_VERSION : serverVersionOf(options.serverVersion);
  if (!serverVersion) throw new RangeError(`serverVersion must be one of ${SERVER_VERSIONS.join(', ')}, got '${options.serverVersion}'`);
  if (options.leanDocuments === true) keepDecodedDocuments(false);
  const engine = new Engine(oplogSize);
  const persistence = options.dbpath !== undefined ? Persistence.open(options.dbpath, engine) : undefined;
  if (engine.oplog.size === 0) {
    engine.noop('initiating set');
    persistence?.flush();
  }
  const config: ServerConfig = {
    host,
    port: options.port ?? 0,
    replSet,
    dbpath: options.dbpath,
    oplogSize,
    sessions: options.noSessions !== true,
    postBatchResumeToken: options.noPostBatchResumeToken !== true,
    startedAt: new Date(),
    processId: new ObjectId(),
    argv: options.argv ?? [],
    serverVersion,
  };
  const server = new EmulatorServer(engine, config, persistence);
  let port: number;
  try {
    port = await server.listen();
  } catch (err) {
    persistence?.close();
    throw err;
  }
  config.port = port;
  (server.state as { me: string }).me = `${advertisedHost(host)}:${port}`;
  server.startTimers(options.ttlMonitorSleepSecs ?? 60);
  const uriHost = `${advertisedHost(host)}:${port}`;
  const uri = replSet !== undefined ? `mongodb://${uriHost}/?replicaSet=${encodeURIComponent(replSet)}` : `mongodb://${uriHost}/`;
  const close = (): Promise<void> => server.close();
  return {
    uri,
    host,
    port,
    replSet,
    dbpath: options.dbpath,
    stats: () => ({
      connections: server.state.connections.current,
      cursors: server.state.cursors.size,
      oplogEntries: engine.oplog.size,
      oplogMaxEntries: engine.oplog.maxEntries,
    }),
    close,
    [Symbol.asyncDispose]: close,
  };
}
