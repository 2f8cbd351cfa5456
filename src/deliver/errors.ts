/**
 * Delivery errors: typed failures of our own (integrity, missing object) and the mapping of S3 /
 * file-system errors to one clear sentence that says what is wrong and what to check
 * (403 → credentials + IAM policy, 404 → bucket/region, bad key id or signature → credentials,
 * network → endpoint). Messages never contain secrets: they are built from error codes and our
 * own configuration names, and `redactSecrets` masks any configured secret that would still slip in.
 */
import { CronLogError } from '../errors.js';
import { errorCode, isAbortError, isNetworkError } from '../retry.js';
import { httpStatusOf, isThrottlingError } from './retryable.js';

/**
 * The bytes did not match what was declared (`phase: 'source'`: the spool file changed since it
 * was sealed; nothing was written), or the stored object does not match what was uploaded
 * (`phase: 'stored'`: size, sha256 metadata or server checksum differ after the write).
 * Code INTEGRITY_MISMATCH. A put that fails for it rejects with DELIVERY_FAILED and this error as
 * its `cause`.
 */
export class IntegrityError extends CronLogError {
  readonly phase: 'source' | 'stored';

  constructor(phase: 'source' | 'stored', message: string) {
    super('INTEGRITY_MISMATCH', message);
    this.name = 'IntegrityError';
    this.phase = phase;
  }
}

/** `get()` of a key that has no object. Code OBJECT_NOT_FOUND. */
export class ObjectNotFoundError extends CronLogError {
  readonly key: string;
  readonly notFound = true;

  constructor(destination: string, key: string, options?: { cause?: unknown }) {
    super('OBJECT_NOT_FOUND', `no object at ${key} in ${destination}`, options);
    this.name = 'ObjectNotFoundError';
    this.key = key;
  }
}

export function isObjectNotFound(err: unknown): err is ObjectNotFoundError {
  return err instanceof ObjectNotFoundError;
}

export type S3ErrorKind =
  | 'aborted'
  | 'checksum-refused'
  | 'integrity'
  | 'no-credentials'
  | 'invalid-credentials'
  | 'access-denied'
  | 'no-such-bucket'
  | 'wrong-region'
  | 'not-found'
  | 'no-such-upload'
  | 'throttled'
  | 'network'
  | 'server'
  | 'other';

const BAD_CREDENTIAL_CODES = new Set([
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'InvalidToken',
  'ExpiredToken',
  'TokenRefreshRequired',
  'InvalidClientTokenId',
  'UnrecognizedClientException',
  'InvalidSecurity',
]);
const ACCESS_DENIED_CODES = new Set(['AccessDenied', 'AllAccessDisabled', 'AccountProblem', 'Forbidden', 'InvalidObjectState']);
const WRONG_REGION_CODES = new Set(['PermanentRedirect', 'IllegalLocationConstraintException', 'Redirect', 'TemporaryRedirect']);
const SERVER_CODES = new Set(['InternalError', 'ServiceUnavailable', 'RequestTimeout', 'RequestTimeoutException']);

function messageOf(err: unknown): string {
  if (typeof err === 'object' && err !== null && typeof (err as { message?: unknown }).message === 'string') {
    return (err as { message: string }).message;
  }
  return String(err);
}

/** Header names in a store's message that say it refused a checksum header, e.g. R2's "Header 'x-amz-checksum-crc32' with value ... not implemented". */
const CHECKSUM_HEADER_IN_MESSAGE = /x-amz-(?:sdk-)?checksum|x-amz-trailer|STREAMING-UNSIGNED-PAYLOAD-TRAILER/i;
/** How stores refuse a request header they do not know: 501 NotImplemented (R2), 400 InvalidArgument (GCS, B2), InvalidRequest, NotImplemented. */
const HEADER_REFUSAL_CODES = new Set(['NotImplemented', 'InvalidArgument', 'InvalidRequest', 'BadRequest', 'UnsupportedHeader']);

/**
 * Whether a store refused the `x-amz-checksum-*` headers of the SHA256 / CRC32C modes: its
 * message names such a header, or a write that carried them was answered 501 NotImplemented,
 * or 400 InvalidArgument without a word of what is invalid (GCS's XML API answers "Invalid
 * argument." to headers it does not know).
 */
export function isChecksumRefusal(err: unknown, operation: S3Operation | undefined, checksumAlgorithm: string | undefined): boolean {
  if (checksumAlgorithm !== 'SHA256' && checksumAlgorithm !== 'CRC32C') return false;
  const code = errorCode(err) ?? '';
  const status = httpStatusOf(err);
  if (!HEADER_REFUSAL_CODES.has(code) && status !== 501) return false;
  const message = messageOf(err);
  if (CHECKSUM_HEADER_IN_MESSAGE.test(message)) return true;
  // The store named another header (e.g. x-amz-object-lock-mode): that one is the problem.
  if (/x-amz-[a-z0-9-]+/i.test(message)) return false;
  if (operation !== 'put') return false;
  return status === 501 || (code === 'InvalidArgument' && /^invalid argument\.?$/i.test(message.trim()));
}

export function classifyS3Error(err: unknown, operation?: S3Operation, checksumAlgorithm?: string): S3ErrorKind {
  if (isAbortError(err)) return 'aborted';
  if (err instanceof IntegrityError) return 'integrity';
  if (isChecksumRefusal(err, operation, checksumAlgorithm)) return 'checksum-refused';
  const code = errorCode(err) ?? '';
  const status = httpStatusOf(err);
  const msg = messageOf(err);
  if (code === 'CredentialsProviderError' || /could not load credentials/i.test(msg)) return 'no-credentials';
  if (code === 'AuthorizationHeaderMalformed') return /region/i.test(msg) ? 'wrong-region' : 'invalid-credentials';
  if (BAD_CREDENTIAL_CODES.has(code)) return 'invalid-credentials';
  if (WRONG_REGION_CODES.has(code) || status === 301 || status === 307) return 'wrong-region';
  if (code === 'NoSuchBucket') return 'no-such-bucket';
  if (code === 'NoSuchUpload') return 'no-such-upload';
  if (ACCESS_DENIED_CODES.has(code) || code.startsWith('KMS.') || status === 403) return 'access-denied';
  if (code === 'NoSuchKey' || code === 'NotFound' || status === 404) return operation === 'bucket' || operation === 'list' ? 'no-such-bucket' : 'not-found';
  if (isThrottlingError(err)) return 'throttled';
  if (isNetworkError(err) || code === 'TimeoutError') return 'network';
  if (SERVER_CODES.has(code) || (status !== undefined && status >= 500)) return 'server';
  return 'other';
}

export type S3Operation = 'bucket' | 'list' | 'put' | 'head' | 'get' | 'delete' | 'abort';

export interface S3ErrorContext {
  bucket: string;
  region: string;
  /** Custom endpoint, already stripped of credentials. */
  endpoint?: string;
  operation: S3Operation;
  key?: string;
  prefix?: string;
  kmsKeyId?: string;
  /** S3_CHECKSUM_ALGORITHM: which integrity headers the request carried. */
  checksumAlgorithm?: string;
}

const IAM_ACTION: Record<S3Operation, string> = {
  bucket: 's3:ListBucket',
  list: 's3:ListBucket',
  put: 's3:PutObject',
  head: 's3:GetObject',
  get: 's3:GetObject',
  delete: 's3:DeleteObject',
  abort: 's3:AbortMultipartUpload',
};

function iamResource(ctx: S3ErrorContext): string {
  if (ctx.operation === 'bucket' || ctx.operation === 'list') return ctx.bucket;
  if (ctx.prefix !== undefined) return `${ctx.bucket}/${ctx.prefix === '' ? '' : `${ctx.prefix.replace(/\/+$/, '')}/`}*`;
  if (ctx.key !== undefined) return `${ctx.bucket}/${ctx.key}`;
  return `${ctx.bucket}/*`;
}

export function defaultS3Endpoint(region: string): string {
  return `https://s3.${region}.amazonaws.com`;
}

/** Removes user:password from an endpoint URL (and anything after the path). */
export function safeEndpoint(endpoint: string): string {
  try {
    const u = new URL(endpoint);
    u.username = '';
    u.password = '';
    u.search = '';
    u.hash = '';
    return u.toString().replace(/\/$/, '');
  } catch {
    return '<invalid endpoint URL>';
  }
}

function bucketRegionHint(err: unknown): string | undefined {
  const e = err as { $response?: { headers?: Record<string, string | undefined> }; Region?: unknown; BucketRegion?: unknown };
  const header = e.$response?.headers?.['x-amz-bucket-region'];
  if (typeof header === 'string' && header !== '') return header;
  if (typeof e.Region === 'string') return e.Region;
  if (typeof e.BucketRegion === 'string') return e.BucketRegion;
  return undefined;
}

function credentialDetail(code: string): string {
  switch (code) {
    case 'InvalidAccessKeyId':
      return 'the access key id is not known to S3';
    case 'SignatureDoesNotMatch':
      return 'the request signature does not match: check the secret access key';
    case 'ExpiredToken':
    case 'TokenRefreshRequired':
      return 'the session token has expired';
    case 'InvalidToken':
      return 'the session token is malformed or invalid';
    default:
      return code;
  }
}

/** One sentence describing `err` in terms of the configuration to fix. */
export function describeS3Error(err: unknown, ctx: S3ErrorContext): string {
  const kind = classifyS3Error(err, ctx.operation, ctx.checksumAlgorithm);
  const code = errorCode(err) ?? 'Error';
  const status = httpStatusOf(err);
  const where = ctx.endpoint !== undefined ? ` (endpoint ${ctx.endpoint})` : '';
  switch (kind) {
    case 'checksum-refused':
      return checksumRefusedMessage(err, ctx);
    case 'aborted':
      return 'the operation was aborted';
    case 'integrity':
      return messageOf(err);
    case 'no-credentials':
      return (
        'no AWS credentials found: set s3.accessKeyId and s3.secretAccessKey, or configure the default ' +
        'provider chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, web identity, container or instance role)'
      );
    case 'invalid-credentials':
      return `the AWS credentials are invalid: ${credentialDetail(code)}`;
    case 'access-denied': {
      const kms =
        ctx.kmsKeyId !== undefined || code.startsWith('KMS.') || /kms/i.test(messageOf(err))
          ? `, and kms:GenerateDataKey/kms:Decrypt on ${ctx.kmsKeyId ?? 'the KMS key'}`
          : '';
      // Without s3:ListBucket, S3 answers 403 instead of 404 for a missing key.
      const list = ctx.operation === 'head' || ctx.operation === 'get' ? `; s3:ListBucket on ${ctx.bucket}, without which a missing key answers 403` : '';
      return `access denied to bucket ${ctx.bucket}: check the credentials and the IAM policy (${IAM_ACTION[ctx.operation]} on ${iamResource(ctx)}${kms}${list})`;
    }
    case 'no-such-bucket':
      return `bucket ${ctx.bucket} does not exist in region ${ctx.region}${where}`;
    case 'wrong-region': {
      const actual = bucketRegionHint(err);
      return `bucket ${ctx.bucket} is not in region ${ctx.region}${actual !== undefined ? ` (S3 says it is in ${actual})` : ''}: set s3.region to the bucket's region`;
    }
    case 'not-found':
      return `no object at ${ctx.key ?? '(unknown key)'} in bucket ${ctx.bucket}`;
    case 'no-such-upload':
      return `the multipart upload of ${ctx.key ?? 'the object'} no longer exists (aborted by someone else or by a lifecycle rule)`;
    case 'throttled':
      return `S3 is throttling requests to bucket ${ctx.bucket} (${code}${status !== undefined ? `, HTTP ${status}` : ''})`;
    case 'network': {
      const netCode = networkCode(err);
      return `cannot reach S3 endpoint ${ctx.endpoint ?? defaultS3Endpoint(ctx.region)}: ${netCode ?? messageOf(err)}`;
    }
    case 'server':
      return `S3 failed with ${code}${status !== undefined ? ` (HTTP ${status})` : ''}: ${messageOf(err)}`;
    default:
      return `${code}${status !== undefined ? ` (HTTP ${status})` : ''}: ${messageOf(err)}`;
  }
}

/** The setting a store that refuses `x-amz-checksum-*` headers needs. */
export const CHECKSUM_REFUSED_HINT = 'set S3_CHECKSUM_ALGORITHM=MD5 (s3.checksumAlgorithm: Content-MD5, which S3-compatible stores check), or S3_PROVIDER to your store (docs/s3-providers.md)';

function checksumRefusedMessage(err: unknown, ctx: S3ErrorContext): string {
  const code = errorCode(err) ?? 'Error';
  const status = httpStatusOf(err);
  // The header the store names (R2, B2 do), else the one the mode sends with every part.
  const named = /x-amz-[a-z0-9-]+/i.exec(messageOf(err))?.[0];
  const header = named?.toLowerCase() ?? `x-amz-checksum-${(ctx.checksumAlgorithm ?? 'sha256').toLowerCase()}`;
  const answer = `${code}${status !== undefined ? `, HTTP ${status}` : ''}: ${messageOf(err)}`;
  return (
    `the store refused the ${header} header that S3_CHECKSUM_ALGORITHM=${ctx.checksumAlgorithm ?? 'SHA256'} sends (${answer}): ` +
    `${CHECKSUM_REFUSED_HINT}`
  );
}

/** The socket / DNS error code in `err`'s cause chain (with its message when that adds to it), or a timeout. */
export function networkCode(err: unknown, depth = 0): string | undefined {
  if (typeof err !== 'object' || err === null || depth > 5) return undefined;
  const e = err as { code?: unknown; name?: unknown; message?: unknown; cause?: unknown };
  if (typeof e.code === 'string' && /^E[A-Z_]+$|^UND_ERR/.test(e.code)) {
    return `${e.code}${typeof e.message === 'string' && !e.message.includes(e.code) ? ` (${e.message})` : ''}`;
  }
  if (e.name === 'TimeoutError') return `timed out (${String(e.message)})`;
  return networkCode(e.cause, depth + 1);
}

/** Masks every occurrence of the given secrets (empty/short ones ignored) in `text`. */
export function redactSecrets(text: string, secrets: readonly (string | undefined)[]): string {
  let out = text;
  for (const s of secrets) {
    if (s !== undefined && s.length >= 4) out = out.split(s).join('***');
  }
  return out;
}

/** One sentence for a local file-system error on `path`. */
export function describeFsError(err: unknown, path: string): string {
  const code = errorCode(err);
  switch (code) {
    case 'EACCES':
    case 'EPERM':
      return `permission denied on ${path} (${code}): check the owner and mode of the directory`;
    case 'ENOTDIR':
      return `a component of ${path} is not a directory (ENOTDIR)`;
    case 'ENOENT':
      return `${path} does not exist (ENOENT)`;
    case 'EROFS':
      return `${path} is on a read-only file system (EROFS)`;
    case 'ENOSPC':
      return `no space left on the device of ${path} (ENOSPC)`;
    case 'EDQUOT':
      return `disk quota exceeded on ${path} (EDQUOT)`;
    case 'EISDIR':
      return `${path} is a directory (EISDIR)`;
    default:
      return `${path}: ${messageOf(err)}`;
  }
}
