/**
 * s3rver (bench/children/s3rver.ts, test/helpers/s3.ts) in a process of its own, so that the
 * server's CPU is not the uploader's. Used by the deliver, memory and scale benchmarks.
 */
import { S3Client } from '@aws-sdk/client-s3';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

const S3RVER = fileURLToPath(new URL('../children/s3rver.ts', import.meta.url));

export interface S3Info {
  endpoint: string;
  bucket: string;
  accessKeyId: string;
  secretAccessKey: string;
  region: string;
}

export async function startS3rver(): Promise<{ info: S3Info; pid: number; close(): Promise<void> }> {
  const child = spawn(process.execPath, ['--import', 'tsx', S3RVER], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = once(child, 'exit');
  let out = '';
  const info = await new Promise<S3Info>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('\n')) resolve(JSON.parse(out.split('\n')[0] as string) as S3Info);
    });
    child.once('exit', (code) => reject(new Error(`s3rver exited (${String(code)}) before starting`)));
  });
  return {
    info,
    pid: child.pid as number,
    async close() {
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** A bare S3 client of s3rver (the baselines' uploads): no checksums the SDK would add by itself. */
export function rawS3Client(info: S3Info): S3Client {
  return new S3Client({
    endpoint: info.endpoint,
    region: info.region,
    forcePathStyle: true,
    credentials: { accessKeyId: info.accessKeyId, secretAccessKey: info.secretAccessKey },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}
