/**
 * Helpers of the emulator conformance suite: a client per test file, CLI child processes,
 * waiting with deadlines.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { MongoClient } from 'mongodb';
import type { MongoClientOptions } from 'mongodb';

export const EMULATOR_SCRIPT = fileURLToPath(new URL('../../scripts/mongo-emulator', import.meta.url));

export async function connect(uri: string, options: MongoClientOptions = {}): Promise<MongoClient> {
  const client = new MongoClient(uri, { serverSelectionTimeoutMS: 10_000, ...options });
  await client.connect();
  return client;
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

/** Runs scripts/mongo-emulator and waits for its connection string. */
export async function spawnEmulator(args: string[], timeoutMs = 20_000): Promise<EmulatorProcess> {
  const child = spawn(process.execPath, [EMULATOR_SCRIPT, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
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

/** Runs scripts/mongo-emulator to completion (for flags that exit right away). */
export async function runEmulator(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [EMULATOR_SCRIPT, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
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
