/** The azure.* options: validation as a configuration and as the destination receives them, and how their secrets are hidden. */
import { beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { azureOptionProblems, parseConfig, safeConfigView } from '../../../src/config/index.js';
import { ConfigError } from '../../../src/errors.js';
import { clearRegisteredSecrets, redact } from '../../../src/redact.js';

const DB = 'mongodb://localhost:27017/app';
const KEY = 'Zm9yLXRlc3RzLW9ubHktbm90LWEtcmVhbC1rZXk+Lw==';
const CONNECTION = `DefaultEndpointsProtocol=https;AccountName=archiveacct;AccountKey=${KEY};EndpointSuffix=core.windows.net`;

beforeEach(() => clearRegisteredSecrets());

function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err.message.split('\n').slice(1).map((l) => l.replace(/^\s*- /, ''));
    throw err;
  }
  return [];
}

test('UPLOAD_PROVIDER=azure with a connection string or an account (with or without a key) and a container', () => {
  const a = parseConfig({}, { DB_URI: DB, UPLOAD_PROVIDER: 'azure', AZURE_STORAGE_CONNECTION_STRING: CONNECTION, AZURE_CONTAINER: 'api-logs' });
  assert.equal(a.uploadProvider, 'azure');
  assert.equal(a.azure.connectionString, CONNECTION);
  assert.equal(a.azure.container, 'api-logs');
  assert.deepEqual({ blockSizeMB: a.azure.blockSizeMB, concurrency: a.azure.concurrency, immutabilityMode: a.azure.immutabilityMode, legalHold: a.azure.legalHold }, { blockSizeMB: 8, concurrency: 4, immutabilityMode: 'unlocked', legalHold: false });
  const b = parseConfig({}, { DB_URI: DB, UPLOAD_PROVIDER: 'azure', AZURE_STORAGE_ACCOUNT: 'archiveacct', AZURE_CONTAINER: 'api-logs' });
  assert.equal(b.azure.accountKey, undefined, 'no key: Azure AD');
  assert.deepEqual(azureOptionProblems({ account: 'archiveacct', accountKey: KEY, container: 'api-logs', endpoint: 'http://127.0.0.1:10000/devstoreaccount1', immutabilityDays: 30, legalHold: true }, 3), []);
  assert.deepEqual(azureOptionProblems({ connectionString: 'UseDevelopmentStorage=true', container: 'api-logs' }, 0), []);
});

test('every azure problem names the option and what is expected', () => {
  assert.deepEqual(problemsOf(() => parseConfig({}, { DB_URI: DB, UPLOAD_PROVIDER: 'azure' })), [
    'azure.container: required when uploadProvider is "azure"; expected an Azure container name: 3–63 characters of lowercase letters, digits and single hyphens, starting and ending with a letter or digit (set azure.container or AZURE_CONTAINER)',
    'azure.connectionString: required when uploadProvider is "azure" and azure.account is not set; expected a connection string, or azure.account (with azure.accountKey, or Azure AD) (set azure.connectionString or AZURE_STORAGE_CONNECTION_STRING)',
  ]);
  const problems = azureOptionProblems({ connectionString: 'AccountName=x', account: 'Bad_Name', accountKey: 'not base64!', container: 'Api--Logs', endpoint: 'ftp://x', blockSizeMB: 0, immutabilityMode: 'forever' }, 1);
  assert.deepEqual(problems, [
    'azure.connectionString: expected an Azure Storage connection string with AccountName and AccountKey, or BlobEndpoint and SharedAccessSignature',
    'azure.account: expected a storage account name: 3–24 lowercase letters and digits, got "Bad_Name"',
    'azure.accountKey: expected a storage account key (base64)',
    'azure.container: expected an Azure container name: 3–63 characters of lowercase letters, digits and single hyphens, starting and ending with a letter or digit, got "Api--Logs"',
    'azure.endpoint: expected an http(s) URL of the blob service such as "https://myaccount.blob.core.windows.net" or "http://127.0.0.1:10000/devstoreaccount1", got a ftp:// URL',
    'azure.blockSizeMB: expected an integer from 1 to 4000 (MiB), got 0',
    'azure.immutabilityMode: expected one of "unlocked" or "locked", got "forever"',
  ]);
  assert.ok(!problems.join('\n').includes('not base64!'), 'a secret is never echoed');
  assert.deepEqual(azureOptionProblems({ connectionString: CONNECTION, account: 'other', accountKey: KEY, endpoint: 'https://other.blob.core.windows.net', container: 'api-logs' }, 1), [
    'azure.account: only one of azure.connectionString and azure.account; expected one way to reach the storage account',
    'azure.accountKey: only valid with azure.account (a connection string carries its own key)',
    'azure.endpoint: only valid with azure.account (a connection string names its own BlobEndpoint)',
  ]);
  assert.deepEqual(azureOptionProblems({ container: 'api-logs', accountKey: KEY }, 1), [
    'azure.connectionString: required when uploadProvider is "azure" and azure.account is not set; expected a connection string, or azure.account (with azure.accountKey, or Azure AD)',
    'azure.account: required when azure.accountKey is set; expected the storage account name',
  ]);
  assert.deepEqual(azureOptionProblems({ container: 'api-logs', connectionString: CONNECTION, sasToken: 'x' }, undefined), ['retryAttempts: required; expected an integer from 0 to 20', 'unknown option "azure.sasToken"']);
});

test('the account key, the connection string and its AccountKey/SAS are never printed', () => {
  const sas = 'sv=2024-11-04&ss=b&srt=co&sp=rwdlac&se=2030-01-01T00:00:00Z&sig=c2lnbmF0dXJlLXZhbHVl%3D';
  const withSas = `BlobEndpoint=https://archiveacct.blob.core.windows.net;SharedAccessSignature=${sas}`;
  const c = parseConfig({}, { DB_URI: DB, UPLOAD_PROVIDER: 'azure', AZURE_STORAGE_CONNECTION_STRING: withSas, AZURE_CONTAINER: 'api-logs' });
  const view = JSON.stringify(safeConfigView(c));
  assert.ok(view.includes('"connectionString":"BlobEndpoint=https://archiveacct.blob.core.windows.net;SharedAccessSignature=****"'), view);
  assert.ok(!view.includes('c2lnbmF0dXJl'));
  // Registered by the configuration: the whole string, the SAS and its signature, wherever they appear.
  assert.equal(redact(`failed: ${withSas}`), 'failed: ****');
  assert.equal(redact(`GET ?${sas}`), 'GET ?****');
  assert.equal(redact('sig=c2lnbmF0dXJlLXZhbHVl%3D'), 'sig=****');

  clearRegisteredSecrets();
  const k = parseConfig({}, { DB_URI: DB, UPLOAD_PROVIDER: 'azure', AZURE_STORAGE_ACCOUNT: 'archiveacct', AZURE_STORAGE_KEY: KEY, AZURE_CONTAINER: 'api-logs' });
  assert.equal((safeConfigView(k).azure as { accountKey: string }).accountKey, '****');
  assert.equal(redact(`the key ${KEY} leaked`), 'the key **** leaked');
  const cs = parseConfig({}, { DB_URI: DB, UPLOAD_PROVIDER: 'azure', AZURE_STORAGE_CONNECTION_STRING: CONNECTION, AZURE_CONTAINER: 'api-logs' });
  assert.equal((safeConfigView(cs).azure as { connectionString: string }).connectionString, 'DefaultEndpointsProtocol=https;AccountName=archiveacct;AccountKey=****;EndpointSuffix=core.windows.net');
});

test('redact masks Azure credential shapes it was never told about: SharedKey signatures and connection string secrets', () => {
  assert.equal(redact('Authorization: SharedKey archiveacct:ZmFrZS1zaWduYXR1cmUtZm9yLXRlc3Q='), 'Authorization: SharedKey archiveacct:****');
  assert.equal(redact('DefaultEndpointsProtocol=https;AccountName=a1;AccountKey=abc/def+ghi==;EndpointSuffix=core.windows.net'), 'DefaultEndpointsProtocol=https;AccountName=a1;AccountKey=****;EndpointSuffix=core.windows.net');
  assert.equal(redact('BlobEndpoint=https://a1.blob.core.windows.net;SharedAccessSignature=sv=2024&sig=abc'), 'BlobEndpoint=https://a1.blob.core.windows.net;SharedAccessSignature=****');
  assert.equal(redact('the SharedKey scheme'), 'the SharedKey scheme');
});
