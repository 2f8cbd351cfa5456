/**
 * s3rver (bench/children/s3rver.ts, test/helpers/s3.ts) in a process of its own, so that the
 * server's CPU is not the uploader's. Used by the deliver and memory benchmarks.
 */
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
