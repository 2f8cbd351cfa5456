/**
 * Administrative commands: ping, serverStatus, replSetGetStatus, getParameter, getCmdLineOpts,
 * dbStats, collStats, sessions, connectionStatus, hostInfo, whatsmyuri, configureFailPoint.
 */
import { hostname, cpus, totalmem } from 'node:os';
import { Long, Timestamp } from 'bson';
import type { Document } from 'bson';
import { toTimestamp } from '../clock.js';
import { Code, CommandError } from '../errors.js';
import { collectionArg, isReplicaSet, requireAdmin } from './context.js';
import type { CommandContext, CommandResult } from './context.js';
import { featureCompatibilityVersion } from '../server-version.js';
import { ELECTION_ID } from './handshake.js';

export function pingCommand(): CommandResult {
  return {};
}

function optime(ctx: CommandContext): { opTime: Document; wall: Date } {
  const last = ctx.server.engine.lastWrite;
  return { opTime: { ts: toTimestamp(last.ts), t: Long.fromNumber(1) }, wall: new Date(last.wall) };
}

export function serverStatusCommand(ctx: CommandContext): CommandResult {
  const { config, connections, opcounters, engine, cursors, me, queryExecutor } = ctx.server;
  const uptimeMs = Date.now() - config.startedAt.getTime();
  const mem = process.memoryUsage();
  const reply: Document = {
    host: hostname(),
    version: config.serverVersion.version,
    process: 'mongod',
    pid: Long.fromNumber(process.pid),
    uptime: Math.floor(uptimeMs / 1000),
    uptimeMillis: Long.fromNumber(uptimeMs),
    uptimeEstimate: Long.fromNumber(Math.floor(uptimeMs / 1000)),
    localTime: new Date(),
    connections: {
      current: connections.current,
      available: 838860 - connections.current,
      totalCreated: connections.totalCreated,
      active: connections.current,
    },
    opcounters: { ...opcounters },
    storageEngine: { name: 'emulator', supportsCommittedReads: true, persistent: config.dbpath !== undefined },
    mem: { bits: 64, resident: Math.round(mem.rss / 1048576), virtual: Math.round(mem.rss / 1048576), supported: true },
    metrics: {
      cursor: { open: { total: Long.fromNumber(cursors.size) } },
      queryExecutor: {
        scanned: Long.fromNumber(queryExecutor.scanned),
        scannedObjects: Long.fromNumber(queryExecutor.scannedObjects),
        collectionScans: { total: Long.fromNumber(queryExecutor.collectionScans), nonTailable: Long.fromNumber(queryExecutor.collectionScans) },
      },
    },
  };
  if (isReplicaSet(ctx)) {
    const { opTime, wall } = optime(ctx);
    reply.repl = {
      topologyVersion: { processId: config.processId, counter: Long.fromNumber(0) },
      hosts: [me],
      setName: config.replSet,
      setVersion: 1,
      isWritablePrimary: true,
      secondary: false,
      primary: me,
      me,
      electionId: ELECTION_ID,
      lastWrite: { opTime, lastWriteDate: wall, majorityOpTime: opTime, majorityWriteDate: wall },
      rbid: 1,
    };
    const first = engine.oplog.first;
    const last = engine.oplog.last;
    reply.oplogTruncation = {
      totalTimeProcessingMicros: Long.fromNumber(0),
      processingMethod: 'scanning',
      oplogEntries: engine.oplog.size,
      oplogMaxEntries: engine.oplog.maxEntries,
      firstTs: first ? toTimestamp(first.ts) : new Timestamp({ t: 0, i: 0 }),
      lastTs: last ? toTimestamp(last.ts) : new Timestamp({ t: 0, i: 0 }),
    };
  }
  return reply;
}

export function replSetGetStatusCommand(ctx: CommandContext): CommandResult {
  requireAdmin(ctx);
  if (!isReplicaSet(ctx)) throw new CommandError(Code.NoReplicationEnabled, 'not running with --replSet');
  const { config, me } = ctx.server;
  const { opTime, wall } = optime(ctx);
  const uptime = Math.floor((Date.now() - config.startedAt.getTime()) / 1000);
  const electionTime = new Timestamp({ t: Math.floor(config.startedAt.getTime() / 1000), i: 1 });
  return {
    set: config.replSet,
    date: new Date(),
    myState: 1,
    term: Long.fromNumber(1),
    syncSourceHost: '',
    syncSourceId: -1,
    heartbeatIntervalMillis: Long.fromNumber(2000),
    majorityVoteCount: 1,
    writeMajorityCount: 1,
    votingMembersCount: 1,
    writableVotingMembersCount: 1,
    optimes: {
      lastCommittedOpTime: opTime,
      lastCommittedWallTime: wall,
      readConcernMajorityOpTime: opTime,
      appliedOpTime: opTime,
      durableOpTime: opTime,
      lastAppliedWallTime: wall,
      lastDurableWallTime: wall,
    },
    members: [
      {
        _id: 0,
        name: me,
        health: 1,
        state: 1,
        stateStr: 'PRIMARY',
        uptime,
        optime: opTime,
        optimeDate: wall,
        lastAppliedWallTime: wall,
        lastDurableWallTime: wall,
        syncSourceHost: '',
        syncSourceId: -1,
        infoMessage: '',
        electionTime,
        electionDate: config.startedAt,
        configVersion: 1,
        configTerm: 1,
        self: true,
        lastHeartbeatMessage: '',
      },
    ],
  };
}

function parameters(ctx: CommandContext): Document {
  return {
    featureCompatibilityVersion: { version: featureCompatibilityVersion(ctx.server.config.serverVersion) },
    ttlMonitorEnabled: true,
    ttlMonitorSleepSecs: 60,
    logLevel: 0,
    enableTestCommands: true,
    cursorTimeoutMillis: Long.fromNumber(600000),
    maxOplogEntries: ctx.server.config.oplogSize,
  };
}

export function getParameterCommand(ctx: CommandContext): CommandResult {
  requireAdmin(ctx);
  const all = parameters(ctx);
  if (ctx.cmd.getParameter === '*' || (ctx.cmd.getParameter as Document | null)?.allParameters === true) return all;
  const out: Document = {};
  for (const k of Object.keys(ctx.cmd)) {
    if (k === 'getParameter' || k.startsWith('$') || k === 'lsid' || k === 'comment') continue;
    if (!(k in all)) continue;
    out[k] = all[k];
  }
  if (Object.keys(out).length === 0) throw new CommandError(Code.InvalidOptions, 'no option found to get');
  return out;
}

export function getCmdLineOptsCommand(ctx: CommandContext): CommandResult {
  requireAdmin(ctx);
  const { config } = ctx.server;
  const parsed: Document = { net: { bindIp: config.host, port: config.port } };
  if (config.replSet !== undefined) parsed.replication = { replSet: config.replSet, maxOplogEntries: config.oplogSize };
  if (config.dbpath !== undefined) parsed.storage = { dbPath: config.dbpath };
  return { argv: config.argv, parsed };
}

function sessionIds(ctx: CommandContext, field: string): Set<string> {
  const list = ctx.cmd[field];
  const out = new Set<string>();
  if (!Array.isArray(list)) return out;
  for (const s of list) {
    const id = (s as Document | null)?.id as { buffer?: Uint8Array } | undefined;
    if (id?.buffer) out.add(Buffer.from(id.buffer).toString('hex'));
  }
  return out;
}

/** endSessions: the sessions expire; their remembered retryable writes are dropped. */
export function endSessionsCommand(ctx: CommandContext): CommandResult {
  ctx.server.retryableWrites.endSessions(sessionIds(ctx, 'endSessions'));
  return {};
}

/** killSessions: kills the cursors of the listed sessions. */
export function killSessionsCommand(ctx: CommandContext): CommandResult {
  ctx.server.cursors.killSessions(sessionIds(ctx, 'killSessions'));
  return {};
}

/** killAllSessions: kills the cursors of every session (the user filter is not narrowed). */
export function killAllSessionsCommand(ctx: CommandContext): CommandResult {
  ctx.server.cursors.killSessions();
  return {};
}

/** refreshSessions: sessions never expire on the emulator, so there is nothing to extend. */
export function refreshSessionsCommand(): CommandResult {
  return {};
}

export function connectionStatusCommand(): CommandResult {
  return { authInfo: { authenticatedUsers: [], authenticatedUserRoles: [] } };
}

export function whatsmyuriCommand(ctx: CommandContext): CommandResult {
  return { you: ctx.conn.remote };
}

export function hostInfoCommand(): CommandResult {
  return {
    system: {
      currentTime: new Date(),
      hostname: hostname(),
      cpuAddrSize: 64,
      memSizeMB: Long.fromNumber(Math.round(totalmem() / 1048576)),
      numCores: cpus().length,
      cpuArch: process.arch,
    },
    os: { type: process.platform === 'linux' ? 'Linux' : process.platform, name: process.platform },
    extra: {},
  };
}

export function dbStatsCommand(ctx: CommandContext): CommandResult {
  const colls = ctx.server.engine.catalog.collections(ctx.db);
  const objects = colls.reduce((s, c) => s + c.docs.size, 0);
  const dataSize = colls.reduce((s, c) => s + c.dataSize, 0);
  const indexes = colls.reduce((s, c) => s + c.indexes.size, 0);
  return {
    db: ctx.db,
    collections: colls.length,
    views: 0,
    objects,
    avgObjSize: objects > 0 ? dataSize / objects : 0,
    dataSize,
    storageSize: dataSize,
    indexes,
    indexSize: 0,
    totalSize: dataSize,
    scaleFactor: 1,
  };
}

export function collStatsCommand(ctx: CommandContext): CommandResult {
  const name = collectionArg(ctx);
  const { engine } = ctx.server;
  if (ctx.db === 'local' && name === 'oplog.rs' && isReplicaSet(ctx)) {
    return { ns: 'local.oplog.rs', count: engine.oplog.size, capped: true, max: engine.oplog.maxEntries, nindexes: 0 };
  }
  const coll = engine.collection(ctx.db, name);
  if (!coll) throw new CommandError(Code.NamespaceNotFound, `Collection [${ctx.db}.${name}] not found.`);
  const indexSizes: Document = {};
  for (const n of coll.indexes.keys()) indexSizes[n] = 0;
  return {
    ns: coll.ns,
    size: coll.dataSize,
    count: coll.docs.size,
    avgObjSize: coll.docs.size > 0 ? coll.dataSize / coll.docs.size : 0,
    storageSize: coll.dataSize,
    capped: false,
    nindexes: coll.indexes.size,
    totalIndexSize: 0,
    indexSizes,
  };
}

export function configureFailPointCommand(ctx: CommandContext): CommandResult {
  requireAdmin(ctx);
  return ctx.server.failPoints.configure(ctx.cmd);
}

export function transactionCommand(ctx: CommandContext): CommandResult {
  throw new CommandError(
    Code.OperationNotSupportedInTransaction,
    `${ctx.name}: transactions are not supported by the cron-log-service MongoDB emulator`,
  );
}

export function saslStartCommand(): CommandResult {
  throw new CommandError(
    18,
    'Authentication failed: the cron-log-service MongoDB emulator runs without access control; connect without credentials',
  );
}
