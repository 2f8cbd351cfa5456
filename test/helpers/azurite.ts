/**
 * Azurite (the `azurite` npm package: Microsoft's own Azure Storage emulator) for tests: its blob
 * service started as a child process on 127.0.0.1, port 0, with its data in a temp directory,
 * `--skipApiVersionCheck` (the SDK may speak a newer API version than the emulator knows) and
 * `--loose`, telemetry off. It accepts the well-known development account `devstoreaccount1`
 * and its published key, and verifies Shared Key signatures (a wrong key answers 403).
 *
 * What Azurite does and does not do (3.35): it checks the Content-MD5 of Put Block and Put Blob
 * (400 "Provided contentMD5 doesn't match"), keeps staged blocks invisible until Put Block List,
 * honours If-None-Match: *; it does NOT implement immutability policies or legal holds
 * (Set Immutability Policy / Set Legal Hold answer 501; the headers on a commit are ignored)
 * nor check x-ms-content-crc64.
 *
 * Set AZURITE_LOG=1 to see Azurite's output.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { BlobServiceClient, StorageSharedKeyCredential, type ContainerClient } from '@azure/storage-blob';

const require = createRequire(import.meta.url);

/** Azurite's development account and its published key (documented by Microsoft; not a secret). */
export const AZURITE_ACCOUNT = 'devstoreaccount1';
export const AZURITE_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

export interface TestAzurite {
  /** The blob service URL, `http://127.0.0.1:<port>/devstoreaccount1`. */
  endpoint: string;
  account: string;
  accountKey: string;
  /** A connection string for `endpoint` (or for another URL of the same service, e.g. a proxy). */
  connectionString(endpoint?: string): string;
  /** A new empty container with a unique name. */
  createContainer(prefix?: string): Promise<string>;
  /** A client of `container` (for assertions that look behind the destination). */
  containerClient(container: string): ContainerClient;
  close(): Promise<void>;
}

function azuriteBlobBin(): string {
  return join(dirname(require.resolve('azurite/package.json')), 'dist', 'src', 'blob', 'main.js');
}

export async function startAzurite(): Promise<TestAzurite> {
  const location = await mkdtemp(join(tmpdir(), 'cls-azurite-'));
  const child: ChildProcess = spawn(
    process.execPath,
    [azuriteBlobBin(), '--blobHost', '127.0.0.1', '--blobPort', '0', '--location', location, '--skipApiVersionCheck', '--loose', '--disableTelemetry', ...(process.env.AZURITE_LOG === '1' ? ['--debug', join(location, 'debug.log')] : [])],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH ?? '', HOME: location, AZURITE_ACCOUNTS: '' } },
  );
  let output = '';
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`Azurite did not start within 60 s:\n${output}`)), 60_000);
    const onData = (d: Buffer): void => {
      output += d.toString();
      if (process.env.AZURITE_LOG === '1') process.stderr.write(d);
      const m = /listens on http:\/\/127\.0\.0\.1:(\d+)/.exec(output);
      if (m !== null) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`Azurite exited with ${String(code)} before it listened:\n${output}`));
    });
  });
  const endpoint = `http://127.0.0.1:${port}/${AZURITE_ACCOUNT}`;
  const service = new BlobServiceClient(endpoint, new StorageSharedKeyCredential(AZURITE_ACCOUNT, AZURITE_KEY), { retryOptions: { maxTries: 1 } });
  let closed: Promise<void> | undefined;
  return {
    endpoint,
    account: AZURITE_ACCOUNT,
    accountKey: AZURITE_KEY,
    connectionString: (url = endpoint) => `DefaultEndpointsProtocol=http;AccountName=${AZURITE_ACCOUNT};AccountKey=${AZURITE_KEY};BlobEndpoint=${url};`,
    async createContainer(prefix = 'test') {
      const name = `${prefix}-${randomBytes(6).toString('hex')}`;
      await service.getContainerClient(name).create();
      return name;
    },
    containerClient: (container) => service.getContainerClient(container),
    close() {
      closed ??= (async () => {
        if (child.exitCode === null && child.signalCode === null) {
          const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
          child.kill('SIGKILL');
          await exited;
        }
        await rm(location, { recursive: true, force: true });
      })();
      return closed;
    },
  };
}

/** The `azure` options (config or destination) that reach Azurite's `container`, through `endpoint` if given (a fault proxy). */
export function azureOptions(azurite: TestAzurite, container: string, endpoint = azurite.endpoint): { account: string; accountKey: string; container: string; endpoint: string } {
  return { account: azurite.account, accountKey: azurite.accountKey, container, endpoint };
}

/** The environment variables that point the archiver's `azure` provider at Azurite's `container`. */
export function azureEnvVars(azurite: TestAzurite, container: string, over: Record<string, string> = {}): Record<string, string> {
  return {
    UPLOAD_PROVIDER: 'azure',
    AZURE_STORAGE_CONNECTION_STRING: azurite.connectionString(),
    AZURE_CONTAINER: container,
    ...over,
  };
}
