import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { loadConfig, parseConfig, type Config } from '../../../src/config/load.js';
import { coerceOptionString, safeConfigView } from '../../../src/config/index.js';
import { ConfigError, ExitCode, exitCodeOf } from '../../../src/errors.js';
import { redact } from '../../../src/redact.js';

const DB = 'mongodb://localhost:27017/myapp';
const base = { DB_URI: DB, S3_BUCKET: 'my-logs-bucket' };

/** The issues of the ConfigError `fn` throws (fails the test if it does not throw one). */
async function issuesOf(fn: () => unknown): Promise<readonly string[]> {
  try {
    await fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    assert.equal(exitCodeOf(err), ExitCode.badInput);
    return err.issues;
  }
  assert.fail('expected a ConfigError');
}

function hasIssue(issues: readonly string[], pattern: RegExp): void {
  assert.ok(
    issues.some((i) => pattern.test(i)),
    `no issue matches ${pattern}:\n  ${issues.join('\n  ')}`,
  );
}

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cls-config-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('defaults', () => {
  test('only dbUri and s3.bucket are needed; everything else has the documented default', () => {
    const c = parseConfig({}, base);
    assert.equal(c.dbUri, DB);
    assert.equal(c.database, 'myapp');
    assert.equal(c.uploadProvider, 's3');
    assert.equal(c.outputDirectory, 'api-logs');
    assert.equal(c.localDirectory, './archive');
    assert.deepEqual(c.collections, { apiLogsCollectionName: 'apilogs', jobsCollectionName: 'jobs', logsCollectionName: 'logs' });
    assert.deepEqual(c.s3, {
      bucket: 'my-logs-bucket',
      region: 'us-east-1',
      forcePathStyle: false,
      partSizeMB: 8,
      queueSize: 4,
      checksumAlgorithm: 'SHA256',
    });
    assert.equal(c.retryAttempts, 5);
    assert.deepEqual(c.logging, { level: 'info', enableConsole: true, format: 'auto' });
    assert.equal(c.spoolDirectory, './spool');
    assert.equal(c.timestampField, 'createdAt');
    assert.equal(c.timezone, 'UTC');
    assert.equal(c.checkpointIntervalMs, 1000);
    assert.equal(c.gzipLevel, 6);
    assert.equal(c.jsonMode, 'analytics');
    assert.deepEqual(c.captureOperations, ['insert']);
    assert.equal(c.shutdownGraceMs, 10000);
    assert.equal(c.standby, false);
    assert.equal(c.leaseTtlSeconds, 30);
    assert.equal(c.sealSchedule, '5 * * * *');
    assert.equal(c.sealGraceSeconds, 120);
    assert.equal(c.keyTemplate, '{prefix}/{date}/{hour}-{nextHour}{fold}{part}.ndjson.gz');
    assert.equal(c.metricsPort, undefined);
    assert.equal(c.webhookUrl, undefined);
  });

  test('the file provider needs no bucket', () => {
    const c = parseConfig({ dbUri: DB, uploadProvider: 'file' }, {});
    assert.equal(c.uploadProvider, 'file');
    assert.equal(c.s3.bucket, undefined);
  });

  test('the config is deeply frozen', () => {
    const c = parseConfig({}, base);
    assert.ok(Object.isFrozen(c) && Object.isFrozen(c.s3) && Object.isFrozen(c.captureOperations));
    assert.throws(() => {
      (c.s3 as { region: string }).region = 'eu-west-1';
    }, TypeError);
  });
});

describe('the config objects of the original cron-log-service', () => {
  test('its production setup loads, with process.env references', () => {
    const env = {
      DB_URI: 'mongodb://archiver:s3cr3t-pass@db.internal:27017/myapp?authSource=admin',
      S3_BUCKET: 'prod-api-logs',
      AWS_REGION: 'eu-central-1',
      AWS_ACCESS_KEY_ID: 'AKIAIOSFODNN7EXAMPLE',
      AWS_SECRET_ACCESS_KEY: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
    };
    // The shape the original cron-log-service documented for production (README "Configuration").
    const config = {
      dbUri: env.DB_URI,
      uploadProvider: 's3',
      outputDirectory: 'production-api-logs',
      collections: {
        jobsCollectionName: 'backup_jobs',
        logsCollectionName: 'backup_logs',
        apiLogsCollectionName: 'api_requests',
      },
      s3: {
        bucket: env.S3_BUCKET,
        region: env.AWS_REGION,
        accessKeyId: env.AWS_ACCESS_KEY_ID,
        secretAccessKey: env.AWS_SECRET_ACCESS_KEY,
      },
      retryAttempts: 5,
      logging: {
        level: 'info',
        enableConsole: true,
      },
    } as const;
    const c = parseConfig(config, {});
    assert.equal(c.database, 'myapp');
    assert.equal(c.outputDirectory, 'production-api-logs');
    assert.equal(c.collections.apiLogsCollectionName, 'api_requests');
    assert.equal(c.collections.jobsCollectionName, 'backup_jobs');
    assert.equal(c.collections.logsCollectionName, 'backup_logs');
    assert.equal(c.s3.bucket, 'prod-api-logs');
    assert.equal(c.s3.region, 'eu-central-1');
    assert.equal(c.s3.secretAccessKey, env.AWS_SECRET_ACCESS_KEY);
  });

  test('undefined values (unset process.env variables) fall back to lower sources', () => {
    const c = parseConfig(
      { dbUri: undefined, s3: { bucket: undefined, region: undefined, accessKeyId: undefined, secretAccessKey: undefined } },
      { ...base, AWS_REGION: 'ap-south-1' },
    );
    assert.equal(c.dbUri, DB);
    assert.equal(c.s3.region, 'ap-south-1');
    assert.equal(c.s3.accessKeyId, undefined);
  });

  test('its basic setup loads', () => {
    const c = parseConfig(
      { dbUri: 'mongodb://localhost:27017/myapp', uploadProvider: 's3', s3: { bucket: 'my-logs-bucket', region: 'us-east-1' } },
      {},
    );
    assert.equal(c.s3.bucket, 'my-logs-bucket');
  });
});

describe('precedence: overrides > config file > environment > .env > defaults', () => {
  test('each source wins over the ones below it, option by option', async () => {
    const envFile = join(dir, 'prec.env');
    await writeFile(
      envFile,
      [
        `DB_URI=${DB}`,
        'S3_BUCKET=from-dotenv',
        'GZIP_LEVEL=2',
        'RETRY_ATTEMPTS=2',
        'TIMEZONE=Asia/Tokyo',
        'LOG_LEVEL=warn',
      ].join('\n'),
    );
    const configFile = join(dir, 'prec.json');
    await writeFile(configFile, JSON.stringify({ gzipLevel: 4, retryAttempts: 4, s3: { bucket: 'from-file' } }));
    const env = { GZIP_LEVEL: '3', RETRY_ATTEMPTS: '3', TIMEZONE: 'Europe/Berlin', S3_BUCKET: 'from-env' };
    const c = await loadConfig({ env, envFile, configFile, overrides: { gzipLevel: 5 } });
    assert.equal(c.gzipLevel, 5, 'overrides beat the config file');
    assert.equal(c.retryAttempts, 4, 'the config file beats the environment');
    assert.equal(c.s3.bucket, 'from-file');
    assert.equal(c.timezone, 'Europe/Berlin', 'the environment beats .env');
    assert.equal(c.logging.level, 'warn', '.env beats the defaults');
    assert.equal(c.dbUri, DB);
    assert.equal(c.checkpointIntervalMs, 1000, 'defaults fill the rest');
  });

  test('.env in the working directory is read by default, never mutating process.env', async () => {
    const cwd = await mkdtemp(join(dir, 'cwd-'));
    await writeFile(join(cwd, '.env'), `DB_URI=${DB}\nS3_BUCKET=dotenv-bucket\nCLS_TEST_ONLY_VAR=1\n`);
    const before = { ...process.env };
    const c = await loadConfig({ cwd, env: {} });
    assert.equal(c.s3.bucket, 'dotenv-bucket');
    assert.equal(process.env.CLS_TEST_ONLY_VAR, undefined);
    assert.equal(process.env.S3_BUCKET, before.S3_BUCKET);
    // envFile: false ignores it.
    hasIssue(await issuesOf(() => loadConfig({ cwd, env: {}, envFile: false })), /^dbUri: required/);
  });

  test('a missing default .env is fine, a missing explicit one is an error', async () => {
    const cwd = await mkdtemp(join(dir, 'empty-'));
    const c = await loadConfig({ cwd, env: base });
    assert.equal(c.database, 'myapp');
    hasIssue(await issuesOf(() => loadConfig({ cwd, env: base, envFile: 'nope.env' })), /env file nope\.env: not found/);
  });

  test('config files: .mjs and .cjs default exports, and a function export', async () => {
    const mjs = join(dir, 'c.mjs');
    await writeFile(mjs, `export default { dbUri: '${DB}', s3: { bucket: 'mjs-bucket' }, gzipLevel: 7 };\n`);
    const cjs = join(dir, 'c.cjs');
    await writeFile(cjs, `module.exports = { dbUri: '${DB}', uploadProvider: 'file', localDirectory: '/tmp/cls' };\n`);
    const fn = join(dir, 'fn.mjs');
    await writeFile(fn, `export default async () => ({ dbUri: '${DB}', s3: { bucket: 'fn-bucket' } });\n`);
    const a = await loadConfig({ configFile: mjs, env: {}, envFile: false });
    assert.equal(a.s3.bucket, 'mjs-bucket');
    assert.equal(a.gzipLevel, 7);
    const b = await loadConfig({ configFile: cjs, env: {}, envFile: false });
    assert.equal(b.uploadProvider, 'file');
    assert.equal(b.localDirectory, '/tmp/cls');
    const f = await loadConfig({ configFile: fn, env: {}, envFile: false });
    assert.equal(f.s3.bucket, 'fn-bucket');
  });

  test('config file problems are ConfigErrors naming the file', async () => {
    const bad = join(dir, 'bad.json');
    await writeFile(bad, '{\n  "gzipLevel": 5,\n}');
    hasIssue(
      await issuesOf(() => loadConfig({ configFile: bad, env: base, envFile: false })),
      /^config file .*bad\.json: invalid JSON \(.* at line 3, column 1\)$/,
    );
    // V8 quotes the text around a syntax error; a secret there must not reach the message.
    const leaky = join(dir, 'leaky.json');
    await writeFile(leaky, '{"s3": {"secretAccessKey": wJalrXUtnFEMIK7MDENG}}');
    const leakIssues = await issuesOf(() => loadConfig({ configFile: leaky, env: base, envFile: false }));
    hasIssue(leakIssues, /^config file .*leaky\.json: invalid JSON/);
    assert.ok(!leakIssues.join('\n').includes('wJalr'), leakIssues.join('\n'));
    hasIssue(
      await issuesOf(() => loadConfig({ configFile: join(dir, 'missing.json'), env: base, envFile: false })),
      /config file .*missing\.json: not found/,
    );
    const yaml = join(dir, 'c.yaml');
    await writeFile(yaml, 'a: 1');
    hasIssue(await issuesOf(() => loadConfig({ configFile: yaml, env: base, envFile: false })), /unsupported extension "\.yaml"; expected \.json, \.js, \.mjs or \.cjs/);
    const arr = join(dir, 'arr.json');
    await writeFile(arr, '[1, 2]');
    hasIssue(await issuesOf(() => loadConfig({ configFile: arr, env: base, envFile: false })), /expected an object of options, got \[1,2\]/);
    const typo = join(dir, 'typo.json');
    await writeFile(typo, JSON.stringify({ s3: { buckett: 'x' } }));
    hasIssue(
      await issuesOf(() => loadConfig({ configFile: typo, env: base, envFile: false })),
      /^unknown option "s3\.buckett" in config file .*typo\.json \(did you mean "s3\.bucket"\?\)$/,
    );
  });
});

describe('environment coercion', () => {
  test('every environment variable is read and coerced to its type', () => {
    const env = {
      DB_URI: 'mongodb://u:pw@db1:27017,db2:27017/orders?replicaSet=rs0',
      UPLOAD_PROVIDER: 'S3',
      OUTPUT_DIRECTORY: 'prod/api-logs',
      LOCAL_DIRECTORY: '/var/archive',
      API_LOGS_COLLECTION: 'api_requests',
      JOBS_COLLECTION: 'backup_jobs',
      LOGS_COLLECTION: 'backup_logs',
      S3_BUCKET: 'logs.example-bucket',
      AWS_REGION: 'eu-west-1',
      AWS_ACCESS_KEY_ID: 'AKIAEXAMPLEKEY123456',
      AWS_SECRET_ACCESS_KEY: 'secret/KEY+value',
      AWS_SESSION_TOKEN: 'session-token-value',
      S3_ENDPOINT: 'http://127.0.0.1:9000',
      S3_FORCE_PATH_STYLE: 'yes',
      S3_PART_SIZE_MB: '16',
      S3_UPLOAD_CONCURRENCY: '8',
      S3_CHECKSUM_ALGORITHM: 'crc32c',
      S3_SSE: 'aws:kms',
      S3_KMS_KEY_ID: 'alias/archive',
      S3_STORAGE_CLASS: 'STANDARD_IA',
      S3_OBJECT_LOCK_MODE: 'GOVERNANCE',
      S3_OBJECT_LOCK_DAYS: '30',
      AZURE_STORAGE_ACCOUNT: 'archiveacct',
      AZURE_STORAGE_KEY: 'c2VjcmV0LWtleQ==',
      AZURE_CONTAINER: 'api-logs',
      AZURE_ENDPOINT: 'https://archiveacct.blob.core.chinacloudapi.cn',
      AZURE_BLOCK_SIZE_MB: '4',
      AZURE_UPLOAD_CONCURRENCY: '2',
      AZURE_IMMUTABILITY_DAYS: '365',
      AZURE_IMMUTABILITY_MODE: 'Locked',
      AZURE_LEGAL_HOLD: 'yes',
      RETRY_ATTEMPTS: '0',
      MONGO_RETRY_MAX_DELAY_MS: '30000',
      MONGO_GIVE_UP_AFTER_SECONDS: '3600',
      MONGO_NOTIFY_AFTER_SECONDS: '0',
      LOG_LEVEL: 'DEBUG',
      LOG_CONSOLE: 'no',
      LOG_FORMAT: 'json',
      SPOOL_DIRECTORY: '/var/spool/cls',
      TIMESTAMP_FIELD: 'meta.time',
      TIMEZONE: 'America/New_York',
      CHECKPOINT_INTERVAL_MS: ' 250 ',
      GZIP_LEVEL: '9',
      GZIP_BURST_LEVEL: '3',
      JSON_MODE: 'ejson',
      CAPTURE_OPERATIONS: 'insert, update,replace,',
      CAPTURE_MODE: 'change-stream',
      QUERY_SETTLE_SECONDS: '30',
      QUERY_POLL_INTERVAL_MS: '250',
      SHUTDOWN_GRACE_MS: '0',
      STANDBY: 'true',
      LEASE_TTL_SECONDS: '6',
      SEAL_SCHEDULE: '0 */10 * * * *',
      SEAL_GRACE_SECONDS: '0',
      PURGE_AFTER: '30d',
      PURGE_BATCH_SIZE: '500',
      PURGE_MAX_DOCUMENTS_PER_SECOND: '0',
      KEY_TEMPLATE: '{prefix}/dt={date}/hour={hour}/{date}-{hour}{fold}{part}.ndjson.gz',
      RESTORE_BATCH_SIZE: '250',
      METRICS_PORT: '9464',
      WEBHOOK_URL: 'https://hooks.example.com/services/T1/B2/abcdef',
    };
    const c = parseConfig({}, env);
    const expected: Config = {
      dbUri: env.DB_URI,
      database: 'orders',
      uploadProvider: 's3',
      outputDirectory: 'prod/api-logs',
      localDirectory: '/var/archive',
      collections: { apiLogsCollectionName: 'api_requests', jobsCollectionName: 'backup_jobs', logsCollectionName: 'backup_logs' },
      s3: {
        bucket: 'logs.example-bucket',
        region: 'eu-west-1',
        accessKeyId: 'AKIAEXAMPLEKEY123456',
        secretAccessKey: 'secret/KEY+value',
        sessionToken: 'session-token-value',
        endpoint: 'http://127.0.0.1:9000',
        forcePathStyle: true,
        partSizeMB: 16,
        queueSize: 8,
        checksumAlgorithm: 'CRC32C',
        serverSideEncryption: 'aws:kms',
        kmsKeyId: 'alias/archive',
        storageClass: 'STANDARD_IA',
        objectLockMode: 'GOVERNANCE',
        objectLockDays: 30,
      },
      azure: {
        account: 'archiveacct',
        accountKey: 'c2VjcmV0LWtleQ==',
        container: 'api-logs',
        endpoint: 'https://archiveacct.blob.core.chinacloudapi.cn',
        blockSizeMB: 4,
        concurrency: 2,
        immutabilityDays: 365,
        immutabilityMode: 'locked',
        legalHold: true,
      },
      retryAttempts: 0,
      mongoRetry: { maxDelayMs: 30000, giveUpAfterSeconds: 3600, notifyAfterSeconds: 0 },
      logging: { level: 'debug', enableConsole: false, format: 'json' },
      spoolDirectory: '/var/spool/cls',
      timestampField: 'meta.time',
      timezone: 'America/New_York',
      checkpointIntervalMs: 250,
      gzipLevel: 9,
      gzipBurstLevel: 3,
      jsonMode: 'ejson',
      captureOperations: ['insert', 'update', 'replace'],
      captureMode: 'change-stream',
      querySettleSeconds: 30,
      queryPollIntervalMs: 250,
      shutdownGraceMs: 0,
      standby: true,
      leaseTtlSeconds: 6,
      sealSchedule: '0 */10 * * * *',
      sealGraceSeconds: 0,
      purge: { after: '30d', batchSize: 500, maxDocumentsPerSecond: 0 },
      keyTemplate: '{prefix}/dt={date}/hour={hour}/{date}-{hour}{fold}{part}.ndjson.gz',
      restoreBatchSize: 250,
      metricsPort: 9464,
      webhookUrl: 'https://hooks.example.com/services/T1/B2/abcdef',
    };
    assert.deepEqual(c, expected);
  });

  test('booleans accept true/false, 1/0, yes/no in any case', () => {
    for (const [text, value] of [
      ['true', true],
      ['TRUE', true],
      ['1', true],
      ['yes', true],
      ['false', false],
      ['0', false],
      ['No', false],
    ] as const) {
      assert.equal(parseConfig({}, { ...base, S3_FORCE_PATH_STYLE: text }).s3.forcePathStyle, value, text);
    }
  });

  test('empty variables count as unset', () => {
    const c = parseConfig({}, { ...base, GZIP_LEVEL: '', S3_SSE: '  ', AWS_ACCESS_KEY_ID: '' });
    assert.equal(c.gzipLevel, 6);
    assert.equal(c.s3.serverSideEncryption, undefined);
  });

  test('a bad value names the variable and the option, with the expectation and the value', async () => {
    const issues = await issuesOf(() =>
      parseConfig({}, { ...base, GZIP_LEVEL: '11', RETRY_ATTEMPTS: 'five', LOG_CONSOLE: 'maybe', S3_PART_SIZE_MB: '4.5' }),
    );
    assert.ok(issues.includes('GZIP_LEVEL (gzipLevel): expected an integer from 1 to 9, got "11"'), issues.join('\n'));
    assert.ok(issues.includes('RETRY_ATTEMPTS (retryAttempts): expected an integer from 0 to 20, got "five"'), issues.join('\n'));
    hasIssue(issues, /^LOG_CONSOLE \(logging\.enableConsole\): expected true or false .*got "maybe"$/);
    hasIssue(issues, /^S3_PART_SIZE_MB \(s3\.partSizeMB\): expected an integer from 5 to 5120 \(MiB\), got "4\.5"$/);
  });

  test('a bad value from .env is labelled with the file', async () => {
    const envFile = join(dir, 'bad.env');
    await writeFile(envFile, `DB_URI=${DB}\nS3_BUCKET=ok-bucket\nCAPTURE_OPERATIONS=insert,upsert\n`);
    const issues = await issuesOf(() => loadConfig({ env: {}, envFile }));
    hasIssue(issues, /^CAPTURE_OPERATIONS \(captureOperations, in .*bad\.env\): expected a non-empty list of "insert", "update", "replace" or "delete", got "insert,upsert"$/);
  });

  test('coerceOptionString parses CLI flag strings like the environment', async () => {
    assert.equal(coerceOptionString('gzipLevel', '7'), 7);
    assert.equal(coerceOptionString('s3.forcePathStyle', 'yes'), true);
    assert.deepEqual(coerceOptionString('captureOperations', 'insert,DELETE'), ['insert', 'delete']);
    hasIssue(await issuesOf(() => coerceOptionString('gzipLevel', 'x')), /^gzipLevel: expected an integer from 1 to 9, got "x"$/);
  });
});

describe('validation', () => {
  test('every problem is reported at once, each naming the option and what is expected', async () => {
    const issues = await issuesOf(() =>
      parseConfig(
        {
          dbUri: DB,
          sealSchedule: '61 * * * *',
          timezone: 'Mars/Olympus',
          uploadProvider: 'ftp' as 's3',
          gzipLevel: 0,
          checkpointIntervalMs: 10,
          outputDirectory: '/logs/../x/',
          timestampField: '$createdAt',
          s3: { bucket: 'My_Bucket', checksumAlgorithm: 'CRC64NVME' as 'SHA256', endpoint: 'ftp://x' },
          metricsPort: 70000,
          webhookUrl: 'not a url',
        },
        {},
      ),
    );
    assert.equal(issues.length, 12, issues.join('\n'));
    hasIssue(issues, /^sealSchedule: invalid cron expression \(minute: .*61.*\); expected 5 fields .* or 6 with seconds first, e\.g\. "5 \* \* \* \*", got "61 \* \* \* \*"$/);
    hasIssue(issues, /^timezone: expected an IANA time zone name such as "UTC" or "Europe\/Berlin", got "Mars\/Olympus"$/);
    hasIssue(issues, /^uploadProvider: expected one of "s3", "azure" or "file", got "ftp"$/);
    hasIssue(issues, /^gzipLevel: expected an integer from 1 to 9, got 0$/);
    hasIssue(issues, /^checkpointIntervalMs: expected an integer from 50 to 60000 \(ms\), got 10$/);
    hasIssue(issues, /^outputDirectory: expected a key prefix .*no leading or trailing "\/".*got "\/logs\/\.\.\/x\/"$/);
    hasIssue(issues, /^timestampField: expected a document field path .*no "\$".*got "\$createdAt"$/);
    hasIssue(issues, /^s3\.bucket: expected an S3 bucket name: 3–63 characters of lowercase letters.*got "My_Bucket"$/);
    hasIssue(issues, /^s3\.checksumAlgorithm: expected one of "SHA256", "CRC32C", "MD5" or "NONE", got "CRC64NVME"$/);
    hasIssue(issues, /^s3\.endpoint: expected an http\(s\) URL .*got a ftp:\/\/ URL$/);
    hasIssue(issues, /^metricsPort: expected an integer from 0 to 65535, got 70000$/);
    hasIssue(issues, /^webhookUrl: expected an http\(s\) URL$/);
  });

  test('missing dbUri and missing bucket for s3 are named with their env variables', async () => {
    const issues = await issuesOf(() => parseConfig({}, {}));
    hasIssue(issues, /^dbUri: required; expected a mongodb:\/\/ or mongodb\+srv:\/\/ connection string .* \(set dbUri or DB_URI\)$/);
    hasIssue(issues, /^s3\.bucket: required when uploadProvider is "s3"; expected an S3 bucket name.*\(set s3\.bucket or S3_BUCKET\)$/);
  });

  test('a dbUri without a database, or not a MongoDB URI, is explained with an example', async () => {
    for (const uri of ['mongodb://localhost:27017', 'mongodb://localhost:27017/', 'mongodb+srv://cluster0.example.net/']) {
      const issues = await issuesOf(() => parseConfig({ dbUri: uri }, { S3_BUCKET: 'b-1' }));
      hasIssue(issues, /^dbUri: the URI names no database: expected the database as the URI's path, e\.g\. mongodb:\/\/localhost:27017\/myapp/);
    }
    hasIssue(
      await issuesOf(() => parseConfig({ dbUri: 'postgres://localhost/myapp' }, { S3_BUCKET: 'b-1' })),
      /^dbUri: expected a mongodb:\/\/ or mongodb\+srv:\/\/ connection string, got a postgres:\/\/ URI$/,
    );
    hasIssue(
      await issuesOf(() => parseConfig({ dbUri: 'mongodb://localhost/local' }, { S3_BUCKET: 'b-1' })),
      /^dbUri: database "local" in the URI path is a system database: change streams cannot watch it/,
    );
    hasIssue(
      await issuesOf(() => parseConfig({ dbUri: 'mongodb://localhost/my.app' }, { S3_BUCKET: 'b-1' })),
      /^dbUri: database "my\.app" in the URI path is not a valid database name/,
    );
  });

  test('the database is the percent-decoded URI path, options and hosts aside', () => {
    assert.equal(parseConfig({ dbUri: 'mongodb+srv://u:p@cluster0.example.net/my-app?retryWrites=true' }, base).database, 'my-app');
    assert.equal(parseConfig({ dbUri: 'mongodb://h1:1,h2:2/caf%C3%A9?replicaSet=rs' }, base).database, 'café');
  });

  test('unknown keys are rejected with a suggestion', async () => {
    const issues = await issuesOf(() =>
      parseConfig({ s3: { buckett: 'x' }, colections: {}, bucket: 'b', S3_REGION: 'x', database: 'x', logging: { levle: 'info' } } as never, base),
    );
    assert.ok(issues.includes('unknown option "s3.buckett" (did you mean "s3.bucket"?)'), issues.join('\n'));
    assert.ok(issues.includes('unknown option "colections" (did you mean "collections"?)'), issues.join('\n'));
    assert.ok(issues.includes('unknown option "bucket" (did you mean "s3.bucket"?)'), issues.join('\n'));
    assert.ok(issues.includes('unknown option "logging.levle" (did you mean "logging.level"?)'), issues.join('\n'));
    hasIssue(issues, /^unknown option "database": the database is derived from dbUri/);
    hasIssue(issues, /^unknown option "S3_REGION"/);
    assert.equal(issues.length, 6, issues.join('\n'));
  });

  test('a group given as a scalar is explained', async () => {
    hasIssue(await issuesOf(() => parseConfig({ s3: 'my-bucket' } as never, base)), /^s3: expected an object with the s3\.\* options, got "my-bucket"$/);
  });

  test('rules across options', async () => {
    const withKeyOnly = await issuesOf(() => parseConfig({ s3: { accessKeyId: 'AKIAEXAMPLE' } }, base));
    hasIssue(withKeyOnly, /^s3\.secretAccessKey: required when s3\.accessKeyId is set/);
    const token = await issuesOf(() => parseConfig({ s3: { sessionToken: 'tok-123456' } }, base));
    hasIssue(token, /^s3\.sessionToken: only valid with s3\.accessKeyId and s3\.secretAccessKey/);
    const kms = await issuesOf(() => parseConfig({ s3: { serverSideEncryption: 'AES256', kmsKeyId: 'alias/x' } }, base));
    hasIssue(kms, /^s3\.kmsKeyId: only valid with s3\.serverSideEncryption "aws:kms"/);
    const lock = await issuesOf(() => parseConfig({ s3: { objectLockMode: 'COMPLIANCE' } }, base));
    hasIssue(lock, /^s3\.objectLockDays: required when s3\.objectLockMode is set/);
    const same = await issuesOf(() => parseConfig({}, { ...base, JOBS_COLLECTION: 'apilogs' }));
    hasIssue(same, /^collections\.jobsCollectionName: same collection "apilogs" as collections\.apiLogsCollectionName/);
    const byQuery = await issuesOf(() => parseConfig({ captureMode: 'query', captureOperations: ['insert', 'delete'] }, base));
    hasIssue(byQuery, /^captureOperations: only "insert" can be captured with captureMode "query"/);
    assert.equal(parseConfig({ captureMode: 'query' }, base).captureMode, 'query');
    // Valid combinations pass.
    const ok = parseConfig(
      { s3: { accessKeyId: 'AKIAEXAMPLE', secretAccessKey: 'abc/def', serverSideEncryption: 'aws:kms', kmsKeyId: 'alias/x', objectLockMode: 'GOVERNANCE', objectLockDays: 7 } },
      base,
    );
    assert.equal(ok.s3.objectLockDays, 7);
  });

  test('a rule is not reported on top of an invalid value it depends on', async () => {
    const issues = await issuesOf(() => parseConfig({ s3: { bucket: 'Bad_Name' } }, { DB_URI: DB }));
    assert.equal(issues.length, 1, issues.join('\n'));
  });

  test('cron: 5 fields, 6 with seconds, impossible dates and wrong field counts', async () => {
    assert.equal(parseConfig({ sealSchedule: '*/15 * * * * *' }, base).sealSchedule, '*/15 * * * * *');
    for (const bad of ['* * * *', '0 0 30 2 *', 'every hour', '5 * * * * * *']) {
      hasIssue(await issuesOf(() => parseConfig({}, { ...base, SEAL_SCHEDULE: bad })), /^SEAL_SCHEDULE \(sealSchedule\): invalid cron expression/);
    }
  });

  test('secret values are never echoed in messages', async () => {
    const secret = 'wJalrXUtnFEMI K7MDENG';
    const issues = await issuesOf(() =>
      parseConfig({}, { ...base, DB_URI: 'mongodb://user:hunter2hunter2@localhost:27017', AWS_ACCESS_KEY_ID: 'AKIA', AWS_SECRET_ACCESS_KEY: secret, WEBHOOK_URL: 'ftp://hooks/T0/secret-path' }),
    );
    hasIssue(issues, /^AWS_SECRET_ACCESS_KEY \(s3\.secretAccessKey\): expected a secret access key without whitespace$/);
    hasIssue(issues, /^DB_URI \(dbUri\): the URI names no database/);
    hasIssue(issues, /^WEBHOOK_URL \(webhookUrl\): expected an http\(s\) URL, got a ftp:\/\/ URL$/);
    const all = issues.join('\n');
    assert.ok(!all.includes('wJalr') && !all.includes('hunter2') && !all.includes('secret-path'), all);
  });
});

describe('connection strings the driver cannot use (exit 2, not a failure when connecting)', () => {
  test('a bad port, an option without a value or one the driver refuses names dbUri and what was expected', async () => {
    const cases: Array<[string, RegExp]> = [
      ['mongodb://u:p@host:notaport/db', /^dbUri: the port "notaport" of host "host" in the URI: expected a number from 1 to 65535/],
      ['mongodb://h1:27017,h2:99999/db', /^dbUri: the port "99999" of host "h2" in the URI: expected a number from 1 to 65535/],
      ['mongodb://[::1]:x/db', /^dbUri: the port "x" of host "\[::1\]" in the URI: expected a number from 1 to 65535/],
      ['mongodb://u:p@host/db?authSource=', /^dbUri: the URI option "authSource" has no value: expected "authSource=<value>", or no "authSource" option$/],
      ['mongodb://host/db?replicaSet=', /^dbUri: the URI option "replicaSet" has no value/],
      ['mongodb://host/db?frobnicate=1', /^dbUri: the MongoDB driver cannot use this connection string: option frobnicate is not supported; expected the options documented at https:/],
      ['mongodb://host/db?readPreference=bogus', /^dbUri: the MongoDB driver cannot use this connection string: Invalid read preference mode "bogus"; expected/],
      ['mongodb://host/db?tls=maybe', /^dbUri: the MongoDB driver cannot use this connection string: .*tls.*; expected/],
      ['mongodb://u:p:w@host/db', /^dbUri: not a valid MongoDB connection string \(Password contains unescaped characters\); expected .* percent-encoded \(@ as %40/],
    ];
    for (const [dbUri, pattern] of cases) hasIssue(await issuesOf(() => parseConfig({ dbUri }, base)), pattern);
    // Valid forms still pass: IPv6 with a port, several hosts, srv, options with values.
    for (const dbUri of ['mongodb://[::1]:27017/db', 'mongodb://h1,h2:27018/db?replicaSet=rs0&authSource=admin', 'mongodb+srv://u:p@cluster0.example.net/db']) {
      assert.equal(parseConfig({ dbUri }, base).dbUri, dbUri);
    }
  });
});

describe('secrets in configuration problems', () => {
  test('an S3_ENDPOINT with credentials is refused without repeating them', async () => {
    for (const endpoint of ['http://ak:SECRET-KEY-1@minio:9000', 'http://ak:SE CRET/ü%@minio:9000']) {
      const issues = await issuesOf(() => parseConfig({}, { ...base, S3_ENDPOINT: endpoint }));
      hasIssue(issues, /^S3_ENDPOINT \(s3\.endpoint\): expected an http\(s\) URL such as "http:\/\/localhost:9000"/);
      assert.ok(!issues.join('\n').includes('SE'), issues.join('\n'));
    }
  });

  test('sensitive values are registered with the redactor before they are validated, whatever they hold', async () => {
    const dbPassword = 'p@ss w:rd/%ü€ 1';
    const endpointPassword = 'SE CRET:ü€ 2';
    const secret = 'wJal rXUt@nF:EMI/K7%MD€';
    await issuesOf(() =>
      parseConfig({}, {
        ...base,
        DB_URI: `mongodb://archiver:${dbPassword}@localhost:notaport/myapp`,
        S3_ENDPOINT: `http://ak:${endpointPassword}@minio:9000`,
        AWS_ACCESS_KEY_ID: 'AKIAEXAMPLE',
        AWS_SECRET_ACCESS_KEY: secret,
      }),
    );
    const text = `db ${dbPassword}, endpoint ${endpointPassword}, key ${secret}, encoded ${encodeURIComponent(dbPassword)}`;
    assert.equal(redact(text), 'db ****, endpoint ****, key ****, encoded ****');
  });
});

describe('safeConfigView', () => {
  test('prints the config with every secret hidden', () => {
    const c = parseConfig(
      {
        dbUri: 'mongodb://archiver:p%40ss-w0rd@db:27017/myapp',
        s3: { bucket: 'b-1', accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG', sessionToken: 'FwoGZXIvYXdzEtoken' },
        webhookUrl: 'https://hooks.slack.com/services/T000/B000/XXXXSECRET',
      },
      {},
    );
    const view = safeConfigView(c);
    const text = JSON.stringify(view);
    for (const secret of ['p%40ss-w0rd', 'p@ss-w0rd', 'wJalrXUtnFEMI', 'FwoGZXIv', 'XXXXSECRET', 'AKIAIOSFODNN7EXA']) {
      assert.ok(!text.includes(secret), `${secret} in ${text}`);
    }
    assert.equal(view.dbUri, 'mongodb://archiver:****@db:27017/myapp');
    assert.deepEqual((view.s3 as Record<string, unknown>).secretAccessKey, '****');
    assert.equal((view.s3 as Record<string, unknown>).accessKeyId, '****MPLE');
    assert.equal(view.webhookUrl, 'https://hooks.slack.com/****');
    assert.equal(view.database, 'myapp');
    assert.equal(view.gzipLevel, 6);
  });
});

test('keyTemplate is validated with the key layout rules', () => {
  assert.throws(
    () => parseConfig({}, { DB_URI: 'mongodb://localhost:27017/app', S3_BUCKET: 'logs', KEY_TEMPLATE: '../{date}/{hour}{part}.ndjson.gz' }),
    (err: Error) => {
      assert.match(err.message, /KEY_TEMPLATE \(keyTemplate\)/);
      assert.match(err.message, /\.\./);
      assert.match(err.message, /\{fold\}/);
      return true;
    },
  );
});
