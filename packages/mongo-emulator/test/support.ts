/**
 * Helpers of the emulator conformance suite: a client per test file, CLI child processes,
 * waiting with deadlines. The MongoDB under test and the fail point helpers are in
 * src/testing.ts (shared with the tests of the package's users).
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { after, before } from 'node:test';
import { fileURLToPath } from 'node:url';
import { MongoClient, ObjectId } from 'mongodb';
import type { Collection, Db, Document, MongoClientOptions } from 'mongodb';
import { startTestMongo, uniqueDbName } from '../src/testing.js';
import type { TestMongo } from '../src/testing.js';

/** The package's command line (`mongo-emulator`). */
export const EMULATOR_BIN = fileURLToPath(new URL('../bin/mongo-emulator.js', import.meta.url));

export async function connect(uri: string, options: MongoClientOptions = {}): Promise<MongoClient> {
  const client = new MongoClient(uri, { serverSelectionTimeoutMS: 10_000, ...options });
  await client.connect();
  return client;
}

/** What `emulatorSuite` sets up for a test file; `mongo`, `client` and `db` are there once its `before` hook ran. */
export interface EmulatorSuite {
  readonly mongo: TestMongo;
  readonly client: MongoClient;
  /** The file's own database, dropped by the `after` hook. */
  readonly db: Db;
  /** A collection of its own, `<name>_<ObjectId>`, in `database` (by default the file's). */
  fresh(name: string, database?: Db): Collection<Document>;
}

/**
 * The setup of a test file: registers a `before` hook that starts the test MongoDB, connects a
 * client and picks a database of its own (`uniqueDbName(name)`), and an `after` hook that drops
 * the database and closes the client and the MongoDB.
 */
export function emulatorSuite(name: string): EmulatorSuite {
  let mongo: TestMongo | undefined;
  let client: MongoClient | undefined;
  let db: Db | undefined;

  before(async () => {
    mongo = await startTestMongo();
    client = await connect(mongo.uri);
    db = client.db(uniqueDbName(name));
  });

  after(async () => {
    await db?.dropDatabase();
    await client?.close();
    await mongo?.close();
  });

  const ready = <T>(value: T | undefined, what: string): T => {
    if (value === undefined) throw new Error(`emulatorSuite('${name}'): ${what} is set in the before hook, not yet run`);
    return value;
  };
  return {
    get mongo() {
      return ready(mongo, 'mongo');
    },
    get client() {
      return ready(client, 'client');
    },
    get db() {
      return ready(db, 'db');
    },
    fresh: (collection, database = ready(db, 'db')) => database.collection(`${collection}_${new ObjectId().toHexString()}`),
  };
}

export interface EmulatorProcess {
  child: ChildProcess;
  /** The line the emulator printed on stdout. */
  uri: string;
  /** Everything written to stdout so far. */
  stdout(): string;
  stderr(): string;
  /** Sends a signal and waits for the exit. */
  stop(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Runs the mongo-emulator command and waits for its connection string. */
export async function spawnEmulator(args: string[], timeoutMs = 20_000): Promise<EmulatorProcess> {
  const child = spawn(process.execPath, [EMULATOR_BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  const deadline = Date.now() + timeoutMs;
  while (!out.includes('\n')) {
    if (child.exitCode !== null) throw new Error(`emulator exited with ${child.exitCode}: ${err}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`emulator did not print its URI within ${timeoutMs} ms: ${err}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return {
    child,
    uri: out.split('\n')[0]!,
    stdout: () => out,
    stderr: () => err,
    stop: async (signal: NodeJS.Signals = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      const [code, sig] = await exited;
      return { code, signal: sig };
    },
  };
}

/** Runs the mongo-emulator command to completion (for flags that exit right away). */
export async function runEmulator(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [EMULATOR_BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code, stdout, stderr };
}

/** Polls `check` until it returns true. */
export async function waitUntil(check: () => boolean | Promise<boolean>, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
