/**
 * THE option table. Every configuration option is declared once here with its place in the
 * config object, its type (a zod schema), default, environment variable and documentation. The
 * `Config` type, the defaults, the env-name mapping, env coercion, validation messages and
 * docs/configuration.md (scripts/gen-config-docs.ts) are all derived from it.
 *
 * Sources, highest precedence first: overrides (library config object / CLI flags) > config
 * file (--config) > environment > .env file > defaults.
 */
import { IANAZone } from 'luxon';
import { ConnectionString } from 'mongodb-connection-string-url';
import { validateDetailed } from 'node-cron';
import { z } from 'zod';

import { redact } from '../redact.js';
import { DEFAULT_KEY_TEMPLATE, validateKeyTemplate } from '../hours/keys.js';

/** How an option's value is hidden when config is printed or a value is reported. */
export type Sensitivity =
  /** Never shown: replaced by `****`. */
  | 'secret'
  /** A URI whose password is replaced by `****`. */
  | 'uri-password'
  /** A URL whose path and query (which carry the token) are replaced by `****`. */
  | 'url-token'
  /** An identifier shown masked but for its last 4 characters, like `aws configure list`. */
  | 'identifier';

/** How a string from the environment (or .env) is turned into the option's type. */
export type EnvKind = 'string' | 'integer' | 'boolean' | 'enum' | 'list';

/** 'always': the option always has a value in Config (default or required); else optional. */
export type Presence = 'always' | 'optional';

export interface OptionDef<T = unknown, P extends Presence = Presence> {
  readonly kind: 'option';
  /** Environment variable name. */
  readonly env: string;
  /** Short type for docs, e.g. `integer 1–9`, `"s3" | "file"`. */
  readonly type: string;
  /** What a valid value is, used in error messages: `expected ${expected}`. */
  readonly expected: string;
  /** Documentation (Markdown). */
  readonly doc: string;
  readonly default: T | undefined;
  readonly presence: P;
  /** Required with no default (an error when missing). */
  readonly required: boolean;
  /** Validates a typed value; every issue message reads as `expected …` or a specific problem. */
  readonly schema: z.ZodType<T>;
  readonly envKind: EnvKind;
  /** Allowed values of an enum or list option. */
  readonly choices?: readonly string[];
  readonly sensitive?: Sensitivity;
  /** An example value for docs. */
  readonly example?: string;
  /** Docs: when an option without default is required (checked by a cross rule). */
  readonly requiredWhen?: string;
}

/** A nested group of options (a plain object in the config). */
export interface OptionTree {
  readonly [key: string]: OptionDef<unknown, Presence> | OptionTree;
}

export function isOptionDef(node: OptionDef<unknown, Presence> | OptionTree): node is OptionDef<unknown, Presence> {
  return (node as { kind?: unknown }).kind === 'option';
}

// ---------------------------------------------------------------------------------------------
// Builders
// ---------------------------------------------------------------------------------------------

interface Common {
  env: string;
  doc: string;
  sensitive?: Sensitivity;
  example?: string;
  /** Docs: when an option without default is required (checked by a cross rule). */
  requiredWhen?: string;
  /** Docs: short type, when the derived one is too long. */
  type?: string;
}

/** A refinement: returns a problem message, or undefined when the value is fine. */
type Check<T> = (value: T) => string | undefined;

function def<T, P extends Presence>(
  spec: Common & {
    type: string;
    expected: string;
    schema: z.ZodType<T>;
    envKind: EnvKind;
    default?: T;
    required?: boolean;
    choices?: readonly string[];
  },
): OptionDef<T, P> {
  const required = spec.required === true;
  const presence = (spec.default !== undefined || required ? 'always' : 'optional') as P;
  return {
    kind: 'option',
    env: spec.env,
    type: spec.type,
    expected: spec.expected,
    doc: spec.doc,
    default: spec.default,
    presence,
    required,
    schema: spec.schema,
    envKind: spec.envKind,
    ...(spec.choices === undefined ? {} : { choices: spec.choices }),
    ...(spec.sensitive === undefined ? {} : { sensitive: spec.sensitive }),
    ...(spec.example === undefined ? {} : { example: spec.example }),
    ...(spec.requiredWhen === undefined ? {} : { requiredWhen: spec.requiredWhen }),
  };
}

function withChecks<T>(schema: z.ZodType<T>, checks: readonly Check<T>[]): z.ZodType<T> {
  if (checks.length === 0) return schema;
  return schema.superRefine((value, ctx) => {
    for (const check of checks) {
      const problem = check(value);
      if (problem !== undefined) {
        ctx.addIssue({ code: 'custom', message: problem });
        return;
      }
    }
  });
}

interface TextSpec extends Common {
  expected: string;
  checks?: readonly Check<string>[];
}

function text(spec: TextSpec & { default: string }): OptionDef<string, 'always'>;
function text(spec: TextSpec & { required: true }): OptionDef<string, 'always'>;
function text(spec: TextSpec): OptionDef<string, 'optional'>;
function text(spec: TextSpec & { default?: string; required?: boolean }): OptionDef<string, Presence> {
  const expected = spec.expected;
  const schema = withChecks(
    z.string({ error: `expected ${expected}` }).min(1, { error: `expected ${expected}, not an empty string` }),
    spec.checks ?? [],
  );
  return def({ ...spec, type: spec.type ?? 'string', schema, envKind: 'string' });
}

interface IntSpec extends Common {
  min: number;
  max?: number;
  unit?: string;
}

function integer(spec: IntSpec & { default: number }): OptionDef<number, 'always'>;
function integer(spec: IntSpec): OptionDef<number, 'optional'>;
function integer(spec: IntSpec & { default?: number }): OptionDef<number, Presence> {
  const unit = spec.unit === undefined ? '' : ` (${spec.unit})`;
  const expected =
    spec.max === undefined
      ? `an integer >= ${spec.min}${unit}`
      : `an integer from ${spec.min} to ${spec.max}${unit}`;
  const error = `expected ${expected}`;
  let schema = z.int({ error }).min(spec.min, { error });
  if (spec.max !== undefined) schema = schema.max(spec.max, { error });
  const type = spec.max === undefined ? `integer ≥ ${spec.min}` : `integer ${spec.min}–${spec.max}`;
  return def({ ...spec, type: spec.type ?? (spec.unit === undefined ? type : `${type} (${spec.unit})`), expected, schema, envKind: 'integer' });
}

function boolean(spec: Common & { default: boolean }): OptionDef<boolean, 'always'> {
  const expected = 'true or false (env: true/false, 1/0, yes/no)';
  return def({ ...spec, type: 'boolean', expected, schema: z.boolean({ error: `expected ${expected}` }), envKind: 'boolean' });
}

function quoteList(values: readonly string[]): string {
  const quoted = values.map((v) => `"${v}"`);
  return quoted.length <= 2 ? quoted.join(' or ') : `${quoted.slice(0, -1).join(', ')} or ${quoted.at(-1) ?? ''}`;
}

function oneOf<const V extends readonly [string, ...string[]]>(
  values: V,
  spec: Common & { default: V[number] },
): OptionDef<V[number], 'always'>;
function oneOf<const V extends readonly [string, ...string[]]>(values: V, spec: Common): OptionDef<V[number], 'optional'>;
function oneOf<const V extends readonly [string, ...string[]]>(
  values: V,
  spec: Common & { default?: V[number] },
): OptionDef<V[number], Presence> {
  const expected = `one of ${quoteList(values)}`;
  const schema = z.enum(values, { error: `expected ${expected}` }) as unknown as z.ZodType<V[number]>;
  const type = spec.type ?? values.map((v) => `\`${v}\``).join(' | ');
  return def({ ...spec, type, expected, schema, envKind: 'enum', choices: values });
}

function listOf<const V extends readonly [string, ...string[]]>(
  values: V,
  spec: Common & { default: readonly V[number][] },
): OptionDef<readonly V[number][], 'always'> {
  const expected = `a non-empty list of ${quoteList(values)}`;
  const error = `expected ${expected}`;
  const schema = z
    .array(z.enum(values, { error }), { error })
    .min(1, { error })
    .transform((list) => [...new Set(list)]) as unknown as z.ZodType<readonly V[number][]>;
  return def({
    ...spec,
    type: `list of ${values.map((v) => `\`${v}\``).join(', ')}`,
    expected,
    schema,
    envKind: 'list',
    choices: values,
  });
}

// ---------------------------------------------------------------------------------------------
// Checks
// ---------------------------------------------------------------------------------------------

const DB_URI_EXAMPLE = 'mongodb://localhost:27017/myapp';

/** The database name in a MongoDB URI's path, percent-decoded; undefined when there is none. */
export function databaseFromUri(uri: string): string | undefined {
  try {
    const path = new ConnectionString(uri).pathname.replace(/^\//, '');
    return path === '' ? undefined : decodeURIComponent(path);
  } catch {
    return undefined;
  }
}

function checkDbUri(uri: string): string | undefined {
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(uri)?.[1];
  if (scheme === undefined) {
    return `expected a mongodb:// or mongodb+srv:// connection string, e.g. ${DB_URI_EXAMPLE}`;
  }
  if (scheme !== 'mongodb' && scheme !== 'mongodb+srv') {
    return `expected a mongodb:// or mongodb+srv:// connection string, got a ${scheme}:// URI`;
  }
  let parsed: ConnectionString;
  try {
    parsed = new ConnectionString(uri);
  } catch (err) {
    return `not a valid MongoDB connection string (${redact((err as Error).message)}); expected e.g. ${DB_URI_EXAMPLE}`;
  }
  const path = parsed.pathname.replace(/^\//, '');
  if (path === '') {
    return `the URI names no database: expected the database as the URI's path, e.g. ${DB_URI_EXAMPLE} (add "/<database>" after the host list)`;
  }
  let db: string;
  try {
    db = decodeURIComponent(path);
  } catch {
    return 'the database name in the URI path is not valid percent-encoding';
  }
  const problem = databaseNameProblem(db);
  return problem === undefined ? undefined : `database "${db}" in the URI path ${problem}`;
}

function databaseNameProblem(db: string): string | undefined {
  if (/[/\\. "$*<>:|?\0]/.test(db)) return 'is not a valid database name: expected no / \\ . space " $ * < > : | ? characters';
  if (Buffer.byteLength(db) > 63) return 'is not a valid database name: expected at most 63 bytes';
  if (['admin', 'local', 'config'].includes(db)) {
    return 'is a system database: change streams cannot watch it; expected the application database';
  }
  return undefined;
}

const COLLECTION_EXPECTED = 'a MongoDB collection name (no "$" or NUL, not starting with "system.", at most 120 bytes)';

function checkCollection(name: string): string | undefined {
  if (name.includes('$') || name.includes('\0') || name.startsWith('system.') || Buffer.byteLength(name) > 120) {
    return `expected ${COLLECTION_EXPECTED}`;
  }
  return undefined;
}

const BUCKET_EXPECTED =
  'an S3 bucket name: 3–63 characters of lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit';

function checkBucket(name: string): string | undefined {
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(name)) return `expected ${BUCKET_EXPECTED}`;
  if (name.includes('..')) return `expected ${BUCKET_EXPECTED}, without two adjacent dots`;
  if (/^\d+\.\d+\.\d+\.\d+$/.test(name)) return `expected ${BUCKET_EXPECTED}, not formatted as an IP address`;
  if (/^(xn--|sthree-|amzn-s3-demo-)/.test(name) || /(-s3alias|--ol-s3|\.mrap|--x-s3|--table-s3)$/.test(name)) {
    return `expected ${BUCKET_EXPECTED}, without a prefix or suffix reserved by AWS`;
  }
  return undefined;
}

function checkHttpUrl(what: string, allowCredentials: boolean): Check<string> {
  return (value) => {
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      return `expected ${what}`;
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return `expected ${what}, got a ${url.protocol}// URL`;
    if (!allowCredentials && (url.username !== '' || url.password !== '')) {
      return `expected ${what} without user:password (credentials go in s3.accessKeyId/s3.secretAccessKey)`;
    }
    return undefined;
  };
}

function checkPrefix(prefix: string): string | undefined {
  const expected =
    'a key prefix such as "api-logs" or "prod/api-logs": no leading or trailing "/", no empty, "." or ".." segments, no backslash or control characters, at most 512 characters';
  if (prefix.startsWith('/') || prefix.endsWith('/') || prefix.length > 512) return `expected ${expected}`;
  // eslint-disable-next-line no-control-regex
  if (/[\\\u0000-\u001f\u007f]/.test(prefix)) return `expected ${expected}`;
  if (prefix.split('/').some((segment) => segment === '' || segment === '.' || segment === '..')) {
    return `expected ${expected}`;
  }
  return undefined;
}

function checkPath(value: string): string | undefined {
  return value.includes('\0') ? 'expected a file system path without NUL characters' : undefined;
}

function checkFieldPath(value: string): string | undefined {
  if (value.includes('$') || value.includes('\0') || value.split('.').some((segment) => segment === '')) {
    return 'expected a document field path such as "createdAt" or "meta.time": no "$", no empty segments';
  }
  return undefined;
}

function checkTimezone(zone: string): string | undefined {
  return IANAZone.isValidZone(zone) ? undefined : 'expected an IANA time zone name such as "UTC" or "Europe/Berlin"';
}

function checkCron(expression: string): string | undefined {
  const result = validateDetailed(expression);
  if (result.valid) return undefined;
  const why = result.errors.map((e) => (e.field === 'expression' ? e.message : `${e.field}: ${e.message}`)).join('; ');
  return `invalid cron expression (${why}); expected 5 fields "minute hour day-of-month month day-of-week" or 6 with seconds first, e.g. "5 * * * *"`;
}

function checkNoWhitespace(what: string): Check<string> {
  return (value) => (/\s/.test(value) ? `expected ${what} without whitespace` : undefined);
}

// ---------------------------------------------------------------------------------------------
// The table
// ---------------------------------------------------------------------------------------------

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
      'MongoDB connection string of the application database (a replica set or sharded cluster: change streams need one). ' +
      'The database is the URI path (`mongodb://localhost:27017/myapp` → `myapp`) and is exposed as `config.database`. ' +
      'Its password is never logged.',
  }),
  uploadProvider: oneOf(['s3', 'file'], {
    env: 'UPLOAD_PROVIDER',
    default: 's3',
    doc: 'Where sealed hours are delivered: `s3` (an S3 bucket or S3-compatible store, see `s3.*`) or `file` (a local directory, `localDirectory`).',
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
      doc: 'Region of the bucket (S3-compatible stores often accept any value, e.g. `auto`).',
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
      expected: 'an http(s) URL such as "http://localhost:9000"',
      type: 'URL',
      checks: [checkHttpUrl('an http(s) URL such as "http://localhost:9000"', false)],
      example: 'http://localhost:9000',
      doc: 'Endpoint of an S3-compatible store (MinIO, Ceph, R2, s3rver, …). Absent: AWS S3 of `s3.region`.',
    }),
    forcePathStyle: boolean({
      env: 'S3_FORCE_PATH_STYLE',
      default: false,
      doc: 'Address the bucket as `endpoint/bucket/key` instead of `bucket.endpoint/key` (most S3-compatible stores need this).',
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
      doc: 'Parts uploaded concurrently per object. A put holds at most `partSizeMB × (queueSize + 1)` of part buffers (the parts in flight and the one being read).',
    }),
    checksumAlgorithm: oneOf(['SHA256', 'CRC32C'], {
      env: 'S3_CHECKSUM_ALGORITHM',
      default: 'SHA256',
      doc: 'Checksum S3 verifies for every part and records for the object.',
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
    doc: 'Field that decides the hour a document belongs to (dots for nested fields). Documents without it fall back to the ObjectId time, then the cluster time.',
  }),
  timezone: text({
    env: 'TIMEZONE',
    default: 'UTC',
    expected: 'an IANA time zone name such as "UTC" or "Europe/Berlin"',
    type: 'IANA zone',
    checks: [checkTimezone],
    doc: 'Time zone of hour boundaries and of `{date}`/`{hour}` in keys. DST-correct: days have 23 or 25 hours at the transitions.',
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
  shutdownGraceMs: integer({
    env: 'SHUTDOWN_GRACE_MS',
    default: 10000,
    min: 0,
    max: 600000,
    unit: 'ms',
    doc: 'On SIGTERM/SIGINT, time allowed to flush the spool and checkpoint before exiting anyway (the next start resumes from the last checkpoint).',
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
      '`.part2`, `.part3` for late parts, `.rev1`… appended for rebuilt revisions). Must contain `{date}` (or `{yyyy}{MM}{dd}`), `{hour}`, `{fold}` and `{part}`, ' +
      'end with `.ndjson.gz`, and have no `..` or empty segment. Hive-style example: `{prefix}/dt={date}/hour={hour}/{date}-{hour}{fold}{part}.ndjson.gz`.',
  }),
  metricsPort: integer({
    env: 'METRICS_PORT',
    min: 0,
    max: 65535,
    doc: 'Port of the Prometheus `/metrics` and `/healthz` endpoint. Absent: no HTTP server; 0: a random free port.',
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

// ---------------------------------------------------------------------------------------------
// Derived types
// ---------------------------------------------------------------------------------------------

type Simplify<T> = { [K in keyof T]: T[K] } & {};
type AnyDef = OptionDef<unknown, Presence>;
type ValueOf<N> = N extends OptionDef<infer T, Presence> ? T : never;

/** The validated config shape of an option (sub)tree: options with a default are always set. */
export type ConfigOf<N> = Simplify<
  {
    readonly [K in keyof N as N[K] extends OptionDef<unknown, 'optional'> ? never : K]: N[K] extends AnyDef
      ? ValueOf<N[K]>
      : ConfigOf<N[K]>;
  } & {
    readonly [K in keyof N as N[K] extends OptionDef<unknown, 'optional'> ? K : never]?: ValueOf<N[K]>;
  }
>;

/** What a caller may pass for an option (sub)tree: everything optional, `undefined`/`null` = not set. */
export type InputOf<N> = {
  [K in keyof N]?: (N[K] extends AnyDef ? ValueOf<N[K]> : InputOf<N[K]>) | null | undefined;
};

/** Paths of all options, e.g. "s3.bucket". */
export type OptionPath<N = OptionTable, Prefix extends string = ''> = {
  [K in keyof N & string]: N[K] extends AnyDef ? `${Prefix}${K}` : OptionPath<N[K], `${Prefix}${K}.`>;
}[keyof N & string];

// ---------------------------------------------------------------------------------------------
// Flat views
// ---------------------------------------------------------------------------------------------

export interface OptionEntry {
  /** Dotted path, e.g. "s3.bucket". */
  readonly path: OptionPath;
  readonly keys: readonly string[];
  readonly option: OptionDef<unknown, Presence>;
}

function flatten(tree: OptionTree, prefix: readonly string[]): OptionEntry[] {
  const out: OptionEntry[] = [];
  for (const [key, node] of Object.entries(tree)) {
    const keys = [...prefix, key];
    if (isOptionDef(node)) out.push({ path: keys.join('.') as OptionPath, keys, option: node });
    else out.push(...flatten(node, keys));
  }
  return out;
}

/** Every option in table order. */
export const optionList: readonly OptionEntry[] = Object.freeze(flatten(optionTable, []));

/** Option by dotted path. */
export const optionsByPath: ReadonlyMap<string, OptionEntry> = new Map(optionList.map((e) => [e.path, e]));

/** Option path by environment variable name. */
export const pathByEnv: ReadonlyMap<string, OptionPath> = new Map(optionList.map((e) => [e.option.env, e.path]));

/** Environment variable name of every option. */
export const envNames = Object.freeze(Object.fromEntries(optionList.map((e) => [e.path, e.option.env]))) as Readonly<
  Record<OptionPath, string>
>;

/** Dotted paths of the option groups ("collections", "s3", "logging"). */
export const groupPaths: readonly string[] = Object.freeze(
  [...new Set(optionList.flatMap((e) => e.keys.slice(0, -1).map((_, i) => e.keys.slice(0, i + 1).join('.'))))],
);

// ---------------------------------------------------------------------------------------------
// Rules across options
// ---------------------------------------------------------------------------------------------

/** Reports a problem about the option at `path`. */
export type ReportIssue = (path: OptionPath, message: string) => void;

/** Typed values by path; only options that are set and valid are present. */
export type ValueLookup = (path: OptionPath) => unknown;

export interface CrossRule {
  /** Documentation (Markdown), listed in docs/configuration.md. */
  readonly doc: string;
  readonly check: (get: ValueLookup, report: ReportIssue, derived: { database: string | undefined }) => void;
}

export const crossRules: readonly CrossRule[] = [
  {
    doc: '`s3.bucket` is required when `uploadProvider` is `s3`.',
    check(get, report) {
      if (get('uploadProvider') === 's3' && get('s3.bucket') === undefined) {
        report('s3.bucket', `required when uploadProvider is "s3"; expected ${BUCKET_EXPECTED}`);
      }
    },
  },
  {
    doc: '`s3.accessKeyId` and `s3.secretAccessKey` are set together or not at all (then the AWS default credential chain is used); `s3.sessionToken` needs both.',
    check(get, report) {
      const id = get('s3.accessKeyId') !== undefined;
      const secret = get('s3.secretAccessKey') !== undefined;
      if (id && !secret) report('s3.secretAccessKey', 'required when s3.accessKeyId is set (static credentials come in pairs)');
      if (secret && !id) report('s3.accessKeyId', 'required when s3.secretAccessKey is set (static credentials come in pairs)');
      if (get('s3.sessionToken') !== undefined && !(id && secret)) {
        report('s3.sessionToken', 'only valid with s3.accessKeyId and s3.secretAccessKey; expected all three or no session token');
      }
    },
  },
  {
    doc: '`s3.kmsKeyId` is only valid with `s3.serverSideEncryption: aws:kms`.',
    check(get, report) {
      if (get('s3.kmsKeyId') !== undefined && get('s3.serverSideEncryption') !== 'aws:kms') {
        report('s3.kmsKeyId', 'only valid with s3.serverSideEncryption "aws:kms"; expected s3.serverSideEncryption to be "aws:kms" or no KMS key');
      }
    },
  },
  {
    doc: '`s3.objectLockMode` and `s3.objectLockDays` are set together or not at all.',
    check(get, report) {
      const mode = get('s3.objectLockMode') !== undefined;
      const days = get('s3.objectLockDays') !== undefined;
      if (mode && !days) report('s3.objectLockDays', 'required when s3.objectLockMode is set; expected a retention in days');
      if (days && !mode) report('s3.objectLockMode', 'required when s3.objectLockDays is set; expected "GOVERNANCE" or "COMPLIANCE"');
    },
  },
  {
    doc: 'The three `collections.*` names differ (the archiver must never watch its own writes), and `<database>.<collection>` fits in 255 bytes.',
    check(get, report, { database }) {
      const paths = [
        'collections.apiLogsCollectionName',
        'collections.jobsCollectionName',
        'collections.logsCollectionName',
      ] as const;
      const seen = new Map<string, string>();
      for (const path of paths) {
        const name = get(path);
        if (typeof name !== 'string') continue;
        const other = seen.get(name);
        if (other !== undefined) {
          report(path, `same collection "${name}" as ${other}; expected three different collections`);
        } else {
          seen.set(name, path);
        }
        if (database !== undefined && Buffer.byteLength(`${database}.${name}`) > 255) {
          report(path, `namespace "${database}.${name}" is longer than 255 bytes; expected a shorter collection name`);
        }
      }
    },
  },
];
