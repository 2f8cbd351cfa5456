/**
 * Issue 15, item 10: with LOG_FORMAT=json every line on stderr is JSON. node-cron's "missed
 * execution" warnings (its own coloured console lines), process warnings (Node's multi-line
 * "(node:pid) Warning: …" text, e.g. the AWS SDK's Node.js version notice) and the CLI's own
 * errors used to be plain text. The AWS SDK's notice must not greet every command either: it is
 * switched off, and `run` and `doctor` give the advice once.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { archiveEnv } from '../helpers/archive-env.js';
import { runCli, startCli, stderrLines } from '../helpers/archiver-process.js';
import { startTestMongo } from '../helpers/mongo.js';
import type { TestMongo } from '../helpers/mongo.js';

let mongo: TestMongo;
before(async () => {
  mongo = await startTestMongo();
});
after(async () => {
  await mongo.close();
});

const WARN_ON_SIGUSR2 = pathToFileURL(fileURLToPath(new URL('./fixtures/warn-on-sigusr2.mjs', import.meta.url))).href;
const NODE_MAJOR = Number(process.versions.node.split('.')[0]);

test('run: node-cron\'s missed executions and process warnings are JSON log lines', { timeout: 120_000 }, async () => {
  const env = await archiveEnv(mongo);
  try {
    const run = startCli(['run', '--no-env-file'], env.env({ LOG_FORMAT: 'json', SEAL_SCHEDULE: '* * * * * *', NODE_OPTIONS: `--import ${WARN_ON_SIGUSR2}` }));
    await run.waitFor('archiver started', 60_000);
    // Frozen for 4 s, the process misses the seal schedule's runs of those seconds.
    run.child.kill('SIGSTOP');
    await new Promise((r) => setTimeout(r, 4000));
    run.child.kill('SIGCONT');
    await run.waitFor('missed execution', 30_000);
    run.child.kill('SIGUSR2');
    await run.waitFor('CLS_TEST_WARNING', 30_000);
    run.child.kill('SIGTERM');
    const res = await run.exited;
    assert.equal(res.code, 0, res.stderr.slice(-3000));
    const lines = stderrLines(res.stderr);
    const missed = lines.filter((l) => /^missed execution at /.test(l.message));
    assert.ok(missed.length > 0);
    for (const l of missed) assert.equal(l.level, 'warn');
    const warning = lines.find((l) => l.meta?.code === 'CLS_TEST_WARNING');
    assert.deepEqual(
      { level: warning?.level, message: warning?.message, meta: warning?.meta },
      { level: 'warn', message: 'a test warning\nwith a second line', meta: { warning: 'Warning', code: 'CLS_TEST_WARNING', detail: 'and a detail line' } },
    );
    const advice = lines.filter((l) => /Node\.js 22 or later is recommended/.test(l.message));
    assert.equal(advice.length, NODE_MAJOR < 22 ? 1 : 0, 'run advises Node.js 22 once on older versions');
  } finally {
    await env.close();
  }
});

test('one-shot commands with an S3 destination, a usage error and an invalid configuration write only JSON lines', { timeout: 120_000 }, async () => {
  const env = await archiveEnv(mongo);
  try {
    const s3 = env.env({
      LOG_FORMAT: 'json',
      UPLOAD_PROVIDER: 's3',
      S3_BUCKET: 'logs-bucket',
      S3_ENDPOINT: 'http://127.0.0.1:9',
      S3_FORCE_PATH_STYLE: 'true',
      AWS_ACCESS_KEY_ID: 'AKIAEXAMPLE',
      AWS_SECRET_ACCESS_KEY: 'secret-example-key',
      RETRY_ATTEMPTS: '1',
    });
    const runs = await Promise.all([
      runCli(['status', '--no-env-file', '--json'], s3),
      runCli(['doctor', '--no-env-file', '--json', '--timeout', '2000'], s3),
      runCli(['seal', '--no-env-file', '--frobnicate'], s3),
      runCli(['status', '--no-env-file'], { ...s3, GZIP_LEVEL: '11' }),
    ]);
    for (const r of runs) {
      const lines = stderrLines(r.stderr);
      assert.ok(!r.stderr.includes('NodeVersionSupportWarning') && !r.stderr.includes('(node:'), r.stderr);
      for (const l of lines) assert.ok(typeof l.timestamp === 'string' && typeof l.level === 'string', JSON.stringify(l));
    }
    const [status, doctor, usage, invalid] = runs as [(typeof runs)[number], (typeof runs)[number], (typeof runs)[number], (typeof runs)[number]];
    assert.ok(status.code === 0 || status.code === 1, status.stderr);
    const node = (JSON.parse(doctor.stdout) as { checks: Array<{ name: string; ok: boolean; message: string }> }).checks.find((c) => c.name === 'node');
    assert.equal(node?.ok, true);
    assert.match(node?.message ?? '', NODE_MAJOR < 22 ? /Node\.js 22 or later is recommended/ : /^Node\.js v\d+/);
    assert.equal(usage.code, 2);
    assert.match(stderrLines(usage.stderr).map((l) => l.message).join('\n'), /unknown option '--frobnicate'/);
    assert.equal(invalid.code, 2);
    const [error] = stderrLines(invalid.stderr);
    assert.equal(error?.meta?.code, 'CONFIG_INVALID');
    assert.deepEqual(error?.meta?.issues, ['GZIP_LEVEL (gzipLevel): expected an integer from 1 to 9, got "11"']);
  } finally {
    await env.close();
  }
});
