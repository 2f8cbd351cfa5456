/**
 * The retry adapter between the S3 client and the one retry loop (src/retry.ts): every S3 request
 * of the destination (CreateMultipartUpload, each UploadPart, Complete, Head, ...) is sent through
 * `S3Requests.send`, which tries it again on its own, up to the policy's retries, with full-jitter
 * backoff (5 × longer for throttling, at least the server's Retry-After), when the AWS SDK's
 * classifiers say another try may succeed (src/deliver/retryable.ts): a failed part is re-sent,
 * not the whole file.
 *
 * Each try is a new command through the client (which itself tries once), with a body of its own
 * (an upload's `PartBody` is called again: a Buffer is sent again as it was, a file range is read
 * again from the file by a fresh stream), and signed again. The request's signal is looked at before each try and
 * cuts a wait short; it never interrupts a request in flight (a CompleteMultipartUpload cut off
 * mid-way could leave an object at the key that nobody verified).
 *
 * The client is built by the first request (`client`), which loads the SDK (src/deliver/s3-sdk.ts):
 * a destination that sends nothing, or not yet, costs neither.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import type { Logger } from '../log.js';
import { errorCode, withRetry, type RetryInfo, type RetryPolicy } from '../retry.js';
import { isRetryableError, isThrottlingError, retryAfterMs } from './retryable.js';

export interface RequestOptions {
  /** Looked at before each try and during each wait: an aborted signal stops the retries. */
  signal?: AbortSignal | undefined;
  /** At most this many retries (fewer than the policy's: the probe). */
  retries?: number | undefined;
  /** Called before each retry of this request. */
  onRetry?: ((info: RetryInfo) => void) | undefined;
}

export class S3Requests {
  private built: S3Client | undefined;

  constructor(
    private readonly createClient: () => S3Client,
    readonly policy: RetryPolicy,
    private readonly logger: Logger,
  ) {}

  /** The S3 client, built (and the SDK loaded) on the first access. */
  get client(): S3Client {
    this.built ??= this.createClient();
    return this.built;
  }

  /** Releases the client's sockets, if it was ever built. */
  destroy(): void {
    this.built?.destroy();
  }

  /**
   * Sends the request `send` makes (one try each call), tried again as the policy allows.
   * `name` (e.g. "UploadPart") names it in logs.
   */
  async send<T>(name: string, send: () => Promise<T>, options: RequestOptions = {}): Promise<T> {
    const policy = options.retries !== undefined && options.retries < this.policy.retries ? { ...this.policy, retries: options.retries } : this.policy;
    const { value } = await withRetry(() => send(), policy, {
      isRetryable: isRetryableError,
      isThrottling: isThrottlingError,
      retryAfterMs,
      ...(options.signal !== undefined ? { signal: options.signal } : {}),
      onRetry: (info) => {
        this.logger.debug('retrying an S3 request', { request: name, error: errorCode(info.error), retry: info.retry, delayMs: info.delayMs });
        options.onRetry?.(info);
      },
    });
    return value;
  }
}
