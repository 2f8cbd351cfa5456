/**
 * The handshake: `hello` and legacy `isMaster`, answering as the writable primary of a
 * one-member replica set (or as a standalone), including the awaitable form drivers use to
 * stream server monitoring (topologyVersion + maxAwaitTimeMS).
 */
import { Long, ObjectId } from 'bson';
import type { Document } from 'bson';
import { toTimestamp } from '../clock.js';
import { Code, CommandError } from '../errors.js';
import { versionArray } from '../server-version.js';
import type { CommandContext, CommandResult } from './context.js';

export const ELECTION_ID = new ObjectId('7fffffff0000000000000001');
const TOPOLOGY_COUNTER = Long.fromNumber(0);

function helloFields(ctx: CommandContext, legacy: boolean): Document {
  const { config, me, engine } = ctx.server;
  const reply: Document = { topologyVersion: { processId: config.processId, counter: TOPOLOGY_COUNTER } };
  if (config.replSet !== undefined) {
    reply.hosts = [me];
    reply.setName = config.replSet;
    reply.setVersion = 1;
  }
  if (legacy) reply.ismaster = true;
  else reply.isWritablePrimary = true;
  reply.secondary = false;
  if (config.replSet !== undefined) {
    const last = engine.lastWrite;
    const opTime = { ts: toTimestamp(last.ts), t: Long.fromNumber(1) };
    const wall = new Date(last.wall);
    reply.primary = me;
    reply.me = me;
    reply.electionId = ELECTION_ID;
    reply.lastWrite = { opTime, lastWriteDate: wall, majorityOpTime: opTime, majorityWriteDate: wall };
  }
  reply.maxBsonObjectSize = 16 * 1024 * 1024;
  reply.maxMessageSizeBytes = 48_000_000;
  reply.maxWriteBatchSize = 100_000;
  reply.localTime = new Date();
  // Drivers take a hello without it to mean that the deployment does not support sessions.
  if (config.sessions) reply.logicalSessionTimeoutMinutes = 30;
  reply.connectionId = ctx.conn.id;
  reply.minWireVersion = 0;
  reply.maxWireVersion = ctx.server.config.serverVersion.wireVersion;
  reply.readOnly = false;
  if (ctx.cmd.helloOk === true) reply.helloOk = true;
  return reply;
}

function recordClientMetadata(ctx: CommandContext): void {
  const client = ctx.cmd.client as Document | undefined;
  const app = (client?.application as Document | undefined)?.name;
  if (typeof app === 'string') ctx.conn.appName = app;
}

/** An awaitable hello waits while the client's topologyVersion is current. */
export function isAwaitableHello(cmd: Document): boolean {
  return cmd.topologyVersion !== undefined && cmd.maxAwaitTimeMS !== undefined;
}

async function awaitTopologyChange(ctx: CommandContext): Promise<void> {
  const tv = ctx.cmd.topologyVersion as Document | undefined;
  const processId = tv?.processId;
  const current = processId instanceof ObjectId && processId.equals(ctx.server.config.processId);
  if (!current) return;
  const ms = Number(ctx.cmd.maxAwaitTimeMS);
  if (!Number.isFinite(ms) || ms < 0) throw new CommandError(Code.BadValue, 'maxAwaitTimeMS must be a non-negative integer');
  const signal = AbortSignal.any([ctx.conn.closed, ctx.server.closing]);
  if (signal.aborted) return;
  await new Promise<void>((resolve) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

export async function helloCommand(ctx: CommandContext): Promise<CommandResult> {
  recordClientMetadata(ctx);
  if (isAwaitableHello(ctx.cmd)) await awaitTopologyChange(ctx);
  return helloFields(ctx, false);
}

export async function isMasterCommand(ctx: CommandContext): Promise<CommandResult> {
  recordClientMetadata(ctx);
  if (isAwaitableHello(ctx.cmd)) await awaitTopologyChange(ctx);
  return helloFields(ctx, true);
}

export function buildInfoCommand(ctx: CommandContext): CommandResult {
  const release = ctx.server.config.serverVersion;
  return {
    version: release.version,
    gitVersion: 'cron-log-service-emulator',
    modules: [],
    allocator: 'system',
    javascriptEngine: 'none',
    sysInfo: 'deprecated',
    versionArray: versionArray(release),
    openssl: { running: 'disabled', compiled: 'disabled' },
    buildEnvironment: { target_os: process.platform, target_arch: process.arch },
    bits: 64,
    debug: false,
    maxBsonObjectSize: 16 * 1024 * 1024,
    storageEngines: ['emulator'],
  };
}
