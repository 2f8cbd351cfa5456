/**
 * A list of MongoDB `_id` values, in the order they were added, with memory bounded whatever
 * the hour's size: what `purge` deletes by (src/ops/purge/). Up to `keysInMemory` values stay in
 * an array; beyond, every value is written to a temp file as canonical Extended JSON (which keeps
 * its BSON type: ObjectId, Int32, Long, Decimal128, Date, …) and read back in batches.
 *
 * It also gives the SHA-256 of the values' keys sorted, one per line (the `idsSha256` purge
 * records), through an external merge sort (key-files.ts) with the same bound; a list made with
 * `sortedKeys: false` (the `_id`s a repair fetches, src/seal/rebuild.ts) keeps no keys for it.
 *
 * Temp files live in a private directory under `directory`, removed by `close()`.
 */
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { EJSON } from 'bson';
import type { IdKey } from './document-ids.js';
import type { KeyBudget } from './key-files.js';
import { ExternalSort, ID_KEYS_IN_MEMORY, fileLines, keyTempDirectory } from './key-files.js';

const FLUSH_BYTES = 4 * 1024 * 1024;

/** See the header. */
export class SourceIdList {
  private values: unknown[] = [];
  private keys: IdKey[] = [];
  private dir: string | undefined;
  private spilled = false;
  private pending: string[] = [];
  private pendingBytes = 0;
  private sort: ExternalSort | undefined;
  /** Values added. */
  length = 0;
  private readonly keysInMemory: number;

  private readonly sortedKeys: boolean;

  constructor(
    private readonly budget: KeyBudget = {},
    options: { sortedKeys?: boolean } = {},
  ) {
    this.sortedKeys = options.sortedKeys !== false;
    this.keysInMemory = Math.max(1, budget.keysInMemory ?? ID_KEYS_IN_MEMORY);
  }

  private get file(): string {
    return join(this.dir as string, 'ids.ejson');
  }

  /** Adds `id` (as MongoDB returned it) with its key. */
  async add(id: unknown, key: IdKey): Promise<void> {
    this.length++;
    if (!this.spilled) {
      this.values.push(id);
      if (this.sortedKeys) this.keys.push(key);
      if (this.values.length > this.keysInMemory) await this.spill();
      return;
    }
    const line = `${EJSON.stringify(id as never, { relaxed: false })}\n`;
    this.pending.push(line);
    this.pendingBytes += line.length;
    if (this.pendingBytes >= FLUSH_BYTES) await this.flush();
    if (this.sort?.add(key) === true) await this.sort.spill();
  }

  private async spill(): Promise<void> {
    this.dir = await keyTempDirectory(this.budget.directory, 'purge-ids');
    if (this.sortedKeys) this.sort = new ExternalSort(this.dir, this.keysInMemory);
    this.spilled = true;
    const values = this.values;
    const keys = this.keys;
    this.values = [];
    this.keys = [];
    for (const v of values) this.pending.push(`${EJSON.stringify(v as never, { relaxed: false })}\n`);
    await this.flush();
    for (const k of keys) if (this.sort?.add(k) === true) await this.sort.spill();
  }

  private async flush(): Promise<void> {
    if (this.pending.length === 0) return;
    await fs.appendFile(this.file, this.pending.join(''));
    this.pending = [];
    this.pendingBytes = 0;
  }

  /** The values, in the order added, `size` at a time. */
  async *batches(size: number): AsyncGenerator<unknown[]> {
    if (!this.spilled) {
      for (let i = 0; i < this.values.length; i += size) yield this.values.slice(i, i + size);
      return;
    }
    await this.flush();
    let batch: unknown[] = [];
    for await (const line of fileLines(this.file)) {
      batch.push(EJSON.parse(line, { relaxed: false }));
      if (batch.length >= size) {
        yield batch;
        batch = [];
      }
    }
    if (batch.length > 0) yield batch;
  }

  /** The SHA-256 of the keys sorted, one per line (`<key>\n` each). */
  async sortedKeysSha256(): Promise<string> {
    if (!this.sortedKeys) throw new Error('SourceIdList.sortedKeysSha256 on a list made with sortedKeys: false');
    const h = createHash('sha256');
    if (!this.spilled) {
      for (const k of [...this.keys].sort()) h.update(`${k}\n`);
    } else {
      for await (const k of (this.sort as ExternalSort).sorted()) h.update(`${k}\n`);
    }
    return h.digest('hex');
  }

  /** Removes the temp files (idempotent); the list is empty afterwards. */
  async close(): Promise<void> {
    this.values = [];
    this.keys = [];
    if (this.dir !== undefined) await fs.rm(this.dir, { recursive: true, force: true });
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
