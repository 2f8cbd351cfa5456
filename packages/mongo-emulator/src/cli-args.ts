/**
 * Command line of the `mongo-emulator` command: flags, their validation, the help text and the
 * exit codes.
 */
import { SERVER_VERSIONS, serverVersionOf } from './server-version.js';
import { DEFAULT_OPLOG_SIZE } from './server.js';
import type { EmulatorOptions } from './server.js';

export const USAGE = `Usage: mongo-emulator [options]

Starts the cron-log-service MongoDB emulator: a server speaking the MongoDB wire protocol
that the official driver sees as the primary of a one-member replica set (change streams,
resume tokens, oplog, failCommand fail point). When it listens it prints one line on stdout,
its connection string, e.g. mongodb://127.0.0.1:27017/?replicaSet=rs0
SIGTERM and SIGINT shut it down cleanly (with --dbpath, after writing its data).

Options:
  --port N          TCP port to listen on; 0 picks a free port (default 27017)
  --host HOST       interface to listen on (default 127.0.0.1)
  --repl-set NAME   replica set name reported to clients (default rs0)
  --dbpath DIR      keep data, indexes and oplog in DIR: they survive a restart, so
                    change stream resume tokens stay valid (default: in memory only)
  --oplog-size N    the oplog keeps at most N entries, the oldest fall off like a capped
                    oplog; resuming before the oldest fails with ChangeStreamHistoryLost
                    (default ${DEFAULT_OPLOG_SIZE})
  --standalone      present a standalone mongod instead: no replica set, change streams
                    fail with code 40573 like on a real standalone
  --server-version V
                    play MongoDB V (${SERVER_VERSIONS.join(', ')}; default 8.0): report its
                    version and wire version, refuse aggregation stages and operators it
                    lacks (e.g. $dateTrunc before 5.0) with mongod's errors
  --no-sessions     play a server without logical sessions: hello reports no
                    logicalSessionTimeoutMinutes, so drivers see a topology without
                    sessions; commands carrying an lsid are refused
  --no-post-batch-resume-token
                    play a server whose change stream batches carry no
                    postBatchResumeToken (as before MongoDB 4.0.7): a client's resume
                    token only moves with the events it receives
  --lean-documents  reads do not keep the documents they decode: about 1.1 KB a stored
                    document instead of several, for collections of millions (repeated
                    scans decode again)
  -h, --help        show this help and exit

Exit codes: 0 after a clean shutdown, 2 for bad flags, 3 when the server cannot start
(port in use, dbpath locked or unreadable).`;

/** Exit code for bad flags (as the archiver's CLI: 2). */
export const EXIT_BAD_FLAGS = 2;
/** Exit code when the server cannot start: port in use, dbpath locked or unreadable (3). */
export const EXIT_CANNOT_START = 3;

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export type CliCommand = { kind: 'help' } | { kind: 'run'; options: EmulatorOptions };

function integer(flag: string, value: string, min: number, max: number): number {
  if (!/^\d+$/.test(value)) throw new UsageError(`${flag} must be an integer between ${min} and ${max}, got '${value}'`);
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new UsageError(`${flag} must be an integer between ${min} and ${max}, got '${value}'`);
  }
  return n;
}

/** Flags without a value, and the option each turns on. */
const SWITCHES = new Map<string, (o: EmulatorOptions) => void>([
  ['--standalone', (o) => (o.standalone = true)],
  ['--no-sessions', (o) => (o.noSessions = true)],
  ['--no-post-batch-resume-token', (o) => (o.noPostBatchResumeToken = true)],
  ['--lean-documents', (o) => (o.leanDocuments = true)],
]);

const VALUE_FLAGS = new Set(['--port', '--host', '--repl-set', '--dbpath', '--oplog-size', '--server-version']);

export function parseCli(argv: string[]): CliCommand {
  const options: EmulatorOptions = { port: 27017, argv: ['mongo-emulator', ...argv] };
  const seen = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '-h' || arg === '--help') return { kind: 'help' };
    const eq = arg.startsWith('--') ? arg.indexOf('=') : -1;
    const flag = eq > 0 ? arg.slice(0, eq) : arg;
    const set = SWITCHES.get(flag);
    if (set !== undefined) {
      if (eq > 0) throw new UsageError(`${flag} takes no value`);
      set(options);
      seen.add(flag);
      continue;
    }
    if (!VALUE_FLAGS.has(flag)) {
      throw new UsageError(arg.startsWith('-') ? `unknown flag ${flag}` : `unexpected argument '${arg}'`);
    }
    if (seen.has(flag)) throw new UsageError(`${flag} given more than once`);
    seen.add(flag);
    let value: string | undefined;
    if (eq > 0) value = arg.slice(eq + 1);
    else {
      value = argv[i + 1];
      if (value === undefined || (value.startsWith('--') && value.length > 2)) throw new UsageError(`${flag} needs a value`);
      i++;
    }
    if (value.length === 0) throw new UsageError(`${flag} needs a value`);
    switch (flag) {
      case '--port':
        options.port = integer(flag, value, 0, 65535);
        break;
      case '--host':
        options.host = value;
        break;
      case '--repl-set':
        if (!/^[A-Za-z0-9_.-]+$/.test(value)) {
          throw new UsageError(`--repl-set must contain only letters, digits, '.', '_' and '-', got '${value}'`);
        }
        options.replSet = value;
        break;
      case '--dbpath':
        options.dbpath = value;
        break;
      case '--oplog-size':
        options.oplogSize = integer(flag, value, 1, Number.MAX_SAFE_INTEGER);
        break;
      case '--server-version':
        if (!serverVersionOf(value)) throw new UsageError(`--server-version must be one of ${SERVER_VERSIONS.join(', ')}, got '${value}'`);
        options.serverVersion = value;
        break;
    }
  }
  if (options.standalone && seen.has('--repl-set')) throw new UsageError('--repl-set and --standalone cannot be used together');
  return { kind: 'run', options };
}
