/**
 * What the bench/extmem measuring scripts share: a fresh working directory, the emulator in its
 * own process and a client with timeouts generous enough for hours of millions of documents
 * (the single-threaded emulator stays busy for long stretches).
 */
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
