/**
 * Helpers shared by the benchmarks and their child processes: configs, logging, directories,
 * timing. Generated documents are in documents.ts (the emulator package's traffic generator),
 * which the archiver children (compiled, plain node) never load.
 */
import { mkdir } from 'node:fs/promises';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { join } from 'node:path';
import type { MongoClient } from 'mongodb';
import type { Config, ConfigInput } from '../../src/config/index.js';
import { parseConfig } from '../../src/config/index.js';
import type { Logger } from '../../src/log.js';

export const HOUR = 3_600_000;
/** The hour most benchmarks fill: a fixed past hour (2024-01-15T10:00Z). */
export const BENCH_HOUR = Date.UTC(2024, 0, 15, 10);
export const BENCH_DAY = Date.UTC(2024, 0, 15);

export function uriWithDb(uri: string, db: string): string {
  const u = new URL(uri);
  u.pathname = `/${db}`;
  return u.toString();
}

/** Bytes of the documents as JSON lines (what the spool stores, uncompressed). */
export function jsonBytes(docs: readonly object[]): number {
  let n = 0;
  for (const d of docs) n += Buffer.byteLength(JSON.stringify(d)) + 1;
  return n;
}

/** Config of an archiver against `uri`/`db`, spool and archive under `dir`, no schedule. */
export function benchConfig(uri: string, db: string, dir: string, overrides: ConfigInput = {}): Config {
  return parseConfig(
    {
      dbUri: uriWithDb(uri, db),
      uploadProvider: 'file',
      localDirectory: join(dir, 'archive'),
      spoolDirectory: join(dir, 'spool'),
      sealSchedule: '0 0 1 1 *',
      logging: { level: 'error', enableConsole: false },
      ...overrides,
    } as ConfigInput,
    {},
  );
}

export const quietLog: Logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: (message: string, fields?: Record<string, unknown>) => void process.stderr.write(`  [archiver error] ${message} ${JSON.stringify(fields ?? {})}\n`),
  child: () => quietLog,
};

export async function freshDir(base: string, name: string): Promise<string> {
  const d = join(base, name);
  await mkdir(d, { recursive: true });
  return d;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls `cond` every `everyMs` until it holds; rejects after `timeoutMs`. */
export async function until(cond: () => boolean | Promise<boolean>, what: string, timeoutMs = 120_000, everyMs = 2): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await cond())) {
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

export async function dropDb(client: MongoClient, db: string): Promise<void> {
  await client.db(db).dropDatabase().catch(() => undefined);
}

// The collector, whatever flags the process was started with.
setFlagsFromString('--expose-gc');
const collectGarbage = runInNewContext('gc') as () => void;

/**
 * Call right before a timed section: collects the garbage left by what ran before it (untimed
 * set-up, checks, the other side of a pair), so that neither side of a pair pays for a
 * collection of garbage it did not make. Garbage made inside the timed section is still its own.
 */
export async function settle(): Promise<void> {
  collectGarbage();
  await new Promise((resolve) => setImmediate(resolve));
}
