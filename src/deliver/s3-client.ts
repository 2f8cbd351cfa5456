/**
 * The S3 client of a destination: region, endpoint, credentials (from the options when given,
 * else the AWS default provider chain), connection and socket timeouts, keep-alive sockets for
 * the parts in flight; and how it sends bytes.
 *
 * The client makes one try per request (`maxAttempts: 1`): retries are the destination's
 * (src/deliver/s3-request.ts), so that every wait between tries can be cut short by the
 * operation's signal and every retry is counted for the operation that made it.
 *
 * Checksums follow S3_CHECKSUM_ALGORITHM (settings.algorithm). The client runs with
 * `requestChecksumCalculation` and `responseChecksumValidation` 'WHEN_REQUIRED' in every mode
 * (`SDK_CHECKSUM_OPTIONS`), so the SDK never adds a checksum of its own (since v3.729 its default,
 * WHEN_SUPPORTED, adds `x-amz-checksum-crc32` and `x-amz-sdk-checksum-algorithm` to every upload,
 * which R2, GCS, B2 and older MinIO/Ceph refuse), and sends exactly what the mode asks for:
 *  - SHA256 / CRC32C: every upload request names `ChecksumAlgorithm` and carries the part's
 *    checksum as a plain `x-amz-checksum-*` header (no `aws-chunked` encoding with trailers,
 *    which WHEN_SUPPORTED uses for streaming bodies and which s3rver would store verbatim,
 *    corrupting the object). With SHA256 the part's SHA-256 is also the SigV4 payload hash
 *    (`x-amz-content-sha256`), which the SDK would otherwise compute with a second pass over a
 *    Buffer part (`bodySha256Headers`).
 *  - A file's parts are streams of its byte ranges (src/deliver/part-body.ts), which the signer
 *    cannot hash (it would sign UNSIGNED-PAYLOAD): in every mode their SHA-256, computed by the
 *    upload's digest pass, is sent as `x-amz-content-sha256`, so S3 checks each part body
 *    against a hash in MD5 and NONE mode too.
 *  - MD5: `Content-MD5` of each part and single PUT, no `x-amz-checksum-*` / `x-amz-sdk-*`.
 *  - NONE: no integrity header at all (the SigV4 payload hash is still sent, as SigV4 requires).
 * HEAD requests ask for the stored checksum (`x-amz-checksum-mode`) only in SHA256 / CRC32C mode.
 */
import { createHash } from 'node:crypto';
import type { S3Client } from '@aws-sdk/client-s3';
import { payloadSha256 } from './part-body.js';
import { s3Sdk } from './s3-sdk.js';
import type { S3Settings } from './s3-options.js';

/**
 * For a file range body (a stream, src/deliver/part-body.ts), sets `x-amz-content-sha256` to the
 * SHA-256 of its bytes, in every mode. For a request with a byte body that asks for a SHA256
 * checksum (UploadPart and PutObject with `ChecksumAlgorithm: 'SHA256'`), sets `x-amz-content-sha256`
 * (hex) from its `x-amz-checksum-sha256` (base64, the part digest part-upload.ts sends), or both
 * from one SHA-256 of the body when the request has no checksum yet.
 * The SDK leaves both alone when present: its checksum middleware skips a request that already
 * carries an `x-amz-checksum-*` header, and the SigV4 signer signs an `x-amz-content-sha256` it
 * finds instead of hashing the body again. The server checks the body against both, as before.
 * Runs in the build step, before the SDK's checksum middleware and before signing.
 */
export function bodySha256Headers(input: unknown, request: unknown): void {
  const req = request as { headers?: Record<string, string>; body?: unknown } | undefined;
  const headers = req?.headers;
  const body = req?.body;
  if (headers === undefined) return;
  const range = payloadSha256(body);
  if (range !== undefined) {
    if (!Object.keys(headers).some((name) => name.toLowerCase() === 'x-amz-content-sha256')) headers['x-amz-content-sha256'] = range;
    return;
  }
  if ((input as { ChecksumAlgorithm?: unknown } | undefined)?.ChecksumAlgorithm !== 'SHA256') return;
  if (!(body instanceof Uint8Array)) return;
  let checksum: string | undefined;
  for (const name of Object.keys(headers)) {
    const lower = name.toLowerCase();
    if (lower === 'x-amz-content-sha256') return;
    if (lower === 'x-amz-checksum-sha256') checksum = headers[name];
    else if (lower.startsWith('x-amz-checksum-')) return;
  }
  // The checksum the request carries already (the part digests of part-upload.ts) is the body's
  // SHA-256: it is the payload hash too.
  const digest = checksum !== undefined ? Buffer.from(checksum, 'base64') : createHash('sha256').update(body).digest();
  if (checksum === undefined) headers['x-amz-checksum-sha256'] = digest.toString('base64');
  headers['x-amz-content-sha256'] = digest.toString('hex');
}

/**
 * The SDK's own checksum behaviour, the same in every mode: never a checksum of its own (see the
 * header comment). SHA256 / CRC32C name their algorithm on every upload request; MD5 / NONE must
 * get nothing added: WHEN_REQUIRED is the one setting that serves all four.
 */
export const SDK_CHECKSUM_OPTIONS = { requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED' } as const;

export function createS3Client(settings: S3Settings): S3Client {
  const { s3 } = settings;
  const agent = { keepAlive: true, maxSockets: Math.max(16, settings.queueSize * 2 + 4) };
  const client = new (s3Sdk().S3Client)({
    region: s3.region,
    ...(s3.endpoint !== undefined ? { endpoint: s3.endpoint } : {}),
    forcePathStyle: s3.forcePathStyle ?? false,
    ...(s3.accessKeyId !== undefined && s3.secretAccessKey !== undefined
      ? {
          credentials: {
            accessKeyId: s3.accessKeyId,
            secretAccessKey: s3.secretAccessKey,
            ...(s3.sessionToken !== undefined ? { sessionToken: s3.sessionToken } : {}),
          },
        }
      : {}),
    maxAttempts: 1,
    ...SDK_CHECKSUM_OPTIONS,
    requestHandler: {
      connectionTimeout: settings.connectTimeoutMs,
      socketTimeout: settings.socketTimeoutMs,
      httpAgent: agent,
      httpsAgent: agent,
    },
  });
  // A file range's SHA-256 (every mode), or one SHA-256 of a Buffer body in SHA256 mode, serves
  // as the SigV4 payload hash.
  client.middlewareStack.add(
    (next) => async (args) => {
      bodySha256Headers(args.input, args.request);
      return next(args);
    },
    { step: 'build', name: 'cronLogBodySha256', priority: 'high' },
  );
  return client;
}
