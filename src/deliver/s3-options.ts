/**
 * The options of the S3 destination and what they resolve to: validated by the option table's
 * rules (src/config/destination-check.ts, the same checks and messages as a configuration file), with the
 * defaults applied, the part size in bytes, the retry policy, and the request parameters every
 * write carries (checksum algorithm, encryption) or every object carries (storage class, Object
 * Lock retention).
 */
import type { PutObjectCommandInput, StorageClass } from '@aws-sdk/client-s3';
import { s3OptionProblems, s3Preset, withS3Preset, type S3ChecksumAlgorithm, type S3Preset, type S3Provider } from '../config/index.js';
import { ConfigError } from '../errors.js';
import type { Logger } from '../log.js';
import { retryPolicy, type RetryPolicy } from '../retry.js';
import type { PartChecksumAlgorithm } from './checksum.js';
import { safeEndpoint } from './errors.js';

export interface S3Options {
  /** The store (default aws): its preset gives the defaults of region, endpoint, path style and checksum mode. */
  provider?: S3Provider;
  bucket: string;
  /** Default per provider: us-east-1 (aws, minio, wasabi), auto (r2, gcs); required for b2. */
  region?: string;
  /** Cloudflare account ID: fills in the r2 endpoint. */
  accountId?: string;
  accessKeyId?: string;
  secretAccessKey?: string;
  sessionToken?: string;
  /** S3-compatible endpoint URL, e.g. `http://127.0.0.1:9000`. */
  endpoint?: string;
  /** Path-style URLs (`endpoint/bucket/key`), needed by most S3-compatible servers. Default false for aws, true for the others. */
  forcePathStyle?: boolean;
  /** Multipart part size in MiB. Default 8, minimum 5 (S3's limit), maximum 5120. */
  partSizeMB?: number;
  /** Parts uploaded concurrently. Default 4. */
  queueSize?: number;
  /** How parts are protected in transit: x-amz-checksum-sha256/-crc32c, Content-MD5, or nothing. Default per provider (SHA256 for aws). */
  checksumAlgorithm?: S3ChecksumAlgorithm;
  serverSideEncryption?: 'AES256' | 'aws:kms';
  /** KMS key id/ARN/alias; only with serverSideEncryption 'aws:kms'. */
  kmsKeyId?: string;
  storageClass?: string;
  objectLockMode?: 'GOVERNANCE' | 'COMPLIANCE';
  /** Retention of each object: retain-until = upload time + this many days. */
  objectLockDays?: number;
}

/** Advanced knobs, mostly for tests; the defaults suit production. */
export interface DestinationTuning {
  /** Base of the retry backoff (ms). Default 200. */
  retryBaseDelayMs?: number;
  /** Cap of one retry delay (ms). Default 20000. */
  retryMaxDelayMs?: number;
  /** TCP connect timeout (ms). Default 10000. */
  connectTimeoutMs?: number;
  /** A request whose socket sees no traffic for this long fails and is retried (ms). Default 120000. */
  socketTimeoutMs?: number;
  /** ListObjectsV2 page size. Default 1000. */
  listPageSize?: number;
}

export interface S3DestinationOptions {
  s3: S3Options;
  /** Retries of each failed request (0 = try once). */
  retryAttempts: number;
  logger?: Logger;
  tuning?: DestinationTuning;
}

/** The S3 options resolved: defaults applied, sizes in bytes. */
export interface S3Settings {
  /** The options with the provider's preset applied (region, endpoint, path style, checksum mode). */
  readonly s3: Readonly<S3Options & { region: string }>;
  readonly provider: S3Provider;
  readonly preset: S3Preset;
  readonly bucket: string;
  readonly region: string;
  /** The custom endpoint without credentials, for messages. */
  readonly endpoint: string | undefined;
  readonly partSize: number;
  readonly queueSize: number;
  readonly algorithm: PartChecksumAlgorithm;
  readonly listPageSize: number;
  readonly connectTimeoutMs: number;
  readonly socketTimeoutMs: number;
  readonly policy: RetryPolicy;
}

const MiB = 1024 * 1024;
const DEFAULT_REGION = 'us-east-1';
const DEFAULT_PART_SIZE_MB = 8;
const DEFAULT_QUEUE_SIZE = 4;

/** Validates the options (a ConfigError lists every problem) and applies the defaults. */
export function resolveS3Settings(options: S3DestinationOptions): S3Settings {
  const problems = s3OptionProblems(options.s3, options.retryAttempts);
  if (problems.length > 0) throw new ConfigError(problems);
  const withPreset = withS3Preset(options.s3);
  const s3 = Object.freeze({ ...withPreset, region: withPreset.region ?? DEFAULT_REGION });
  const tuning = options.tuning ?? {};
  const provider = s3.provider ?? 'aws';
  return Object.freeze({
    s3,
    provider,
    preset: s3Preset(provider),
    bucket: s3.bucket,
    region: s3.region,
    endpoint: s3.endpoint !== undefined ? safeEndpoint(s3.endpoint) : undefined,
    partSize: Math.round((s3.partSizeMB ?? DEFAULT_PART_SIZE_MB) * MiB),
    queueSize: s3.queueSize ?? DEFAULT_QUEUE_SIZE,
    algorithm: s3.checksumAlgorithm ?? 'SHA256',
    listPageSize: tuning.listPageSize ?? 1000,
    connectTimeoutMs: tuning.connectTimeoutMs ?? 10_000,
    socketTimeoutMs: tuning.socketTimeoutMs ?? 120_000,
    policy: retryPolicy(options.retryAttempts, {
      ...(tuning.retryBaseDelayMs !== undefined ? { baseDelayMs: tuning.retryBaseDelayMs } : {}),
      ...(tuning.retryMaxDelayMs !== undefined ? { maxDelayMs: tuning.retryMaxDelayMs } : {}),
    }),
  });
}

/** Part size for an object of `size` bytes: the configured one, grown to stay within the store's part count (10,000). */
export function partSizeFor(settings: Pick<S3Settings, 'partSize' | 'preset'>, size: number): number {
  return Math.max(settings.partSize, Math.ceil(size / settings.preset.maxParts / MiB) * MiB);
}

/**
 * What every write request carries: the checksum algorithm (SHA256 / CRC32C only: it becomes
 * `x-amz-sdk-checksum-algorithm` / `x-amz-checksum-algorithm`, which MD5 and NONE never send) and
 * server-side encryption.
 */
export function writeParams(settings: S3Settings): Partial<PutObjectCommandInput> {
  const { s3 } = settings;
  return {
    ...(settings.algorithm === 'SHA256' || settings.algorithm === 'CRC32C' ? { ChecksumAlgorithm: settings.algorithm } : {}),
    ...(s3.serverSideEncryption !== undefined ? { ServerSideEncryption: s3.serverSideEncryption } : {}),
    ...(s3.kmsKeyId !== undefined ? { SSEKMSKeyId: s3.kmsKeyId } : {}),
  };
}

/** What every archived object carries besides: its storage class and Object Lock retention (from now). */
export function objectParams(settings: S3Settings): Partial<PutObjectCommandInput> {
  const { s3 } = settings;
  return {
    ...(s3.storageClass !== undefined ? { StorageClass: s3.storageClass as StorageClass } : {}),
    ...(s3.objectLockMode !== undefined && s3.objectLockDays !== undefined
      ? { ObjectLockMode: s3.objectLockMode, ObjectLockRetainUntilDate: new Date(Date.now() + s3.objectLockDays * 86_400_000) }
      : {}),
  };
}

/** The Content-Type of an object by its key's extension. */
export function contentTypeFor(key: string): string {
  if (key.endsWith('.gz')) return 'application/gzip';
  if (key.endsWith('.json')) return 'application/json';
  if (key.endsWith('.ndjson')) return 'application/x-ndjson';
  return 'application/octet-stream';
}
