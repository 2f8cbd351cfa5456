/**
 * The Azure destination's probe for `doctor`: the container is reachable (its properties), a
 * probe blob under the prefix can be written (with its Content-MD5, and without the
 * immutability policy or legal hold, so that it can be deleted) and verified, read back and
 * deleted. Each step says what was checked or what is wrong and what to fix (403 → the key or
 * the role assignment, 404 → the container, no credential → how to give one); the probe blob
 * never stays behind when it was written. Requests are retried at most once.
 */
import { createHash } from 'node:crypto';
import type { AzureContext, AzureRequestOptions } from './azure-context.js';
import { classifyAzureError, type AzureOperation } from './azure-errors.js';
import { azureMetadata, blobProperties, deleteBlob } from './azure-objects.js';
import type { ProbeResult, ProbeStep } from './destination.js';
import { SHA256_METADATA_KEY } from './destination.js';
import { IntegrityError } from './errors.js';

const PROBE_BODY = Buffer.from('cron-log-service probe blob: safe to delete\n');

export async function probe(ctx: AzureContext, key: string, signal: AbortSignal): Promise<ProbeResult> {
  const { settings } = ctx;
  const options: AzureRequestOptions = { signal, retries: 1 };
  const steps: ProbeStep[] = [];
  const fail = (name: ProbeStep['name'], err: unknown, operation: AzureOperation): void => {
    const cause = err instanceof IntegrityError ? err : ((err as { cause?: unknown }).cause ?? err);
    steps.push({ name, status: 'failed', message: err instanceof IntegrityError ? err.message : ctx.describeError(cause, operation, key), reason: classifyAzureError(cause) });
  };
  const skip = (name: ProbeStep['name'], why: string): void => {
    steps.push({ name, status: 'skipped', message: why });
  };
  try {
    await ctx.send('GetContainerProperties', (abortSignal) => ctx.container.getProperties({ abortSignal }), { ...options, interruptible: true });
    steps.push({ name: 'container', status: 'ok', message: `container ${settings.container} of account ${settings.account} is reachable` });
  } catch (err) {
    fail('container', err, 'container');
  }
  let put = false;
  try {
    const sha256 = createHash('sha256').update(PROBE_BODY).digest('hex');
    const md5 = createHash('md5').update(PROBE_BODY).digest();
    const blob = ctx.container.getBlockBlobClient(key);
    await ctx.send('PutBlob', () => blob.upload(PROBE_BODY, PROBE_BODY.length, { blobHTTPHeaders: { blobContentType: 'text/plain', blobContentMD5: md5 }, metadata: azureMetadata({}, sha256) }), options);
    const props = await blobProperties(ctx, key, options);
    if (props?.contentLength !== PROBE_BODY.length || props.metadata?.[SHA256_METADATA_KEY] !== sha256) {
      throw new IntegrityError('stored', `${key} does not hold the probe bytes after the write`);
    }
    put = true;
    steps.push({ name: 'put', status: 'ok', message: `wrote and verified ${key}` });
  } catch (err) {
    fail('put', err, 'put');
  }
  if (!put) {
    skip('get', 'skipped: the probe blob could not be written');
    skip('delete', 'skipped: the probe blob could not be written');
    return result(ctx, steps);
  }
  try {
    const bytes = await ctx.send('GetBlob', (abortSignal) => ctx.container.getBlockBlobClient(key).downloadToBuffer(0, undefined, { abortSignal }), { ...options, interruptible: true });
    if (!bytes.equals(PROBE_BODY)) throw new IntegrityError('stored', `reading ${key} back returned different bytes`);
    steps.push({ name: 'get', status: 'ok', message: `read ${key} back` });
  } catch (err) {
    fail('get', err, 'get');
  }
  // Also after a failed get: do not leave the probe behind.
  try {
    await deleteBlob(ctx, key, signal, { retries: 1 });
    if ((await blobProperties(ctx, key, options)) !== undefined) throw new IntegrityError('stored', `${key} is still there after the delete`);
    steps.push({ name: 'delete', status: 'ok', message: `deleted ${key}` });
  } catch (err) {
    fail('delete', err, 'delete');
  }
  return result(ctx, steps);
}

function result(ctx: AzureContext, steps: ProbeStep[]): ProbeResult {
  return { ok: steps.every((s) => s.status === 'ok'), destination: ctx.describe(), steps };
}
