/**
 * THE option table. Every configuration option is declared once here with its place in the
 * config object, its type (a value check, src/config/value-schema.ts), default, environment
 * variable and documentation. The
 * `Config` type, the defaults, the env-name mapping, env coercion, validation messages and
 * docs/configuration.md (scripts/gen-config-docs.ts) are all derived from it.
 *
 * Sources, highest precedence first: overrides (library config object / CLI flags) > config
 * file (--config) > environment > .env file > defaults.
 */
import { DEFAULT_KEY_TEMPLATE, validateKeyTemplate } from '../hours/keys.js';
import { checkDuration } from './duration.js';
import { boolean, integer, listOf, oneOf, text, type OptionTree } from './option-def.js';
import { S3_CHECKSUM_ALGORITHMS, S3_PROVIDERS } from './s3-presets.js';
import {
  BUCKET_EXPECTED,
  checkBucket,
  checkCollection,
  checkConnectionString,
  checkContainer,
  checkCron,
  checkDbUri,
  checkFieldPath,
  checkHttpUrl,
  checkNoWhitespace,
  checkPath,
  checkPrefix,
  checkTimezone,
  COLLECTION_EXPECTED,
  CONTAINER_EXPECTED,
  DB_URI_EXAMPLE,
} from './value-checks.js';

export const CAPTURE_OPERATIONS = ['insert', 'update', 'replace', 'delete'] as const;
export const S3_STORAGE_CLASSES = [
  'STANDARD',
  'REDUCED_REDUNDANCY',
  'STANDARD_IA',
  'ONEZONE_IA',
  'INTELLIGENT_TIERING',
  'GLACIER',
  'GLACIER_IR',
  'DEEP_ARCHIVE',
  'OUTPOSTS',
  'SNOW',
  'EXPRESS_ONEZONE',
  'FSX_OPENZFS',
  'FSX_ONTAP',
] as const;
export const LOG_LEVELS = ['error', 'warn', 'info', 'debug'] as const;

export const optionTable = {
  dbUri: text({
    env: 'DB_URI',
    required: true,
    sensitive: 'uri-password',
    expected: `a mongodb:// or mongodb+srv:// connection string with the database as its path, e.g. ${DB_URI_EXAMPLE}`,
    type: 'MongoDB URI',
    example: 'mongodb://archiver:secret@db1:27017,db2:27017/myapp?replicaSet=rs0',
    checks: [checkDbUri],
    doc:
      'MongoDB connection string of the application database: a replica set or sharded cluster (captured with a change stream), or a standalone server (captured by query, see `captureMode`). ' +
      'The database is the URI path (`mongodb://localhost:27017/myapp` → `myapp`) and is exposed as `config.database`. ' +
      'Its password is never logged. The URI\'s own options win over the archiver\'s: `serverSelectionTimeoutMS` (default 15000) and `appName` (default `cron-log-service`, what the server\'s logs and `currentOp` show).',
  }),
  uploadProvider: oneOf(['s3', 'azure', 'file'], {
    env: 'UPLOAD_PROVIDER',
    default: 's3',
    doc: 'Where sealed hours are delivered: `s3` (an S3 bucket or S3-compatible store, see `s3.*`), `azure` (an Azure Blob Storage container, see `azure.*`) or `file` (a local directory, `localDirectory`).',
  }),
  outputDirectory: text({
    env: 'OUTPUT_DIRECTORY',
    default: 'api-logs',
    expected: 'a key prefix such as "api-logs" or "prod/api-logs"',
    type: 'key prefix',
    checks: [checkPrefix],
    doc: 'Key prefix of every archived object (`{prefix}` in `keyTemplate`), in the bucket or under `localDirectory`. No leading or trailing `/`, no `.` or `..` segments.',
  }),
  localDirectory: text({
    env: 'LOCAL_DIRECTORY',
    default: './archive',
    expected: 'a directory path',
    type: 'path',
    checks: [checkPath],
    doc: 'Root directory of the `file` upload provider; objects are written below it at their keys. Relative paths resolve against the working directory.',
  }),
  collections: {
    apiLogsCollectionName: text({
      env: 'API_LOGS_COLLECTION',
      default: 'apilogs',
      expected: COLLECTION_EXPECTED,
      type: 'collection name',
      checks: [checkCollection],
      doc: 'The collection of API logs to archive (watched with a change stream).',
    }),
    jobsCollectionName: text({
      env: 'JOBS_COLLECTION',
      default: 'jobs',
      expected: COLLECTION_EXPECTED,
      type: 'collection name',
      checks: [checkCollection],
      doc: "The archiver's own state: checkpoints (resume token and spool offsets), hour states and leases.",
    }),
    logsCollectionName: text({
      env: 'LOGS_COLLECTION',
      default: 'logs',
      expected: COLLECTION_EXPECTED,
      type: 'collection name',
      checks: [checkCollection],
      doc: 'One record per processed hour: delivered objects and the reconcile result.',
    }),
  },
  s3: {
    provider: oneOf(S3_PROVIDERS, {
      env: 'S3_PROVIDER',
      doc:
        'The S3 store (absent: `aws`), whose preset gives the defaults of `s3.endpoint`, `s3.forcePathStyle`, `s3.checksumAlgorithm` and `s3.region` (an option set explicitly wins): ' +
        '`aws` (AWS S3: SHA256, virtual-hosted), `r2` (Cloudflare R2: `https://<s3.accountId>.r2.cloudflarestorage.com`, region `auto`, MD5), ' +
        '`gcs` (Google Cloud Storage XML API with HMAC keys: `https://storage.googleapis.com`, region `auto`, MD5), `b2` (Backblaze B2: `https://s3.<region>.backblazeb2.com`, MD5), ' +
        '`minio` (set `s3.endpoint`; SHA256), `wasabi` (`https://s3.<region>.wasabisys.com`, MD5); all but `aws` use path-style URLs. ' +
        "Each store's known differences: docs/s3-providers.md.",
    }),
    bucket: text({
      env: 'S3_BUCKET',
      expected: BUCKET_EXPECTED,
      type: 'bucket name',
      checks: [checkBucket],
      example: 'my-logs-bucket',
      requiredWhen: 'uploadProvider is `s3`',
      doc: 'Destination bucket. Required when `uploadProvider` is `s3`.',
    }),
    region: text({
      env: 'AWS_REGION',
      default: 'us-east-1',
      expected: 'a region name such as "us-east-1" (lowercase letters, digits and hyphens)',
      type: 'region',
      checks: [(v) => (/^[a-z0-9]+(-[a-z0-9]+)*$/.test(v) ? undefined : 'expected a region name such as "us-east-1" (lowercase letters, digits and hyphens)')],
      doc: 'Region of the bucket (S3-compatible stores often accept any value, e.g. `auto`). Default per `s3.provider`: `auto` for `r2` and `gcs`; required for `b2` (e.g. `us-west-004`); else `us-east-1`.',
    }),
    accountId: text({
      env: 'S3_ACCOUNT_ID',
      expected: 'a Cloudflare account ID (32 hexadecimal characters)',
      type: 'account ID',
      checks: [(v) => (/^[0-9a-f]{32}$/i.test(v) ? undefined : 'expected a Cloudflare account ID (32 hexadecimal characters)')],
      doc: 'Cloudflare account ID: with `s3.provider: r2`, the endpoint is `https://<accountId>.r2.cloudflarestorage.com` unless `s3.endpoint` is set. Only valid with `r2`.',
    }),
    accessKeyId: text({
      env: 'AWS_ACCESS_KEY_ID',
      sensitive: 'identifier',
      expected: 'an access key ID',
      checks: [checkNoWhitespace('an access key ID')],
      doc: 'Static credentials: access key ID, together with `s3.secretAccessKey`. When both are absent the AWS default provider chain is used (environment, shared config/SSO profile, web identity, ECS/EC2 instance role).',
    }),
    secretAccessKey: text({
      env: 'AWS_SECRET_ACCESS_KEY',
      sensitive: 'secret',
      expected: 'a secret access key',
      checks: [checkNoWhitespace('a secret access key')],
      doc: 'Static credentials: secret access key, together with `s3.accessKeyId`. Never logged or printed.',
    }),
    sessionToken: text({
      env: 'AWS_SESSION_TOKEN',
      sensitive: 'secret',
      expected: 'a session token',
      checks: [checkNoWhitespace('a session token')],
      doc: 'Session token of temporary static credentials (needs `s3.accessKeyId` and `s3.secretAccessKey`). Never logged or printed.',
    }),
    endpoint: text({
      env: 'S3_ENDPOINT',
      sensitive: 'uri-password',
      expected: 'an http(s) URL such as "http://localhost:9000"',
      type: 'URL',
      checks: [checkHttpUrl('an http(s) URL such as "http://localhost:9000"', false)],
      example: 'http://localhost:9000',
      doc: 'Endpoint of an S3-compatible store (MinIO, Ceph, R2, s3rver, …). Absent: the endpoint of `s3.provider` (AWS S3 of `s3.region` for `aws`; required for `minio`).',
    }),
    forcePathStyle: boolean({
      env: 'S3_FORCE_PATH_STYLE',
      default: false,
      doc: 'Address the bucket as `endpoint/bucket/key` instead of `bucket.endpoint/key` (most S3-compatible stores need this). Default per `s3.provider`: false for `aws`, true for the others.',
    }),
    partSizeMB: integer({
      env: 'S3_PART_SIZE_MB',
      default: 8,
      min: 5,
      max: 5120,
      unit: 'MiB',
      doc: 'Multipart upload part size. S3 requires at least 5 MiB per part (but the last) and allows 10,000 parts: 8 MiB covers 78 GiB per hour file.',
    }),
    queueSize: integer({
      env: 'S3_UPLOAD_CONCURRENCY',
      default: 4,
      min: 1,
      max: 64,
      doc: 'Parts uploaded concurrently per object. Parts of a file are sent as streams of its byte ranges, never held in memory whole: a put holds one 1 MiB read buffer and 256 KiB of read-ahead per part in flight, whatever `partSizeMB` (a small in-memory object, e.g. a manifest, is sent from its own buffer).',
    }),
    checksumAlgorithm: oneOf(S3_CHECKSUM_ALGORITHMS, {
      env: 'S3_CHECKSUM_ALGORITHM',
      default: 'SHA256',
      doc:
        'How every part (and a single-part object) is protected in transit: `SHA256` / `CRC32C` send an `x-amz-checksum-*` header the store verifies and records (AWS S3, recent MinIO); ' +
        '`MD5` sends `Content-MD5`, which nearly every S3-compatible store checks (R2, GCS, B2, Wasabi refuse or ignore `x-amz-checksum-*`); `NONE` sends no integrity header. ' +
        "Default per `s3.provider` (SHA256 for `aws` and `minio`, MD5 for the others). Whatever the mode, the manifest keeps each object's SHA-256 and the stored object is verified after the upload: " +
        'by its checksum, by its ETag where that is an MD5 the archiver can predict, else by reading it back.',
    }),
    serverSideEncryption: oneOf(['AES256', 'aws:kms'], {
      env: 'S3_SSE',
      doc: 'Server-side encryption requested for each object. Absent: the bucket default.',
    }),
    kmsKeyId: text({
      env: 'S3_KMS_KEY_ID',
      expected: 'a KMS key ID, alias or ARN',
      type: 'KMS key',
      checks: [checkNoWhitespace('a KMS key ID, alias or ARN')],
      doc: 'KMS key for `s3.serverSideEncryption: aws:kms` (only valid with it). Absent: the AWS managed key.',
    }),
    storageClass: oneOf(S3_STORAGE_CLASSES, {
      env: 'S3_STORAGE_CLASS',
      type: 'storage class',
      doc: 'Storage class of archived objects. Absent: the bucket default (`STANDARD`).',
    }),
    objectLockMode: oneOf(['GOVERNANCE', 'COMPLIANCE'], {
      env: 'S3_OBJECT_LOCK_MODE',
      doc: 'Object Lock retention mode applied to each object (the bucket must have Object Lock enabled). Set together with `s3.objectLockDays`.',
    }),
    objectLockDays: integer({
      env: 'S3_OBJECT_LOCK_DAYS',
      min: 1,
      max: 36500,
      unit: 'days',
      doc: 'Object Lock retention period, counted from the upload. Set together with `s3.objectLockMode`.',
    }),
  },
  azure: {
    connectionString: text({
      env: 'AZURE_STORAGE_CONNECTION_STRING',
      sensitive: 'connection-string',
      expected: 'an Azure Storage connection string such as "DefaultEndpointsProtocol=https;AccountName=…;AccountKey=…;EndpointSuffix=core.windows.net"',
      type: 'connection string',
      checks: [checkConnectionString],
      doc: 'Connection string of the storage account (the Azure SDK\'s usual variable), with an account key or a SAS. Either this or `azure.account`. Its key and signature are never logged or printed.',
    }),
    account: text({
      env: 'AZURE_STORAGE_ACCOUNT',
      expected: 'a storage account name: 3–24 lowercase letters and digits',
      type: 'account name',
      checks: [(v) => (/^[a-z0-9]{3,24}$/.test(v) ? undefined : 'expected a storage account name: 3–24 lowercase letters and digits')],
      doc: 'Storage account name, when `azure.connectionString` is not set: with `azure.accountKey` (shared key), or without it through Azure AD (`DefaultAzureCredential`: environment `AZURE_CLIENT_ID`/`AZURE_TENANT_ID`/`AZURE_CLIENT_SECRET`, workload identity, managed identity, Azure CLI login); the identity needs the *Storage Blob Data Contributor* role.',
    }),
    accountKey: text({
      env: 'AZURE_STORAGE_KEY',
      sensitive: 'secret',
      expected: 'a storage account key (base64)',
      checks: [(v) => (/^[A-Za-z0-9+/]+={0,2}$/.test(v.trim()) ? undefined : 'expected a storage account key (base64)')],
      doc: 'Shared key of `azure.account`. Absent: Azure AD through `DefaultAzureCredential`. Never logged or printed.',
    }),
    container: text({
      env: 'AZURE_CONTAINER',
      expected: CONTAINER_EXPECTED,
      type: 'container name',
      checks: [checkContainer],
      example: 'api-logs',
      requiredWhen: 'uploadProvider is `azure`',
      doc: 'Destination container (it must exist). Required when `uploadProvider` is `azure`.',
    }),
    endpoint: text({
      env: 'AZURE_ENDPOINT',
      sensitive: 'uri-password',
      expected: 'an http(s) URL of the blob service such as "https://myaccount.blob.core.windows.net" or "http://127.0.0.1:10000/devstoreaccount1"',
      type: 'URL',
      checks: [checkHttpUrl('an http(s) URL of the blob service such as "https://myaccount.blob.core.windows.net" or "http://127.0.0.1:10000/devstoreaccount1"', false)],
      example: 'http://127.0.0.1:10000/devstoreaccount1',
      doc: 'Blob service URL for `azure.account`: a sovereign cloud (`https://<account>.blob.core.chinacloudapi.cn`), a private endpoint, or Azurite (`http://127.0.0.1:10000/devstoreaccount1`). Absent: `https://<account>.blob.core.windows.net`. Not with `azure.connectionString` (it names its own `BlobEndpoint`).',
    }),
    blockSizeMB: integer({
      env: 'AZURE_BLOCK_SIZE_MB',
      default: 8,
      min: 1,
      max: 4000,
      unit: 'MiB',
      doc: 'Size of each staged block. A blob holds at most 50,000 blocks: the block size grows for larger hour files (8 MiB covers 390 GiB).',
    }),
    concurrency: integer({
      env: 'AZURE_UPLOAD_CONCURRENCY',
      default: 4,
      min: 1,
      max: 64,
      doc: 'Blocks staged concurrently per blob. A put holds at most `blockSizeMB × (concurrency + 1)` of block buffers.',
    }),
    immutabilityDays: integer({
      env: 'AZURE_IMMUTABILITY_DAYS',
      min: 1,
      max: 36500,
      unit: 'days',
      doc: 'Time-based retention of each blob, counted from the upload (`x-ms-immutability-policy-until-date`): it cannot be deleted or overwritten before. The container (or account) needs version-level immutability support enabled. Absent: no per-blob policy (a container-level policy still applies).',
    }),
    immutabilityMode: oneOf(['unlocked', 'locked'], {
      env: 'AZURE_IMMUTABILITY_MODE',
      default: 'unlocked',
      doc: 'Mode of the per-blob policy of `azure.immutabilityDays`: `unlocked` (the retention can still be shortened or removed by an authorised user, for testing the setup) or `locked` (compliance: it can only be extended).',
    }),
    legalHold: boolean({
      env: 'AZURE_LEGAL_HOLD',
      default: false,
      doc: 'Put a legal hold on each blob (`x-ms-legal-hold`): it cannot be deleted or overwritten until the hold is cleared. Needs version-level immutability support on the container.',
    }),
  },
  retryAttempts: integer({
    env: 'RETRY_ATTEMPTS',
    default: 5,
    min: 0,
    max: 20,
    doc: 'Retries of each failed delivery request (every S3 request; a local write of the `file` provider) that may succeed when tried again (throttling, 5xx, timeouts, network errors, as the AWS SDK classifies them), with exponential backoff and full jitter; an upload restarts whole (within the same budget) only when a request retry cannot help. When they run out, the hour stays sealed, is reported failed and is delivered on the next seal run. MongoDB operations do not use it (see `mongoRetry.*`).',
  }),
  mongoRetry: {
    maxDelayMs: integer({
      env: 'MONGO_RETRY_MAX_DELAY_MS',
      default: 10000,
      min: 100,
      max: 600000,
      unit: 'ms',
      doc:
        'When MongoDB cannot be reached (network errors, no primary: an election, a restart, a maintenance window), `run` keeps waiting and tries to reopen its change stream, ' +
        'each try waiting up to the URI\'s `serverSelectionTimeoutMS` (default 15 s) for a server, with exponential backoff and full jitter from 500 ms up to this cap between tries. ' +
        'Meanwhile `/readyz` answers 503 with the reason, `cronlog_mongo_up` is 0, and capture resumes from its checkpoint when MongoDB is back (nothing lost, nothing repeated).',
    }),
    giveUpAfterSeconds: integer({
      env: 'MONGO_GIVE_UP_AFTER_SECONDS',
      min: 1,
      unit: 's',
      doc: 'Stop `run` (exit code 3, `MONGO_UNAVAILABLE`) once MongoDB has been unreachable this long. Absent: never give up (retry until MongoDB is back or the process is stopped).',
    }),
    notifyAfterSeconds: integer({
      env: 'MONGO_NOTIFY_AFTER_SECONDS',
      default: 60,
      min: 0,
      max: 86400,
      unit: 's',
      doc: 'Post a `mongo-unavailable` event to `webhookUrl` once MongoDB has been unreachable this long (and `mongo-available` when it is back after such an alert). Shorter outages (a primary election) only show in logs, `/readyz` and metrics.',
    }),
  },
  logging: {
    level: oneOf(LOG_LEVELS, {
      env: 'LOG_LEVEL',
      default: 'info',
      doc: 'Least severe level written.',
    }),
    enableConsole: boolean({
      env: 'LOG_CONSOLE',
      default: true,
      doc: 'Write logs to stderr (stdout is reserved for command output). `false` silences logging.',
    }),
    format: oneOf(['auto', 'json', 'pretty'], {
      env: 'LOG_FORMAT',
      default: 'auto',
      doc: '`json`: one JSON object per line (`timestamp`, `level`, `name`, `message`, `meta`). `pretty`: readable lines. `auto`: pretty when stderr is a terminal, JSON otherwise.',
    }),
  },
  spoolDirectory: text({
    env: 'SPOOL_DIRECTORY',
    default: './spool',
    expected: 'a directory path',
    type: 'path',
    checks: [checkPath],
    doc: 'Local directory of the hourly spool files (gzip NDJSON) and their checkpoints. Must be on durable storage; relative paths resolve against the working directory.',
  }),
  timestampField: text({
    env: 'TIMESTAMP_FIELD',
    default: 'createdAt',
    expected: 'a document field path such as "createdAt" or "meta.time"',
    type: 'field path',
    checks: [checkFieldPath],
    doc: 'Field that decides the hour a document belongs to (dots for nested fields). Documents without a date there from 1970 up to year 9999 (none, not a date, or e.g. 0001-01-01) fall back to the ObjectId time, then the cluster time.',
  }),
  timezone: text({
    env: 'TIMEZONE',
    default: 'UTC',
    expected: 'an IANA time zone name such as "UTC" or "Europe/Berlin"',
    type: 'IANA zone',
    checks: [checkTimezone],
    doc: 'Time zone of hour boundaries and of `{date}`/`{hour}` in keys. DST-correct: days have 23 or 25 hours at the transitions; where the offset changes by 30 minutes (Australia/Lord_Howe), the rest of the local hour after the change is a 30-minute hour of its own.',
  }),
  checkpointIntervalMs: integer({
    env: 'CHECKPOINT_INTERVAL_MS',
    default: 1000,
    min: 50,
    max: 60000,
    unit: 'ms',
    doc: 'How often the spool is flushed (fsync, one gzip member) and the resume token checkpointed while events keep arriving; when the stream goes quiet (no event for 20 ms), its last events are flushed and checkpointed at once, at most every quarter of this interval. Lower: less to re-read after a crash; higher: fewer fsyncs.',
  }),
  gzipLevel: integer({
    env: 'GZIP_LEVEL',
    default: 6,
    min: 1,
    max: 9,
    doc: 'gzip compression level of spool files (1 fastest, 9 smallest).',
  }),
  gzipBurstLevel: integer({
    env: 'GZIP_BURST_LEVEL',
    default: 2,
    min: 1,
    max: 9,
    doc: 'gzip level of the spool\'s members (about 1 MiB of lines each) started while capture is catching up (the change stream\'s last batch came back full: the server holds more events than a batch) or outruns compression (two or more members still being compressed), until both end: a burst is captured at about twice the speed for a sixth more bytes in the spool and the archive (API-log lines: level 2 takes 1.3 CPU-µs a line and writes 60.9 bytes, level 1 the same time and 64.5 bytes, level 6 3.0-3.3 µs and 52.3 bytes). The files stay valid gzip with the same lines. Equal to or above `GZIP_LEVEL`: off. Counted in `cronlog_spool_gzip_burst_members_total`.',
  }),
  jsonMode: oneOf(['analytics', 'ejson'], {
    env: 'JSON_MODE',
    default: 'analytics',
    doc: 'Document encoding. `analytics`: plain JSON for Athena/DuckDB/BigQuery (ObjectId → hex string, Date → ISO string, Decimal128/Long → string). `ejson`: MongoDB Extended JSON (canonical), lossless and restorable with mongoimport.',
  }),
  captureOperations: listOf(CAPTURE_OPERATIONS, {
    env: 'CAPTURE_OPERATIONS',
    default: ['insert'],
    doc: 'Change stream operations archived. API logs are append-only, so `insert` is usually all; `update`/`replace` archive the full document after the change, `delete` its `_id`. Env: a comma-separated list.',
  }),
  captureMode: oneOf(['auto', 'change-stream', 'query'], {
    env: 'CAPTURE_MODE',
    default: 'auto',
    doc:
      'How `run` reads new documents. `change-stream`: a change stream (a replica set or sharded cluster). `query`: capture by query, for servers without change streams ' +
      '(a standalone `mongod`): new documents are read by `timestampField` (and `_id` as a tie breaker) once they are `querySettleSeconds` old; documents written later than that ' +
      'for their own timestamp are found by each seal run and delivered as a late part of their hour (README, "Standalone servers: capture by query"). ' +
      '`auto`: change streams when the server has them (a replica set member, mongos, a load-balanced connection), else by query; `run` logs which and why.',
  }),
  querySettleSeconds: integer({
    env: 'QUERY_SETTLE_SECONDS',
    default: 5,
    min: 0,
    max: 86400,
    unit: 's',
    doc:
      'Capture by query: a document is read once its timestamp is this far in the past, so writes in flight (a request that took its timestamp a moment before its insert, ' +
      'clocks of application servers slightly ahead) land before capture passes their timestamp. Longer: fewer documents go to late parts; shorter: less delay. ' +
      'Keep it below `sealGraceSeconds`, or documents of an hour\'s last seconds go to a late part. The capture lag (`/readyz`, metrics) includes it.',
  }),
  queryPollIntervalMs: integer({
    env: 'QUERY_POLL_INTERVAL_MS',
    default: 1000,
    min: 10,
    max: 60000,
    unit: 'ms',
    doc: 'Capture by query: once caught up, how long to wait before the next query for new documents.',
  }),
  shutdownGraceMs: integer({
    env: 'SHUTDOWN_GRACE_MS',
    default: 10000,
    min: 0,
    max: 600000,
    unit: 'ms',
    doc: 'On SIGTERM/SIGINT, time allowed to flush the spool and checkpoint before exiting anyway (the next start resumes from the last checkpoint).',
  }),
  standby: boolean({
    env: 'STANDBY',
    default: false,
    doc:
      '`run` as a standby (also `run --standby`): while another process holds the namespace lease it waits instead of exiting with code 3, trying to take the lease every ' +
      'third of `leaseTtlSeconds`, and takes over within `leaseTtlSeconds` plus that interval of the active process dying or freezing (at once when it was a process of this host that is gone). ' +
      'Meanwhile it captures nothing and runs no seal schedule; `/readyz` answers 200 saying it is a standby and whom it waits for, and `cronlog_role{role="standby"}` is 1. ' +
      'Several standbys may wait: exactly one takes over.',
  }),
  leaseTtlSeconds: integer({
    env: 'LEASE_TTL_SECONDS',
    default: 30,
    min: 3,
    max: 3600,
    unit: 's',
    doc:
      'Lifetime of the namespace lease that `run` (and `seal`) hold, renewed every third of it. A holder that dies or freezes on another host is taken over once its lease expires: ' +
      'shorter means a faster failover, but a holder that cannot renew for this long (a long GC pause, a MongoDB outage) loses the lease. Each acquisition gets a new epoch; a process that lost the lease is refused on its next write and exits with code 3.',
  }),
  sealSchedule: text({
    env: 'SEAL_SCHEDULE',
    default: '5 * * * *',
    expected: 'a cron expression with 5 fields, or 6 with seconds first, e.g. "5 * * * *"',
    type: 'cron',
    checks: [checkCron],
    doc: 'When finished hours are sealed, uploaded and reconciled (cron, evaluated in `timezone`). Each run handles every finished hour not yet delivered, so a missed run loses nothing.',
  }),
  sealGraceSeconds: integer({
    env: 'SEAL_GRACE_SECONDS',
    default: 120,
    min: 0,
    max: 86400,
    unit: 's',
    doc: 'An hour is sealed only this long after it ended, so late writes (clock skew, slow requests) still land in it. Documents arriving later go to a late part of their hour.',
  }),
  purge: {
    after: text({
      env: 'PURGE_AFTER',
      expected: 'a duration such as "30d", "12h", "90m" or "2w"',
      type: 'duration',
      checks: [checkDuration],
      example: '30d',
      doc:
        '`run` purges from MongoDB, after each scheduled seal run, the documents of every hour that ended this long ago and is proven archived at that moment ' +
        '(sealed and delivered, every listed object read back with the manifest\'s size and SHA-256, and the hour\'s `_id`s in MongoDB and in the archive the same), like ' +
        '`purge --older-than <this>`; other hours are skipped and recorded in `logs` with the reason (README, "Retention"). Absent (the default): `run` never deletes anything from MongoDB.',
    }),
    batchSize: integer({
      env: 'PURGE_BATCH_SIZE',
      default: 1000,
      min: 1,
      max: 100000,
      doc: 'Documents `purge` deletes per `deleteMany` (by `_id`). Smaller: shorter operations on the server and less work lost to a crash; larger: fewer round trips.',
    }),
    maxDocumentsPerSecond: integer({
      env: 'PURGE_MAX_DOCUMENTS_PER_SECOND',
      default: 5000,
      min: 0,
      unit: 'documents/s',
      doc: 'The most documents `purge` deletes per second, over the whole purge (batches are paced to it), so that it does not crowd out the application on a production database. 0: no limit.',
    }),
  },
  keyTemplate: text({
    env: 'KEY_TEMPLATE',
    default: DEFAULT_KEY_TEMPLATE,
    expected: 'a key template',
    type: 'template',
    checks: [(v) => {
      const problems = validateKeyTemplate(v);
      return problems.length > 0 ? problems.join('; ') : undefined;
    }],
    example: '{prefix}/dt={date}/hour={hour}/{date}-{hour}{fold}{part}.ndjson.gz',
    doc:
      'Object key of an hour\'s data objects; the manifest sits beside the first one as `….manifest.json`. Placeholders: `{prefix}` (outputDirectory), ' +
      '`{date}` (yyyy-MM-dd), `{yyyy}` `{MM}` `{dd}`, `{hour}` and `{nextHour}` (`00`–`24`, so the last hour is `23-24`), `{offset}` (`+0100`), ' +
      '`{fold}` (empty, or `.2` for the second occurrence of a local hour repeated by a DST fall-back), `{part}` (empty for the first object, ' +
      '`.part2`, `.part3` for late parts and parts added by repair; `.rev1`… on revisions written by earlier versions, which rebuilt hours). Must contain `{date}` (or `{yyyy}{MM}{dd}`), `{hour}`, `{fold}` and `{part}`, ' +
      'end with `.ndjson.gz`, and have no `..` or empty segment. Hive-style example: `{prefix}/dt={date}/hour={hour}/{date}-{hour}{fold}{part}.ndjson.gz`.',
  }),
  restoreBatchSize: integer({
    env: 'RESTORE_BATCH_SIZE',
    default: 5000,
    min: 1,
    max: 100000,
    doc: '`restore`: documents per insertMany batch (also capped at 8 MiB of JSON). Smaller batches weigh less on a busy production database; larger ones restore faster.',
  }),
  metricsPort: integer({
    env: 'METRICS_PORT',
    min: 0,
    max: 65535,
    doc:
      'Port of the Prometheus `/metrics`, `/healthz` and `/readyz` endpoints and of the dashboard (`/`, `/api/*`). Absent: no HTTP server; 0: a random free port. ' +
      'It listens on every interface (Prometheus scrapes it from another host); the dashboard answers only loopback clients unless `dashboardToken` is set.',
  }),
  dashboardToken: text({
    env: 'DASHBOARD_TOKEN',
    sensitive: 'secret',
    expected: 'a token of at least 16 characters without whitespace',
    type: 'token',
    checks: [checkNoWhitespace('a token'), (v: string) => (v.length >= 16 ? undefined : `expected a token of at least 16 characters, got ${v.length}`)],
    doc:
      'Bearer token of the dashboard (`run` on `metricsPort`, and the `dashboard` command): the page and `/api/*` then need `Authorization: Bearer <token>` or `?token=<token>`, ' +
      'and answer clients on any interface. Absent: the dashboard answers loopback clients only. `/metrics`, `/healthz` and `/readyz` never need it.',
  }),
  webhookUrl: text({
    env: 'WEBHOOK_URL',
    sensitive: 'url-token',
    expected: 'an http(s) URL',
    type: 'URL',
    checks: [checkHttpUrl('an http(s) URL', true)],
    example: 'https://hooks.slack.com/services/T0123ABCD/B0456EFGH/abcdefghijklmnopqrstuvwx',
    doc: 'Receives a JSON POST when an hour fails or does not reconcile. Its path and query are treated as secret (webhook URLs embed tokens).',
  }),
} as const satisfies OptionTree;

export type OptionTable = typeof optionTable;
