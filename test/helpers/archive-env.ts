/**
 * A throwaway archiver environment for integration tests: a MongoDB (the emulator, or
 * MONGODB_URI), a unique database, temp spool and archive directories, and a config for them;
 * an archiver started on it, and documents inserted until it has captured them.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MongoClient } from 'mongodb';
import type { Document } from 'mongodb';
import { createArchiver } from '../../src/archiver.js';
import type { Archiver, ArchiverOptions } from '../../src/archiver.js';
import type { Config, ConfigInput } from '../../src/config/index.js';
import { parseConfig } from '../../src/config/index.js';
import { startTestMongo, uniqueDbName } from './mongo.js';
import type { TestMongo } from './mongo.js';
import { uriWithDb } from './archiver-process.js';

export interface ArchiveEnv {
  mongo: TestMongo;
  uri: string;
  db: string;
  dir: string;
  spoolDirectory: string;
  archiveDirectory: string;
  client: MongoClient;
  config(overrides?: ConfigInput): Config;
  /** Environment variables for a CLI child process with the same settings. */
  env(extra?: Record<string, string>): Record<string, string>;
  close(): Promise<void>;
}

export async function archiveEnv(mongo?: TestMongo): Promise<ArchiveEnv> {
  const m = mongo ?? (await startTestMongo());
  const db = uniqueDbName('archive');
  const uri = uriWithDb(m.uri, db);
  const dir = await mkdtemp(join(tmpdir(), 'cls-it-'));
  const spoolDirectory = join(dir, 'spool');
  const archiveDirectory = join(dir, 'archive');
  const client = new MongoClient(uri);
  await client.connect();
  const base: ConfigInput = {
    dbUri: uri,
    uploadProvider: 'file',
    localDirectory: archiveDirectory,
    spoolDirectory,
    checkpointIntervalMs: 100,
    sealSchedule: '0 0 1 1 *',
    sealGraceSeconds: 0,
    logging: { level: 'warn', enableConsole: false },
  };
  return {
    mongo: m,
    uri,
    db,
    dir,
    spoolDirectory,
    archiveDirectory,
    client,
    config: (overrides = {}) =>
      parseConfig(
        {
          ...base,
          ...overrides,
          logging: { ...(base.logging as object), ...((overrides as { logging?: object }).logging ?? {}) },
        } as ConfigInput,
        {},
      ),
    env: (extra = {}) => ({
      DB_URI: uri,
      UPLOAD_PROVIDER: 'file',
      LOCAL_DIRECTORY: archiveDirectory,
      SPOOL_DIRECTORY: spoolDirectory,
      CHECKPOINT_INTERVAL_MS: '100',
      SEAL_SCHEDULE: '0 0 1 1 *',
      SEAL_GRACE_SECONDS: '0',
      LOG_LEVEL: 'info',
      ...extra,
    }),
    async close() {
      await client.db(db).dropDatabase().catch(() => undefined);
      await client.close();
      if (!mongo) await m.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export async function waitFor(cond: () => boolean | Promise<boolean>, timeoutMs = 20_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

/** An archiver on `config` without its seal schedule (tests call `sealNow()`), started. */
export async function startArchiver(config: Config, options: ArchiverOptions = {}): Promise<Archiver> {
  const archiver = await createArchiver(config, { schedule: false, ...options });
  try {
    await archiver.start();
  } catch (err) {
    await archiver.close().catch(() => undefined);
    throw err;
  }
  return archiver;
}

/** Inserts `docs` into the watched collection (`apilogs`) and waits until `archiver` has captured them. */
export async function insertCaptured(env: ArchiveEnv, archiver: Archiver, docs: Document[], timeoutMs = 20_000): Promise<void> {
  const captured = archiver.stats().capture.captured + docs.length;
  await env.client.db(env.db).collection('apilogs').insertMany(docs);
  await waitFor(() => archiver.stats().capture.captured === captured, timeoutMs, `${docs.length} documents captured`);
}
