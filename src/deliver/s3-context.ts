/**
 * What every operation of one S3 destination shares: its resolved settings, the client and the
 * request sender, the logger, and how an S3 error is told in one sentence without secrets.
 */
import type { Logger } from '../log.js';
import { silentLogger } from '../log.js';
import { describeS3Error, redactSecrets, type S3Operation } from './errors.js';
import { createS3Client } from './s3-client.js';
import { resolveS3Settings, type S3DestinationOptions, type S3Settings } from './s3-options.js';
import { S3Requests } from './s3-request.js';

export interface S3Context {
  readonly settings: S3Settings;
  readonly requests: S3Requests;
  readonly logger: Logger;
  /** e.g. `s3://bucket (endpoint http://127.0.0.1:9000)`; never contains a secret. */
  describe(): string;
  /** One sentence for an S3 error of `operation`, in terms of the configuration to fix. */
  describeError(err: unknown, operation: S3Operation, where?: { key?: string; prefix?: string }): string;
  /** Masks the configured secrets in `text`. */
  redact(text: string): string;
}

/** Validates the options (ConfigError) and builds the client. */
export function createS3Context(options: S3DestinationOptions): S3Context {
  const settings = resolveS3Settings(options);
  const logger = options.logger ?? silentLogger;
  const requests = new S3Requests(() => createS3Client(settings), settings.policy, logger);
  const { bucket, region, endpoint, s3 } = settings;
  const redact = (text: string): string => redactSecrets(text, [s3.secretAccessKey, s3.sessionToken]);
  return {
    settings,
    requests,
    logger,
    describe: () => (endpoint !== undefined ? `s3://${bucket} (endpoint ${endpoint})` : `s3://${bucket}`),
    describeError: (err, operation, where = {}) =>
      redact(
        describeS3Error(err, {
          bucket,
          region,
          operation,
          checksumAlgorithm: settings.algorithm,
          ...(endpoint !== undefined ? { endpoint } : {}),
          ...(s3.kmsKeyId !== undefined ? { kmsKeyId: s3.kmsKeyId } : {}),
          ...where,
        }),
      ),
    redact,
  };
}
