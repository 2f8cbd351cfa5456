/**
 * What the bench/extmem measuring scripts share: a fresh working directory, the emulator in its
 * own process and a client with timeouts generous enough for hours of millions of documents
 * (the single-threaded emulator stays busy for long stretches), and the child process each
 * measurement runs in.
 */
import { spawn } from 'node:child_process';
import { mkdir, rm } from 'node:fs/promises';
import { MongoClient } from 'mongodb';
import type { EmulatorProcess } from '../lib/emulator-process.js';
import { startEmulatorProcess } from '../lib/emulator-process.js';

/** Empties `dir`, starts the emulator and connects; the caller closes both (closeEmulatorClient). */
export async function openEmulatorClient(dir: string): Promise<{ emu: EmulatorProcess; client: MongoClient }> {
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const emu = await startEmulatorProcess({ oplogSize: 10_000 });
  const client = new MongoClient(emu.uri, { connectTimeoutMS: 600_000, serverSelectionTimeoutMS: 600_000, socketTimeoutMS: 0 });
  try {
    await client.connect();
  } catch (err) {
    await emu.close();
    throw err;
  }
  return { emu, client };
}

export async function closeEmulatorClient(c: { emu: EmulatorProcess; client: MongoClient }): Promise<void> {
  await c.client.close();
  await c.emu.close();
}

/**
 * Runs `script` in a child Node process through tsx (`heapMiB` > 0: with --max-old-space-size;
 * `nodeArgs` before it); resolves with the JSON of its last stdout line, or how it failed.
 */
export function runJsonChild<T>(script: string, args: readonly string[], heapMiB: number, nodeArgs: readonly string[] = []): Promise<T | { failed: string }> {
  return new Promise((resolve) => {
    const heap = heapMiB > 0 ? [`--max-old-space-size=${heapMiB}`] : [];
    const child = spawn(process.execPath, [...heap, ...nodeArgs, '--import', 'tsx', script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (err = (err + c.toString()).slice(-2000)));
    child.once('exit', (code, signal) => {
      if (code !== 0) resolve({ failed: `exit ${String(code ?? signal)}: ${/FATAL ERROR[^\n]*|Error[^\n]*/.exec(err)?.[0] ?? err.slice(-200)}` });
      else resolve(JSON.parse(out.trim().split('\n').pop() ?? '{}') as T);
    });
  });
}
