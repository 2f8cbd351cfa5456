import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import type { StorageClass } from '@aws-sdk/client-s3';

import { renderConfigDocs } from '../../../src/config/docs.js';
import { envNames, optionList } from '../../../src/config/option-list.js';
import { S3_STORAGE_CLASSES } from '../../../src/config/options.js';

// The names operators and scripts rely on (docs/configuration.md); changing one is a breaking change.
const EXPECTED_ENV: Readonly<Record<string, string>> = {
  dbUri: 'DB_URI',
  uploadProvider: 'UPLOAD_PROVIDER',
  outputDirectory: 'OUTPUT_DIRECTORY',
  localDirectory: 'LOCAL_DIRECTORY',
  'collections.apiLogsCollectionName': 'API_LOGS_COLLECTION',
  'collections.jobsCollectionName': 'JOBS_COLLECTION',
  'collections.logsCollectionName': 'LOGS_COLLECTION',
  's3.provider': 'S3_PROVIDER',
  's3.bucket': 'S3_BUCKET',
  's3.region': 'AWS_REGION',
  's3.accountId': 'S3_ACCOUNT_ID',
  's3.accessKeyId': 'AWS_ACCESS_KEY_ID',
  's3.secretAccessKey': 'AWS_SECRET_ACCESS_KEY',
  's3.sessionToken': 'AWS_SESSION_TOKEN',
  's3.endpoint': 'S3_ENDPOINT',
  's3.forcePathStyle': 'S3_FORCE_PATH_STYLE',
  's3.partSizeMB': 'S3_PART_SIZE_MB',
  's3.queueSize': 'S3_UPLOAD_CONCURRENCY',
  's3.checksumAlgorithm': 'S3_CHECKSUM_ALGORITHM',
  's3.serverSideEncryption': 'S3_SSE',
  's3.kmsKeyId': 'S3_KMS_KEY_ID',
  's3.storageClass': 'S3_STORAGE_CLASS',
  's3.objectLockMode': 'S3_OBJECT_LOCK_MODE',
  's3.objectLockDays': 'S3_OBJECT_LOCK_DAYS',
  'azure.connectionString': 'AZURE_STORAGE_CONNECTION_STRING',
  'azure.account': 'AZURE_STORAGE_ACCOUNT',
  'azure.accountKey': 'AZURE_STORAGE_KEY',
  'azure.container': 'AZURE_CONTAINER',
  'azure.endpoint': 'AZURE_ENDPOINT',
  'azure.blockSizeMB': 'AZURE_BLOCK_SIZE_MB',
  'azure.concurrency': 'AZURE_UPLOAD_CONCURRENCY',
  'azure.immutabilityDays': 'AZURE_IMMUTABILITY_DAYS',
  'azure.immutabilityMode': 'AZURE_IMMUTABILITY_MODE',
  'azure.legalHold': 'AZURE_LEGAL_HOLD',
  retryAttempts: 'RETRY_ATTEMPTS',
  'mongoRetry.maxDelayMs': 'MONGO_RETRY_MAX_DELAY_MS',
  'mongoRetry.giveUpAfterSeconds': 'MONGO_GIVE_UP_AFTER_SECONDS',
  'mongoRetry.notifyAfterSeconds': 'MONGO_NOTIFY_AFTER_SECONDS',
  'logging.level': 'LOG_LEVEL',
  'logging.enableConsole': 'LOG_CONSOLE',
  'logging.format': 'LOG_FORMAT',
  spoolDirectory: 'SPOOL_DIRECTORY',
  timestampField: 'TIMESTAMP_FIELD',
  timezone: 'TIMEZONE',
  checkpointIntervalMs: 'CHECKPOINT_INTERVAL_MS',
  gzipLevel: 'GZIP_LEVEL',
  gzipBurstLevel: 'GZIP_BURST_LEVEL',
  jsonMode: 'JSON_MODE',
  captureOperations: 'CAPTURE_OPERATIONS',
  captureMode: 'CAPTURE_MODE',
  querySettleSeconds: 'QUERY_SETTLE_SECONDS',
  queryPollIntervalMs: 'QUERY_POLL_INTERVAL_MS',
  shutdownGraceMs: 'SHUTDOWN_GRACE_MS',
  standby: 'STANDBY',
  leaseTtlSeconds: 'LEASE_TTL_SECONDS',
  sealSchedule: 'SEAL_SCHEDULE',
  sealGraceSeconds: 'SEAL_GRACE_SECONDS',
  'purge.after': 'PURGE_AFTER',
  'purge.batchSize': 'PURGE_BATCH_SIZE',
  'purge.maxDocumentsPerSecond': 'PURGE_MAX_DOCUMENTS_PER_SECOND',
  keyTemplate: 'KEY_TEMPLATE',
  restoreBatchSize: 'RESTORE_BATCH_SIZE',
  metricsPort: 'METRICS_PORT',
  dashboardToken: 'DASHBOARD_TOKEN',
  webhookUrl: 'WEBHOOK_URL',
};

test('option paths and environment variable names are exactly the documented ones', () => {
  assert.deepEqual({ ...envNames }, EXPECTED_ENV);
  assert.equal(new Set(optionList.map((e) => e.option.env)).size, optionList.length, 'env names are unique');
});

test('every default passes its own validation', () => {
  for (const { path, option } of optionList) {
    if (option.default === undefined) continue;
    const result = option.schema.safeParse(option.default);
    assert.ok(result.success, `${path} default ${JSON.stringify(option.default)}: ${result.success ? '' : result.issues.map((i) => i.message).join('; ')}`);
  }
});

test('every option is documented with text, a type and an expectation', () => {
  for (const { path, option } of optionList) {
    assert.ok(option.doc.length > 20, `${path} doc`);
    assert.ok(option.type.length > 0 && option.expected.length > 0, `${path} type/expected`);
  }
});

test('the storage classes are ones the AWS SDK knows', () => {
  const known: readonly StorageClass[] = S3_STORAGE_CLASSES; // compile-time check against the SDK
  assert.ok(known.includes('STANDARD_IA') && known.includes('DEEP_ARCHIVE'));
});

test('docs/configuration.md is up to date with the option table', () => {
  const path = fileURLToPath(new URL('../../../docs/configuration.md', import.meta.url));
  let onDisk = '';
  try {
    onDisk = readFileSync(path, 'utf8');
  } catch {
    // reported below
  }
  assert.ok(
    onDisk === renderConfigDocs(),
    'docs/configuration.md is out of date: run `npx tsx scripts/gen-config-docs.ts`',
  );
  // The generated docs list every option with its environment variable and default.
  for (const { path: option, option: def } of optionList) {
    assert.ok(onDisk.includes(`### ${option}\n`), `section for ${option}`);
    assert.ok(onDisk.includes(`\`${def.env}\``), `env ${def.env}`);
  }
  assert.match(onDisk, /highest precedence first/);
  assert.match(onDisk, /\| \[`gzipLevel`\]\(#gziplevel\) \| `GZIP_LEVEL` \| integer 1–9 \| `6` \|/);
});
