/**
 * Errors of the Azure Blob Storage destination: which are retried (one pure predicate) and one
 * sentence for each that says what is wrong in terms of the configuration to fix: 403
 * AuthenticationFailed → the key or connection string, 403 AuthorizationPermissionMismatch → the
 * role assignment, 404 ContainerNotFound → the container, no Azure AD credential → how to give
 * one, a socket error → the endpoint. Messages are built from error codes and our configuration
 * names; the destination masks its secrets in them besides (src/deliver/azure-context.ts).
 */
import { CronLogError } from '../errors.js';
import { errorCode, isAbortError, isNetworkError } from '../retry.js';
import { IntegrityError, networkCode } from './errors.js';

export type AzureErrorKind =
  | 'aborted'
  | 'integrity'
  | 'no-credentials'
  | 'aad-needs-https'
  | 'invalid-credentials'
  | 'access-denied'
  | 'no-such-container'
  | 'not-found'
  | 'already-exists'
  | 'immutable'
  | 'damaged-in-transit'
  | 'throttled'
  | 'network'
  | 'server'
  | 'other';

export type AzureOperation = 'container' | 'list' | 'put' | 'head' | 'get' | 'delete';

export interface AzureErrorContext {
  account: string;
  container: string;
  endpoint: string;
  operation: AzureOperation;
  key?: string;
}

/** The HTTP status of an Azure SDK error (RestError.statusCode). */
export function azureStatusOf(err: unknown): number | undefined {
  const status = (err as { statusCode?: unknown } | undefined)?.statusCode;
  return typeof status === 'number' ? status : undefined;
}

/**
 * The service's error code: RestError.code, or the x-ms-error-code header of an answer without a
 * body (a HEAD request's), which the SDK leaves in `details`; else the error's own code or name.
 */
export function azureErrorCode(err: unknown): string | undefined {
  const e = err as { code?: unknown; details?: { errorCode?: unknown } } | undefined;
  if (typeof e?.code === 'string' && e.code !== '') return e.code;
  if (typeof e?.details?.errorCode === 'string' && e.details.errorCode !== '') return e.details.errorCode;
  return errorCode(err);
}

/** Azurite's form of Md5Mismatch: 400 InvalidOperation "Provided contentMD5 doesn't match." */
function isMd5Mismatch(err: unknown): boolean {
  const code = azureErrorCode(err);
  return code === 'Md5Mismatch' || code === 'Crc64Mismatch' || (code === 'InvalidOperation' && /md5/i.test(messageOf(err)));
}

function messageOf(err: unknown): string {
  const m = (err as { message?: unknown } | undefined)?.message;
  return typeof m === 'string' ? (m.split('\n')[0] ?? m) : String(err);
}

export function classifyAzureError(err: unknown): AzureErrorKind {
  if (isAbortError(err)) return 'aborted';
  if (err instanceof IntegrityError) return 'integrity';
  const name = (err as { name?: unknown } | undefined)?.name;
  if (name === 'CredentialUnavailableError' || name === 'AggregateAuthenticationError') return 'no-credentials';
  if (name === 'AuthenticationError') return 'invalid-credentials';
  if (/Bearer token authentication is not permitted for non-TLS/i.test(messageOf(err))) return 'aad-needs-https';
  const code = azureErrorCode(err);
  // A signature the service cannot verify (a wrong key): 403 AuthenticationFailed from Azure,
  // 403 AuthorizationFailure "Server failed to authenticate the request" from Azurite.
  if (code === 'AuthorizationFailure' && /failed to authenticate/i.test(messageOf(err))) return 'invalid-credentials';
  const status = azureStatusOf(err);
  if (isMd5Mismatch(err)) return 'damaged-in-transit';
  switch (code) {
    case 'AuthenticationFailed':
    case 'InvalidAuthenticationInfo':
      return 'invalid-credentials';
    case 'AuthorizationFailure':
    case 'AuthorizationPermissionMismatch':
    case 'AuthorizationResourceTypeMismatch':
    case 'AuthorizationSourceIPMismatch':
    case 'AuthorizationProtocolMismatch':
    case 'AuthorizationServiceMismatch':
    case 'InsufficientAccountPermissions':
      return 'access-denied';
    case 'ContainerNotFound':
    case 'ContainerBeingDeleted':
      return 'no-such-container';
    case 'BlobNotFound':
      return 'not-found';
    case 'BlobAlreadyExists':
    case 'ConditionNotMet':
      return 'already-exists';
    case 'BlobImmutableDueToPolicy':
    case 'BlobImmutableDueToLegalHold':
      return 'immutable';
    case 'ServerBusy':
    case 'TooManyRequests':
      return 'throttled';
    default:
      break;
  }
  if (status === 429 || status === 503) return 'throttled';
  if (status === 403) return 'access-denied';
  if (status === 404) return 'not-found';
  if (status === 409 || status === 412) return 'already-exists';
  if (status !== undefined && status >= 500) return 'server';
  if (isNetworkError(err) || code === 'REQUEST_SEND_ERROR' || name === 'TimeoutError') return 'network';
  return 'other';
}

/** True when sending the same request again may succeed (throttling, 408, 5xx but 501/505, a block damaged in transit, network errors). */
export function isAzureRetryable(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  if (isAbortError(err) || err instanceof CronLogError) return false;
  const status = azureStatusOf(err);
  if (status === 408 || status === 429) return true;
  if (status !== undefined && status >= 500 && status !== 501 && status !== 505) return true;
  if (isMd5Mismatch(err)) return true;
  const code = azureErrorCode(err);
  if (code === 'ServerBusy' || code === 'OperationTimedOut' || code === 'InternalError' || code === 'REQUEST_SEND_ERROR') return true;
  return status === undefined && isNetworkError(err);
}

export function isAzureThrottling(err: unknown): boolean {
  const status = azureStatusOf(err);
  const code = azureErrorCode(err);
  return status === 429 || status === 503 || code === 'ServerBusy';
}

/** One sentence describing `err` in terms of the configuration to fix. */
export function describeAzureError(err: unknown, ctx: AzureErrorContext): string {
  const kind = classifyAzureError(err);
  const code = azureErrorCode(err) ?? 'Error';
  const status = azureStatusOf(err);
  const http = status !== undefined ? ` (HTTP ${status})` : '';
  switch (kind) {
    case 'aborted':
      return 'the operation was aborted';
    case 'integrity':
      return messageOf(err);
    case 'no-credentials':
      return (
        `no Azure AD credential found for account ${ctx.account}: set azure.accountKey (AZURE_STORAGE_KEY) or azure.connectionString (AZURE_STORAGE_CONNECTION_STRING), ` +
        'or give DefaultAzureCredential one (AZURE_CLIENT_ID/AZURE_TENANT_ID/AZURE_CLIENT_SECRET, workload or managed identity, az login)'
      );
    case 'aad-needs-https':
      return `Azure AD (azure.account without azure.accountKey) needs an https blob endpoint, and ${ctx.endpoint} is not one: use https, or a shared key (AZURE_STORAGE_KEY) or connection string (Azurite)`;
    case 'invalid-credentials':
      return `storage account ${ctx.account} refused the credentials (${code}${http}): check azure.accountKey (AZURE_STORAGE_KEY) or the AccountKey/SharedAccessSignature of the connection string, and the clock of this host`;
    case 'access-denied':
      return `access denied to container ${ctx.container} of account ${ctx.account} (${code}${http}): check the credentials, and that the identity has the Storage Blob Data Contributor role (read, write, delete blobs) on the container or the account (a SAS: racwdl permissions), and that the account's firewall admits this host`;
    case 'no-such-container':
      return `container ${ctx.container} does not exist in account ${ctx.account} (endpoint ${ctx.endpoint}): create it (az storage container create --name ${ctx.container}) or set azure.container (AZURE_CONTAINER)`;
    case 'not-found':
      return `no blob at ${ctx.key ?? '(unknown key)'} in container ${ctx.container}`;
    case 'already-exists':
      return `another blob was written at ${ctx.key ?? 'the key'} meanwhile (${code}${http})`;
    case 'immutable':
      return `the blob at ${ctx.key ?? 'the key'} is protected by an immutability policy or legal hold (${code}): it cannot be replaced or deleted until the policy expires or the hold is cleared`;
    case 'damaged-in-transit':
      return `the service refused a block whose bytes do not match its Content-MD5 (${code}${http}): the data was damaged in transit`;
    case 'throttled':
      return `Azure Storage is throttling requests to account ${ctx.account} (${code}${http})`;
    case 'network':
      return `cannot reach the blob service ${ctx.endpoint}: ${networkCode(err) ?? messageOf(err)}`;
    case 'server':
      return `Azure Storage failed with ${code}${http}: ${messageOf(err)}`;
    default:
      return `${code}${http}: ${messageOf(err)}`;
  }
}
