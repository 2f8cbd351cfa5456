/**
 * The MongoDB of a test, for the emulator's conformance suite and for the tests of its users.
 * With MONGODB_URI set, tests use that real replica set (each test works in its own database:
 * `uniqueDbName()`); otherwise every call starts the emulator in-process on a free port. Also the
 * helpers of the `failCommand` fail point, which the emulator and mongod both serve.
 *
 * Emulator-only features (a tiny oplog, restarting on a dbpath, standalone mode) have no
 * equivalent on a shared real server; tests that need them pass `needsEmulator` as their
 * `skip` option, so they are skipped, not failed, against a real server:
 *
 *   test('history lost', { skip: needsEmulator }, async () => { ... });
 */
import { randomBytes } from 'node:crypto';
import type { Document, MongoClient } from 'mongodb';
import { startEmulator } from './server.js';
import type { EmulatorHandle } from './server.js';

/** The real replica set under test, if any. */
export const realMongoUri: string | undefined = process.env.MONGODB_URI?.trim() || undefined;

/** True when the tests run against the emulator. */
export const usingEmulator: boolean = realMongoUri === undefined;

/** Which emulator-only features are available in this run. */
export const emulatorFeatures = Object.freeze({
  /** `oplogSize`: a small capped oplog, to provoke ChangeStreamHistoryLost. */
  smallOplog: usingEmulator,
  /** `dbpath`: persistence across a restart of the server. */
  restartWithDbpath: usingEmulator,
  /** `standalone`: a server without replica set. */
  standalone: usingEmulator,
  /** `ttlMonitorSleepSecs`: a faster TTL monitor. */
  fastTtlMonitor: usingEmulator,
  /** `serverVersion`: an older MongoDB release (e.g. 4.4). */
  serverVersion: usingEmulator,
  /** `noSessions`: a server without logical sessions. */
  noSessions: usingEmulator,
  /** `noPostBatchResumeToken`: change stream batches without postBatchResumeToken. */
  noPostBatchResumeToken: usingEmulator,
});

/** `skip` value for tests that need emulator-only features: a reason, or false. */
export const needsEmulator: string | false = usingEmulator
  ? false
  : 'needs the MongoDB emulator (MONGODB_URI points at a real server)';

/**
 * `skip` value naming the emulator feature a test needs (e.g. '--oplog-size'): false with the
 * emulator, a reason against a real server.
 */
export function emulatorOnly(feature: string): string | false {
  return usingEmulator ? false : `needs the MongoDB emulator's ${feature} (MONGODB_URI points at a real server)`;
}

export interface TestMongoOptions {
  /** Emulator only: keep at most this many oplog entries. */
  oplogSize?: number;
  /** Emulator only: present a standalone mongod. */
  standalone?: boolean;
  /** Emulator only: persist to this directory. */
  dbpath?: string;
  /** Emulator only: replica set name (default rs0). */
  replSet?: string;
  /** Emulator only: seconds between TTL monitor passes (mongod default 60). */
  ttlMonitorSleepSecs?: number;
  /** Emulator only: the MongoDB release to play, e.g. '4.4' (default 8.0). */
  serverVersion?: string;
  /** Emulator only: a server without logical sessions (`--no-sessions`). */
  noSessions?: boolean;
  /** Emulator only: change stream batches without postBatchResumeToken (`--no-post-batch-resume-token`). */
  noPostBatchResumeToken?: boolean;
}

export interface TestMongo {
  /** Connection string for the official driver. */
  readonly uri: string;
  /** The in-process emulator, when the tests run against it. */
  readonly emulator?: EmulatorHandle;
  readonly isEmulator: boolean;
  /** Stops the emulator (no-op for a real server). Idempotent. */
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * A MongoDB for one test file: the real replica set of MONGODB_URI, or a fresh emulator.
 * Asking for emulator-only options against a real server throws; guard such tests with
 * `needsEmulator`.
 */
export async function startTestMongo(opts: TestMongoOptions = {}): Promise<TestMongo> {
  if (realMongoUri !== undefined) {
    const emulatorOnly = (Object.keys(opts) as (keyof TestMongoOptions)[]).filter((k) => opts[k] !== undefined);
    if (emulatorOnly.length > 0) {
      throw new Error(`startTestMongo: ${emulatorOnly.join(', ')} need the emulator; skip this test with needsEmulator`);
    }
    const close = async (): Promise<void> => {};
    return { uri: realMongoUri, isEmulator: false, close, [Symbol.asyncDispose]: close };
  }
  const emulator = await startEmulator({
    port: 0,
    ...(opts.oplogSize !== undefined ? { oplogSize: opts.oplogSize } : {}),
    ...(opts.standalone !== undefined ? { standalone: opts.standalone } : {}),
    ...(opts.dbpath !== undefined ? { dbpath: opts.dbpath } : {}),
    ...(opts.replSet !== undefined ? { replSet: opts.replSet } : {}),
    ...(opts.ttlMonitorSleepSecs !== undefined ? { ttlMonitorSleepSecs: opts.ttlMonitorSleepSecs } : {}),
    ...(opts.serverVersion !== undefined ? { serverVersion: opts.serverVersion } : {}),
    ...(opts.noSessions !== undefined ? { noSessions: opts.noSessions } : {}),
    ...(opts.noPostBatchResumeToken !== undefined ? { noPostBatchResumeToken: opts.noPostBatchResumeToken } : {}),
  });
  const close = (): Promise<void> => emulator.close();
  return { uri: emulator.uri, emulator, isEmulator: true, close, [Symbol.asyncDispose]: close };
}

/** A kind of server the emulator plays: its startTestMongo options and its command-line flags. */
export interface EmulatorProfile {
  readonly options: Readonly<TestMongoOptions>;
  readonly flags: readonly string[];
  readonly description: string;
}

/**
 * The servers the emulator plays, by name (the compatibility matrix runs the same tests against
 * each). 'replica-set' is also what a real server of MONGODB_URI is; the others need the emulator.
 */
export const EMULATOR_PROFILES = Object.freeze({
  'replica-set': { options: {}, flags: [], description: 'the primary of a one-member replica set (the default)' },
  standalone: { options: { standalone: true }, flags: ['--standalone'], description: 'a standalone mongod: no replica set, no change streams' },
  'no-sessions': {
    options: { noSessions: true },
    flags: ['--no-sessions'],
    description: 'a replica set without logical sessions (hello has no logicalSessionTimeoutMinutes)',
  },
  'no-post-batch-resume-token': {
    options: { noPostBatchResumeToken: true },
    flags: ['--no-post-batch-resume-token'],
    description: 'a replica set whose change stream batches carry no postBatchResumeToken',
  },
  'mongodb-4.4': {
    options: { serverVersion: '4.4' },
    flags: ['--server-version', '4.4'],
    description: 'a MongoDB 4.4 replica set: wire version 9, no 5.0+ aggregation operators',
  },
} satisfies Record<string, EmulatorProfile>);

export type EmulatorProfileName = keyof typeof EMULATOR_PROFILES;

/** `skip` value for a test against a profile: false where it can run, else the reason. */
export function profileSkip(name: EmulatorProfileName): string | false {
  return name === 'replica-set' ? false : emulatorOnly(EMULATOR_PROFILES[name].flags.join(' '));
}

/** Starts the test MongoDB of a profile (`extra`: more options, e.g. a dbpath). */
export function startProfile(name: EmulatorProfileName, extra: TestMongoOptions = {}): Promise<TestMongo> {
  const profile: EmulatorProfile = EMULATOR_PROFILES[name];
  return startTestMongo({ ...profile.options, ...extra });
}

/**
 * A database name no other test (or test run) uses: `<prefix>_<pid>_<time>_<random>`, within
 * MongoDB's 63-character limit.
 */
export function uniqueDbName(prefix = 'test'): string {
  const clean = prefix.replace(/[^A-Za-z0-9_]/g, '_').slice(0, 30) || 'test';
  return `${clean}_${process.pid}_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
}

/**
 * Sets the server's `failCommand` fail point (`mode`: 'alwaysOn', 'off', { times: n }, …) for the
 * commands of clients named `appName`; resolves with the server's reply.
 */
export function setFailCommand(client: MongoClient, appName: string, mode: unknown, data?: Document): Promise<Document> {
  return client.db('admin').command({ configureFailPoint: 'failCommand', mode, ...(data ? { data: { appName, ...data } } : {}) });
}

/**
 * The failCommand fail point is one per server. Test files that configure it hold this lock
 * (a document in the server itself), so files running in parallel against one shared server
 * (MONGODB_URI) do not switch each other's fail point off.
 */
export async function lockFailCommand(client: MongoClient, timeoutMs = 120_000): Promise<() => Promise<void>> {
  const locks = client.db('emulator_test_locks').collection<{ _id: string; owner: string; at: Date }>('locks');
  const owner = `${process.pid}-${Math.random().toString(36).slice(2)}`;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await locks.insertOne({ _id: 'failCommand', owner, at: new Date() });
      break;
    } catch (err) {
      if ((err as { code?: number }).code !== 11000) throw err;
      // A holder that died long ago leaves a stale lock: take it over.
      await locks.deleteOne({ _id: 'failCommand', at: { $lt: new Date(Date.now() - timeoutMs) } });
      if (Date.now() > deadline) throw new Error('timed out waiting for the failCommand fail point lock');
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return async () => {
    await locks.deleteOne({ _id: 'failCommand', owner });
  };
}
