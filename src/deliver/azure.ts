/**
 * The Azure Blob Storage destination (the official @azure/storage-blob SDK): block blobs in one
 * container, at the same keys as the other destinations. Its parts, one idea a file:
 *
 *   azure-options.ts  the options, validated by the option table's rules, and how the account is reached
 *   azure-context.ts  the container client (connection string, shared key or Azure AD) and the request sender
 *   azure-errors.ts   which errors are retried, and one sentence for each
 *   azure-put.ts      the put: key check, blocks staged with their Content-MD5, commit, verification
 *   azure-objects.ts  head, get, delete, list
 *   azure-probe.ts    the probe for `doctor`
 *
 * Memory: a put holds at most blockSize × (concurrency + 1) bytes whatever the blob size (the
 * block size grows for blobs larger than blockSize × 50,000).
 *
 * Lifecycle (src/deliver/operations.ts): `close()` waits for running operations, `destroy()`
 * aborts them (a put stops staging, commits nothing and rejects with ABORTED).
 */
import { CronLogError } from '../errors.js';
import { createAzureContext, type AzureContext } from './azure-context.js';
import { deleteBlob, get, head, listPage } from './azure-objects.js';
import type { AzureDestinationOptions } from './azure-options.js';
import { probe } from './azure-probe.js';
import { putBlob } from './azure-put.js';
import { checkedPut, objectKeyProblem, type Destination, type ObjectInfo, type ProbeResult, type PutInput, type PutResult } from './destination.js';
import { Operations } from './operations.js';
import { probeKey } from './s3-probe.js';

export class AzureDestination implements Destination {
  readonly kind = 'azure' as const;
  readonly account: string;
  readonly container: string;
  private readonly ctx: AzureContext;
  private readonly operations: Operations;

  /** Throws a ConfigError (CONFIG_INVALID) listing every invalid option. */
  constructor(options: AzureDestinationOptions) {
    this.ctx = createAzureContext(options);
    this.account = this.ctx.settings.account;
    this.container = this.ctx.settings.container;
    this.operations = new Operations(() => this.describe());
  }

  describe(): string {
    return this.ctx.describe();
  }

  private checkKey(key: string, what = 'key'): void {
    const problem = objectKeyProblem(key);
    if (problem !== undefined) throw new CronLogError('USAGE', `invalid ${what} ${JSON.stringify(key)}: ${problem}`);
  }

  async put(input: PutInput): Promise<PutResult> {
    const signal = checkedPut(input);
    return this.operations.run((s) => putBlob(this.ctx, input, s), signal);
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    this.checkKey(key);
    return this.operations.run((signal) => head(this.ctx, key, signal));
  }

  async get(key: string): Promise<NodeJS.ReadableStream> {
    this.checkKey(key);
    return this.operations.run((signal) => get(this.ctx, key, signal));
  }

  async delete(key: string): Promise<void> {
    this.checkKey(key);
    await this.operations.run((signal) => deleteBlob(this.ctx, key, signal));
  }

  /** Each page is an operation of its own: after close() or destroy(), the next page is refused. */
  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    this.operations.assertOpen();
    let marker: string | undefined;
    do {
      const after = marker;
      const page = await this.operations.run((signal) => listPage(this.ctx, prefix, after, signal));
      yield* page.objects;
      marker = page.next;
    } while (marker !== undefined);
  }

  async probe(prefix: string): Promise<ProbeResult> {
    const key = probeKey(prefix);
    const problem = objectKeyProblem(key);
    if (problem !== undefined) {
      return { ok: false, destination: this.describe(), steps: [{ name: 'container', status: 'failed', message: `invalid prefix ${JSON.stringify(prefix)}: ${problem}`, reason: 'invalid-prefix' }] };
    }
    return this.operations.run((signal) => probe(this.ctx, key, signal));
  }

  close(): Promise<void> {
    return this.operations.close();
  }

  destroy(): Promise<void> {
    return this.operations.destroy();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
