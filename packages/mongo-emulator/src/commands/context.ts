/**
 * What a command handler sees (server state, connection, command document) and what it returns
 * (a reply document, or a cursor reply whose batch is already encoded), plus argument readers
 * that fail the way mongod's IDL parser does.
 */
import type { Document, ObjectId } from 'bson';
import type { Ts } from '../clock.js';
import type { BatchWriter, CursorRegistry } from '../cursors.js';
import type { Engine } from '../engine.js';
import { Code, CommandError, typeMismatch } from '../errors.js';
import type { FailPoints } from '../failpoints.js';
import type { ScanStats } from '../index-scan.js';
import type { RetryableWrites } from '../sessions.js';
import type { ServerVersion } from '../server-version.js';

export interface ServerConfig {
  host: string;
  port: number;
  /** Replica set name; undefined when running as a standalone mongod. */
  replSet: string | undefined;
  dbpath: string | undefined;
  oplogSize: number;
  /** Logical sessions (`--no-sessions` turns them off: hello has no logicalSessionTimeoutMinutes). */
  sessions: boolean;
  /** Change stream batches carry postBatchResumeToken (`--no-post-batch-resume-token` turns it off). */
  postBatchResumeToken: boolean;
  startedAt: Date;
  processId: ObjectId;
  argv: string[];
  /** The MongoDB release played (--server-version): version, wire version, operators. */
  serverVersion: ServerVersion;
}

export interface ServerState {
  readonly engine: Engine;
  readonly cursors: CursorRegistry;
  readonly failPoints: FailPoints;
  readonly retryableWrites: RetryableWrites;
  readonly config: ServerConfig;
  /** host:port as the replica set member names itself. */
  readonly me: string;
  readonly connections: { current: number; totalCreated: number };
  readonly opcounters: { insert: number; query: number; update: number; delete: number; getmore: number; command: number };
  /** serverStatus `metrics.queryExecutor`: index keys and documents examined by reads. */
  readonly queryExecutor: ScanStats;
  /** Aborted when the server shuts down. */
  readonly closing: AbortSignal;
}

export interface ConnectionState {
  readonly id: number;
  readonly remote: string;
  appName: string | undefined;
  /** Aborted when the socket closes. */
  readonly closed: AbortSignal;
}

export interface CommandContext {
  readonly server: ServerState;
  readonly conn: ConnectionState;
  readonly name: string;
  readonly cmd: Document;
  readonly db: string;
  /** OP_MSG document sequences (kind 1 sections), still encoded. */
  readonly sequences: Map<string, Buffer[]>;
  /** Hex of the session id (`lsid.id`), when the command runs in a session. */
  readonly lsid: string | undefined;
  /** Set by writes: the operationTime of the reply. */
  operationTime?: Ts;
}

/** A cursor reply: `{ cursor: { firstBatch|nextBatch, id, ns, postBatchResumeToken? } }`. */
export class CursorReply {
  constructor(
    readonly ns: string,
    readonly id: bigint,
    readonly batch: BatchWriter,
    readonly postBatchResumeToken?: string,
  ) {}
}

export type CommandResult = Document | CursorReply;
export type CommandHandler = (ctx: CommandContext) => CommandResult | Promise<CommandResult>;

export function isReplicaSet(ctx: CommandContext): boolean {
  return ctx.server.config.replSet !== undefined;
}

/** The collection named by the command's first field. */
export function collectionArg(ctx: CommandContext): string {
  const v = ctx.cmd[ctx.name];
  if (typeof v !== 'string') {
    throw new CommandError(
      Code.InvalidNamespace,
      `collection name has invalid type ${v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v}`,
    );
  }
  if (v.length === 0) throw new CommandError(Code.InvalidNamespace, `Invalid namespace specified '${ctx.db}.'`);
  return v;
}

export function optionalDocument(ctx: CommandContext, field: string): Document | undefined {
  const v = ctx.cmd[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'object' || Array.isArray(v) || (v as { _bsontype?: string })._bsontype) {
    throw typeMismatch(`${ctx.name}.${field}`, v, 'object');
  }
  return v as Document;
}

export function optionalNumber(ctx: CommandContext, field: string): number | undefined {
  const v = ctx.cmd[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'number') return v;
  if ((v as { _bsontype?: string })._bsontype === 'Long') return Number(v);
  throw typeMismatch(`${ctx.name}.${field}`, v, 'long');
}

export function optionalBool(ctx: CommandContext, field: string): boolean | undefined {
  const v = ctx.cmd[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'boolean') return v;
  if (typeof v === 'number') return v !== 0;
  throw typeMismatch(`${ctx.name}.${field}`, v, 'bool');
}

export function optionalArray(ctx: CommandContext, field: string): unknown[] | undefined {
  const v = ctx.cmd[field];
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v)) throw typeMismatch(`${ctx.name}.${field}`, v, 'array');
  return v;
}

/** Commands mongod only accepts on the admin database. */
export function requireAdmin(ctx: CommandContext): void {
  if (ctx.db !== 'admin') {
    throw new CommandError(Code.Unauthorized, `${ctx.name} may only be run against the admin database.`);
  }
}
