/**
 * The options of the Azure Blob Storage destination and what they resolve to: validated by the
 * option table's rules (src/config/destination-check.ts: the same checks and messages as a
 * configuration file), the defaults applied, the block size in bytes, the retry policy, and how
 * the account is reached (connection string, shared key or Azure AD) and named in messages.
 */
import { azureOptionProblems, parseConnectionString } from '../config/index.js';
import { ConfigError } from '../errors.js';
import type { Logger } from '../log.js';
import { retryPolicy, type RetryPolicy } from '../retry.js';
import { safeEndpoint } from './errors.js';

export interface AzureOptions {
  /** `AZURE_STORAGE_CONNECTION_STRING`: AccountName + AccountKey, BlobEndpoint + SharedAccessSignature, or UseDevelopmentStorage=true. */
  connectionString?: string;
  /** Storage account name (instead of a connection string). */
  account?: string;
  /** Shared key of `account`; absent: Azure AD (DefaultAzureCredential). */
  accountKey?: string;
  container: string;
  /** Blob service URL for `account` (sovereign cloud, private endpoint, Azurite). */
  endpoint?: string;
  /** Block size in MiB. Default 8. */
  blockSizeMB?: number;
  /** Blocks staged concurrently. Default 4. */
  concurrency?: number;
  /** Per-blob time-based retention, in days from the upload. */
  immutabilityDays?: number;
  /** Default `unlocked`. */
  immutabilityMode?: 'unlocked' | 'locked';
  /** A legal hold on every blob. Default false. */
  legalHold?: boolean;
}

/** Advanced knobs, mostly for tests; the defaults suit production. */
export interface AzureTuning {
  retryBaseDelayMs?: number;
  retryMaxDelayMs?: number;
  /** Block size in bytes, overriding `blockSizeMB` (tests use small blocks to stage many of them). */
  blockSizeBytes?: number;
  /** A request that takes longer than this fails and is retried (ms). Default 120000. */
  requestTimeoutMs?: number;
  /** List page size. Default 1000 (also the service's maximum is 5000). */
  listPageSize?: number;
}

export interface AzureDestinationOptions {
  azure: AzureOptions;
  /** Retries of each failed request (0 = try once). */
  retryAttempts: number;
  logger?: Logger;
  tuning?: AzureTuning;
}

/** How the account is reached. */
export type AzureAuth =
  | { kind: 'connection-string'; connectionString: string }
  | { kind: 'shared-key'; account: string; accountKey: string; url: string }
  | { kind: 'azure-ad'; account: string; url: string };

export interface AzureSettings {
  readonly azure: Readonly<AzureOptions>;
  readonly container: string;
  /** The account name (from the options or the connection string), for messages. */
  readonly account: string;
  /** A blob service URL other than `https://<account>.blob.core.windows.net`, without credentials; for messages. */
  readonly endpoint: string | undefined;
  readonly auth: AzureAuth;
  readonly blockSize: number;
  readonly concurrency: number;
  readonly listPageSize: number;
  readonly requestTimeoutMs: number;
  readonly policy: RetryPolicy;
  /** Every secret of the configuration, masked in messages. */
  readonly secrets: readonly string[];
}

const MiB = 1024 * 1024;
/** The most blocks a committed block blob may have. */
export const MAX_BLOCKS = 50_000;
const DEVELOPMENT_ACCOUNT = 'devstoreaccount1';
const DEVELOPMENT_ENDPOINT = `http://127.0.0.1:10000/${DEVELOPMENT_ACCOUNT}`;

function defaultEndpoint(account: string): string {
  return `https://${account}.blob.core.windows.net`;
}

/** The account name and blob endpoint a connection string names. */
function connectionTarget(connectionString: string): { account: string; endpoint: string; secrets: string[] } {
  const settings = parseConnectionString(connectionString) ?? new Map<string, string>();
  const secrets = [settings.get('AccountKey'), settings.get('SharedAccessSignature')].filter((s): s is string => s !== undefined && s !== '');
  if (settings.get('UseDevelopmentStorage') === 'true') return { account: DEVELOPMENT_ACCOUNT, endpoint: DEVELOPMENT_ENDPOINT, secrets };
  const blobEndpoint = settings.get('BlobEndpoint');
  const accountName = settings.get('AccountName');
  if (blobEndpoint !== undefined) {
    const url = safeEndpoint(blobEndpoint);
    let account = accountName;
    if (account === undefined) {
      try {
        const u = new URL(blobEndpoint);
        account = /^\d+\.\d+\.\d+\.\d+$|^localhost$/.test(u.hostname) ? (u.pathname.split('/')[1] ?? u.hostname) : (u.hostname.split('.')[0] ?? u.hostname);
      } catch {
        account = '(unknown account)';
      }
    }
    return { account, endpoint: url, secrets };
  }
  const account = accountName ?? '(unknown account)';
  const suffix = settings.get('EndpointSuffix') ?? 'core.windows.net';
  const protocol = settings.get('DefaultEndpointsProtocol') ?? 'https';
  return { account, endpoint: `${protocol}://${account}.blob.${suffix}`, secrets };
}

/** Validates the options (a ConfigError lists every problem) and applies the defaults. */
export function resolveAzureSettings(options: AzureDestinationOptions): AzureSettings {
  const problems = azureOptionProblems(options.azure, options.retryAttempts);
  if (problems.length > 0) throw new ConfigError(problems);
  const azure = Object.freeze({ ...options.azure });
  const tuning = options.tuning ?? {};
  let auth: AzureAuth;
  let account: string;
  let url: string;
  const secrets: string[] = [];
  if (azure.connectionString !== undefined) {
    const target = connectionTarget(azure.connectionString);
    auth = { kind: 'connection-string', connectionString: azure.connectionString };
    account = target.account;
    url = target.endpoint;
    secrets.push(azure.connectionString, ...target.secrets);
  } else {
    account = azure.account as string;
    url = azure.endpoint !== undefined ? azure.endpoint.replace(/\/+$/, '') : defaultEndpoint(account);
    if (azure.accountKey !== undefined) {
      auth = { kind: 'shared-key', account, accountKey: azure.accountKey, url };
      secrets.push(azure.accountKey);
    } else {
      auth = { kind: 'azure-ad', account, url };
    }
  }
  const endpoint = safeEndpoint(url);
  return Object.freeze({
    azure,
    container: azure.container,
    account,
    endpoint: endpoint === defaultEndpoint(account) ? undefined : endpoint,
    auth,
    blockSize: tuning.blockSizeBytes ?? Math.round((azure.blockSizeMB ?? 8) * MiB),
    concurrency: azure.concurrency ?? 4,
    listPageSize: tuning.listPageSize ?? 1000,
    requestTimeoutMs: tuning.requestTimeoutMs ?? 120_000,
    policy: retryPolicy(options.retryAttempts, {
      ...(tuning.retryBaseDelayMs !== undefined ? { baseDelayMs: tuning.retryBaseDelayMs } : {}),
      ...(tuning.retryMaxDelayMs !== undefined ? { maxDelayMs: tuning.retryMaxDelayMs } : {}),
    }),
    secrets,
  });
}

/** Block size for a blob of `size` bytes: the configured one, grown (to whole MiB) to stay within 50,000 blocks. */
export function blockSizeFor(settings: Pick<AzureSettings, 'blockSize'>, size: number): number {
  if (size <= settings.blockSize * MAX_BLOCKS) return settings.blockSize;
  return Math.ceil(size / MAX_BLOCKS / MiB) * MiB;
}
