/**
 * The AWS SDK's S3 client package, loaded on first use rather than with the deliver modules.
 *
 * An archiver loads every destination module, but most processes never send an S3 request
 * before their change stream is open, and many never do (a file or Azure destination, `status`).
 * Importing `@aws-sdk/client-s3` costs about 135 ms of CPU and 10 MiB of RSS on this machine
 * (measured on Node 20: `import('@aws-sdk/client-s3')` after the rest of an archiver's modules,
 * 135 ms and 92.0 − 81.8 MiB); a restarted `run` paid it before its stream opened (the `startup`
 * benchmark). The package is CommonJS (its `main` is dist-cjs, it has no `exports` map), so
 * `require` gives the very module an `import` would, synchronously: building a client or a
 * command stays synchronous. The S3 client itself is built on the first request
 * (src/deliver/s3-request.ts).
 */
import { createRequire } from 'node:module';
import type * as S3Sdk from '@aws-sdk/client-s3';

const require = createRequire(import.meta.url);
let sdk: typeof S3Sdk | undefined;

/** `@aws-sdk/client-s3`, loaded by the first call. */
export function s3Sdk(): typeof S3Sdk {
  sdk ??= require('@aws-sdk/client-s3') as typeof S3Sdk;
  return sdk;
}
