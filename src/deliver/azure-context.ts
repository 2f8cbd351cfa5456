/**
 * What every operation of one Azure destination shares: its resolved settings, the container
 * client, the request sender (every request retried by the one retry loop, src/retry.ts), the
 * logger, and how an Azure error is told in one sentence without secrets.
 *
 * The SDK's own retry policy is turned off (maxTries 1): a failed request is tried again by
 * `send`, with the project's backoff, budget (`retryAttempts`) and retry predicate
 * (src/deliver/azure-errors.ts), so a failed block is re-staged, not the whole blob.
 * Credentials: a connection string, a shared key, or Azure AD through `DefaultAzureCredential`
 * (@azure/identity, loaded on the first token request only).
 *
 * The SDK itself is loaded when the first Azure destination is created, not when this module is:
 * it adds about 20 MiB of RSS (measured: `import('@azure/storage-blob')` 22.8 MiB, `require`
 * 21.2 MiB on Node 20), which an archiver delivering to S3 or a directory never needs (the
 * memory benchmark's peak RSS rose by that much while it was imported eagerly). Its CommonJS
 * build is loaded with `require` so that creating a destination stays synchronous.
 */
import { createRequire } from 'node:module';
import type * as AzureBlob from '@azure/storage-blob';
import type { ContainerClient, StoragePipelineOptions } from '@azure/storage-blob';
import type { AccessToken, GetTokenOptions, TokenCredential } from '@azure/identity';
import type { Logger } from '../log.js';
import { silentLogger } from '../log.js';
import { errorCode, withRetry, type RetryInfo } from '../retry.js';
import { describeAzureError, isAzureRetryable, isAzureThrottling, type AzureOperation } from './azure-errors.js';
import { resolveAzureSettings, type AzureDestinationOptions, type AzureSettings } from './azure-options.js';
import { redactSecrets } from './errors.js';

export interface AzureRequestOptions {
  /** Looked at before each try and during each wait; passed to the request only when `interruptible`. */
  signal?: AbortSignal | undefined;
  /** The request may be cut off mid-way by the signal (a staged block, a read; never a commit). */
  interruptible?: boolean;
  /** At most this many retries (fewer than the policy's: the probe). */
  retries?: number | undefined;
  onRetry?: ((info: RetryInfo) => void) | undefined;
}

export interface AzureContext {
  readonly settings: AzureSettings;
  readonly container: ContainerClient;
  readonly logger: Logger;
  /** Sends the request `send` makes (one try each call), tried again as the policy allows; `name` names it in logs. */
  send<T>(name: string, send: (abortSignal: AbortSignal | undefined) => Promise<T>, options?: AzureRequestOptions): Promise<T>;
  /** e.g. `azure://account/container (endpoint http://127.0.0.1:10000/devstoreaccount1)`; never contains a secret. */
  describe(): string;
  describeError(err: unknown, operation: AzureOperation, key?: string): string;
  /** Masks the configured secrets in `text`. */
  redact(text: string): string;
}

/** DefaultAzureCredential, imported when the first token is needed (the other ways never load @azure/identity). */
function lazyDefaultCredential(): TokenCredential {
  let inner: Promise<TokenCredential> | undefined;
  return {
    async getToken(scopes: string | string[], options?: GetTokenOptions): Promise<AccessToken | null> {
      inner ??= import('@azure/identity').then(({ DefaultAzureCredential }) => new DefaultAzureCredential());
      return (await inner).getToken(scopes, options);
    },
  };
}

const require = createRequire(import.meta.url);

/** `@azure/storage-blob`, loaded on first use (see the header). */
function blobSdk(): typeof AzureBlob {
  return require('@azure/storage-blob') as typeof AzureBlob;
}

function createContainerClient(settings: AzureSettings): ContainerClient {
  const { BlobServiceClient, StorageSharedKeyCredential } = blobSdk();
  const pipeline: StoragePipelineOptions = {
    retryOptions: { maxTries: 1, tryTimeoutInMs: settings.requestTimeoutMs },
    userAgentOptions: { userAgentPrefix: 'cron-log-service' },
  };
  const { auth } = settings;
  let service: AzureBlob.BlobServiceClient;
  switch (auth.kind) {
    case 'connection-string':
      service = BlobServiceClient.fromConnectionString(auth.connectionString, pipeline);
      break;
    case 'shared-key':
      service = new BlobServiceClient(auth.url, new StorageSharedKeyCredential(auth.account, auth.accountKey), pipeline);
      break;
    case 'azure-ad':
      service = new BlobServiceClient(auth.url, lazyDefaultCredential(), pipeline);
      break;
  }
  return service.getContainerClient(settings.container);
}

/** Validates the options (ConfigError) and builds the client. */
export function createAzureContext(options: AzureDestinationOptions): AzureContext {
  const settings = resolveAzureSettings(options);
  const logger = options.logger ?? silentLogger;
  const container = createContainerClient(settings);
  const { account, endpoint } = settings;
  const redact = (text: string): string => redactSecrets(text, settings.secrets);
  const serviceUrl = endpoint ?? `https://${account}.blob.core.windows.net`;
  return {
    settings,
    container,
    logger,
    async send(name, send, options = {}) {
      const policy = options.retries !== undefined && options.retries < settings.policy.retries ? { ...settings.policy, retries: options.retries } : settings.policy;
      const abortSignal = options.interruptible === true ? options.signal : undefined;
      const { value } = await withRetry(() => send(abortSignal), policy, {
        isRetryable: isAzureRetryable,
        isThrottling: isAzureThrottling,
        ...(options.signal !== undefined ? { signal: options.signal } : {}),
        onRetry: (info) => {
          logger.debug('retrying an Azure Storage request', { request: name, error: errorCode(info.error), retry: info.retry, delayMs: info.delayMs });
          options.onRetry?.(info);
        },
      });
      return value;
    },
    describe: () => (endpoint !== undefined ? `azure://${account}/${settings.container} (endpoint ${endpoint})` : `azure://${account}/${settings.container}`),
    describeError: (err, operation, key) =>
      redact(describeAzureError(err, { account, container: settings.container, endpoint: serviceUrl, operation, ...(key !== undefined ? { key } : {}) })),
    redact,
  };
}
