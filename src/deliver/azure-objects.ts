/**
 * head, get, delete and list of the Azure destination. A blob is only what was committed: a blob
 * whose blocks are staged but not committed answers 404 to head and get, and list() never shows
 * it (the service lists committed blobs unless asked for uncommitted ones).
 */
import type { BlobGetPropertiesResponse, ContainerListBlobFlatSegmentResponse } from '@azure/storage-blob';
import { CronLogError } from '../errors.js';
import { classifyAzureError } from './azure-errors.js';
import type { AzureContext, AzureRequestOptions } from './azure-context.js';
import { SHA256_METADATA_KEY, type ObjectInfo } from './destination.js';
import { ObjectNotFoundError } from './errors.js';

/** Azure metadata names are C# identifiers: our `-` becomes `_`. */
export function azureMetadata(metadata: Record<string, string> | undefined, sha256: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(metadata ?? {})) out[k.replace(/-/g, '_')] = v;
  out[SHA256_METADATA_KEY] = sha256;
  return out;
}

/** The blob's properties, or undefined when there is no committed blob at `key`. */
export async function blobProperties(ctx: AzureContext, key: string, options: AzureRequestOptions = {}): Promise<BlobGetPropertiesResponse | undefined> {
  try {
    return await ctx.send('GetBlobProperties', (abortSignal) => ctx.container.getBlockBlobClient(key).getProperties({ abortSignal }), { interruptible: true, ...options });
  } catch (err) {
    if (classifyAzureError(err) === 'not-found') return undefined;
    throw err;
  }
}

export function infoOf(key: string, props: BlobGetPropertiesResponse): ObjectInfo {
  const sha256 = props.metadata?.[SHA256_METADATA_KEY];
  return { key, size: props.contentLength ?? 0, ...(sha256 !== undefined ? { sha256 } : {}) };
}

export async function head(ctx: AzureContext, key: string, signal: AbortSignal): Promise<ObjectInfo | undefined> {
  try {
    const props = await blobProperties(ctx, key, { signal });
    return props === undefined ? undefined : infoOf(key, props);
  } catch (err) {
    throw new CronLogError('DESTINATION_UNAVAILABLE', `cannot inspect ${key} in ${ctx.describe()}: ${ctx.describeError(err, 'head', key)}`, { cause: err });
  }
}

export async function get(ctx: AzureContext, key: string, signal: AbortSignal): Promise<NodeJS.ReadableStream> {
  try {
    const res = await ctx.send('GetBlob', (abortSignal) => ctx.container.getBlockBlobClient(key).download(0, undefined, { abortSignal }), { signal, interruptible: true });
    if (res.readableStreamBody === undefined) throw new CronLogError('DESTINATION_UNAVAILABLE', `reading ${key} from ${ctx.describe()} returned no body`);
    return res.readableStreamBody;
  } catch (err) {
    if (err instanceof CronLogError) throw err;
    if (classifyAzureError(err) === 'not-found') throw new ObjectNotFoundError(ctx.describe(), key, { cause: err });
    throw new CronLogError('DESTINATION_UNAVAILABLE', `cannot read ${key} from ${ctx.describe()}: ${ctx.describeError(err, 'get', key)}`, { cause: err });
  }
}

export async function deleteBlob(ctx: AzureContext, key: string, signal: AbortSignal, options: AzureRequestOptions = {}): Promise<void> {
  try {
    await ctx.send('DeleteBlob', () => ctx.container.getBlockBlobClient(key).delete({ deleteSnapshots: 'include' }), { signal, ...options });
  } catch (err) {
    if (classifyAzureError(err) === 'not-found') return;
    throw new CronLogError('DESTINATION_UNAVAILABLE', `cannot delete ${key} from ${ctx.describe()}: ${ctx.describeError(err, 'delete', key)}`, { cause: err });
  }
}

/** One page of committed blobs under `prefix` (in key order), and the marker of the next. */
export async function listPage(ctx: AzureContext, prefix: string, marker: string | undefined, signal: AbortSignal): Promise<{ objects: ObjectInfo[]; next: string | undefined }> {
  let page: ContainerListBlobFlatSegmentResponse | undefined;
  try {
    page = await ctx.send(
      'ListBlobs',
      async (abortSignal) => {
        const iterator = ctx.container.listBlobsFlat({ ...(prefix !== '' ? { prefix } : {}), abortSignal }).byPage({ maxPageSize: ctx.settings.listPageSize, ...(marker !== undefined ? { continuationToken: marker } : {}) });
        const first = await iterator.next();
        return first.done === true ? undefined : first.value;
      },
      { signal, interruptible: true },
    );
  } catch (err) {
    throw new CronLogError('DESTINATION_UNAVAILABLE', `cannot list ${prefix} in ${ctx.describe()}: ${ctx.describeError(err, 'list')}`, { cause: err });
  }
  const objects = (page?.segment.blobItems ?? []).map((b) => ({ key: b.name, size: b.properties.contentLength ?? 0 }));
  const next = page?.continuationToken;
  return { objects, next: next !== undefined && next !== '' ? next : undefined };
}
