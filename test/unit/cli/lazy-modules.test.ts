/**
 * What `run` loads before its stream opens: only the subcommand it names (src/cli/main.ts), no
 * AWS SDK until an S3 request is sent (src/deliver/s3-sdk.ts, src/deliver/retryable.ts), and no
 * prom-client until the metrics are needed (src/archiver.ts, src/observe/metrics.ts). The
 * load check runs in a child process of its own (a fresh module cache); these packages are all
 * CommonJS, so `require.cache` lists them however they were imported.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { commandsFor } from '../../../src/cli/main.js';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const ALL = ['run', 'seal', 'reconcile', 'backfill', 'restore', 'purge', 'status', 'doctor', 'dashboard'];

test('the CLI loads only the subcommand its first word names; help, --version and unknown words load every one', () => {
  assert.deepEqual(commandsFor(['run']), ['run']);
  assert.deepEqual(commandsFor(['run', '--config', 'x.json', '--standby']), ['run']);
  assert.deepEqual(commandsFor(['reconcile', '--deep']), ['reconcile']);
  for (const argv of [[], ['--help'], ['-V'], ['help', 'run'], ['nope'], ['toString'], ['constructor']]) assert.deepEqual(commandsFor(argv), ALL, argv.join(' '));
});

const CHILD = `
import { createRequire } from 'node:module';
const cache = createRequire(import.meta.url).cache;
const loaded = () => {
  const keys = Object.keys(cache);
  return {
    s3: keys.some((k) => k.includes('/@aws-sdk/client-s3/')),
    smithyRetry: keys.some((k) => k.includes('/@smithy/core/dist-cjs/submodules/retry/')),
    cliProgress: keys.some((k) => k.includes('/cli-progress/')),
    promClient: keys.some((k) => k.includes('/prom-client/')),
  };
};
const { program } = await import('./src/cli/main.ts');
const { createArchiver } = await import('./src/archiver.ts');
const { S3Destination } = await import('./src/deliver/s3.ts');
const run = await program(['run']);
const archiver = await createArchiver({
  dbUri: 'mongodb://127.0.0.1:9/app',
  uploadProvider: 's3',
  s3: { bucket: 'lazy-bucket', endpoint: 'http://127.0.0.1:9', forcePathStyle: true, accessKeyId: 'a', secretAccessKey: 'b' },
  logging: { enableConsole: false },
});
const beforeRequest = { commands: run.commands.map((c) => c.name()), ...loaded() };
const metricsText = await archiver.metrics.metricsText();
const afterMetrics = loaded().promClient && metricsText.includes('cronlog_events_captured_total');
await archiver.close();
const dest = new S3Destination({ s3: { bucket: 'lazy-bucket', endpoint: 'http://127.0.0.1:9', forcePathStyle: true, accessKeyId: 'a', secretAccessKey: 'b' }, retryAttempts: 0 });
const failed = await dest.head('a/key.ndjson.gz').then(() => false, () => true);
await dest.close();
process.stdout.write(JSON.stringify({ beforeRequest, afterMetrics, failed, afterRequest: loaded() }));
`;

test('run and an archiver with an S3 destination load no AWS SDK, no cli-progress and no prom-client until needed', { timeout: 60_000 }, () => {
  const out = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', CHILD], { cwd: ROOT, encoding: 'utf8', timeout: 50_000 });
  assert.equal(out.status, 0, out.stderr);
  const r = JSON.parse(out.stdout) as { beforeRequest: Record<string, unknown>; afterMetrics: boolean; failed: boolean; afterRequest: Record<string, boolean> };
  assert.deepEqual(r.beforeRequest, { commands: ['run'], s3: false, smithyRetry: false, cliProgress: false, promClient: false });
  // archiver.metrics builds the metrics (and loads prom-client) when first read.
  assert.equal(r.afterMetrics, true);
  // A request to a closed port fails; it loaded the SDK and classified its error.
  assert.equal(r.failed, true);
  assert.equal(r.afterRequest.s3, true);
  assert.equal(r.afterRequest.smithyRetry, true);
});
