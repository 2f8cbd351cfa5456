/**
 * s3rver (test/helpers/s3.ts `startTestS3`) in a process of its own, so the server's CPU is not
 * the uploader's: prints one JSON line { endpoint, bucket, accessKeyId, secretAccessKey, region }
 * and serves until SIGTERM.
 */
import { startTestS3 } from '../../test/helpers/s3.js';

const s3 = await startTestS3({ bucket: 'bench-deliver' });
process.stdout.write(
  `${JSON.stringify({ endpoint: s3.endpoint, bucket: s3.bucket, accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey, region: s3.region })}\n`,
);
let stopping = false;
process.on('SIGTERM', () => {
  if (stopping) return;
  stopping = true;
  void s3.close().finally(() => process.exit(0));
});
