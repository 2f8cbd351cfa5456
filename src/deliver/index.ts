/**
 * Delivery destinations. `createDestination(options)` builds the S3, the Azure Blob Storage or
 * the local-directory destination; all implement `Destination` (see destination.ts for the contract).
 */
import { AzureDestination } from './azure.js';
import type { AzureDestinationOptions } from './azure-options.js';
import { FileDestination, type FileDestinationOptions } from './file.js';
import { S3Destination } from './s3.js';
import type { S3DestinationOptions } from './s3-options.js';
import type { Destination } from './destination.js';

export type DestinationOptions =
  | ({ kind: 's3' } & S3DestinationOptions)
  | ({ kind: 'azure' } & AzureDestinationOptions)
  | ({ kind: 'file' } & FileDestinationOptions);

/** Throws a ConfigError (CONFIG_INVALID) listing every invalid option. */
export function createDestination(options: DestinationOptions): Destination {
  switch (options.kind) {
    case 's3':
      return new S3Destination(options);
    case 'azure':
      return new AzureDestination(options);
    case 'file':
      return new FileDestination(options);
    default: {
      const kind: unknown = (options as { kind?: unknown }).kind;
      throw new TypeError(`unknown destination kind ${JSON.stringify(kind)}: expected "s3", "azure" or "file"`);
    }
  }
}

export type {
  Destination,
  ObjectInfo,
  ObjectSource,
  ProbeResult,
  ProbeStep,
  ProbeStepName,
  PutInput,
  PutResult,
} from './destination.js';
export { SHA256_METADATA_KEY, objectKeyProblem, putInputProblems } from './destination.js';
export { FileDestination, type FileDestinationOptions } from './file.js';
export { S3Destination } from './s3.js';
export { AzureDestination } from './azure.js';
export type { AzureDestinationOptions, AzureOptions, AzureTuning } from './azure-options.js';
export { classifyAzureError, describeAzureError, type AzureErrorKind } from './azure-errors.js';
export type { DestinationTuning, S3DestinationOptions, S3Options } from './s3-options.js';
export { IntegrityError, ObjectNotFoundError, classifyS3Error, describeS3Error, isObjectNotFound, type S3ErrorKind } from './errors.js';
export { isRetryableError, isThrottlingError } from './retryable.js';
