import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { archiveEnv, waitFor } from '../../helpers/archive-env.js';
import { runCli, startCli, uriWithDb } from '../../helpers/archiver-process.js';
import { emulatorOnly, startTestMongo } from '../../helpers/mongo.js';
import type { TestMongo } from '../../helpers/mongo.js';
import { s3EnvVars, startTestS3 } from '../../helpers/s3.js';
import type { TestS3 } from '../../helpers/s3.js';

let mongo: TestMongo;
let s3: TestS3;
before(async () => {
  mongo = await startTestMongo();
  s3 = await startTestS3();
});
after(async () => {
  await s3.close();
  await mongo.close();
});

test('run serves /metrics, /healthz and /readyz; status --json reports the checkpoint and hours', { timeout: 120_000 }, async () => {
  const env = await archiveEnv(mongo);
  try {
    const run = startCli(['run', '--no-env-file'], env.env({ METRICS_PORT: '0', SEAL_SCHEDULE: '*/2 * * * * *' }));
    await run.waitFor('metrics endpoint listening', 60_000);
    const url = (/"url":"(http:\/\/[^"]+)"/.exec(run.output().stderr) ?? [])[1];
    assert.ok(url, 'the metrics URL is logged');
    await run.waitFor('archiver started');
    const h = Math.floor(Date.now() / 3_600_000) * 3_600_000 - 3_600_000;
    await env.client.db(env.db).collection('apilogs').insertMany(Array.from({ length: 25 }, (_, i) => ({ createdAt: new Date(h + i * 1000) })));
    await waitFor(async () => /cronlog_hours_delivered_total\{[^}]*\} 1/.test(await (await fetch(`${url}/metrics`)).text()), 30_000, 'a delivered hour in /metrics');
    const metrics = await (await fetch(`${url}/metrics`)).text();
    assert.match(metrics, new RegExp(`cronlog_events_captured_total\\{namespace="${env.db}.apilogs"\\} 25`));
    assert.match(metrics, /cronlog_checkpoints_total/);
    assert.match(metrics, /cronlog_capture_lag_seconds/);
    assert.equal((await fetch(`${url}/healthz`)).status, 200);
    await waitFor(async () => (await fetch(`${url}/readyz`)).status === 200, 20_000, '/readyz 200');
    assert.equal((await fetch(`${url}/nope`)).status, 404);

    const st = await runCli(['status', '--no-env-file', '--json'], env.env());
    const report = JSON.parse(st.stdout) as Record<string, unknown> & { attention: string[]; checkpoint: { ageSeconds: number; lagSeconds: number }; running: { command: string } };
    assert.equal(st.code, 0, JSON.stringify(report.attention));
    for (const k of ['namespace', 'running', 'checkpoint', 'oplog', 'openHours', 'sealedPending', 'lastSealed', 'lastDelivered', 'lastVerified', 'mismatches', 'recentFailures', 'attention']) {
      assert.ok(k in report, `status --json has ${k}`);
    }
    assert.equal(report.running.command, 'run');
    assert.ok(report.checkpoint.ageSeconds < 60);
    assert.ok(report.lastVerified, 'an hour verified');
    run.child.kill('SIGTERM');
    assert.equal((await run.exited).code, 0);
    const stopped = await runCli(['status', '--no-env-file'], env.env());
    assert.equal(stopped.code, 1, 'attention: no archiver running');
    assert.match(stopped.stdout, /no archiver is running/);
  } finally {
    await env.close();
  }
});

test('doctor passes against the emulator and s3rver', async () => {
  const env = await archiveEnv(mongo);
  try {
    const coll = env.client.db(env.db).collection('apilogs');
    await coll.createIndex({ createdAt: 1 });
    const r = await runCli(['doctor', '--no-env-file'], env.env(s3EnvVars(s3)));
    assert.equal(r.code, 0, r.stdout + r.stderr);
    for (const name of ['configuration', 'mongodb', 'replica set', 'collection', 'timestamp index', 'oplog window', 'destination put', 'spool directory', 'clock']) {
      assert.match(r.stdout, new RegExp(`^ok\\s+${name}`, 'm'));
    }
  } finally {
    await env.close();
  }
});

test('doctor fails with clear messages: wrong bucket, bad credentials, unreachable MongoDB', async () => {
  const env = await archiveEnv(mongo);
  try {
    await env.client.db(env.db).collection('apilogs').createIndex({ createdAt: 1 });
    const bucket = await runCli(['doctor', '--no-env-file', '--json'], env.env(s3EnvVars(s3, { S3_BUCKET: 'no-such-bucket-here' })));
    assert.equal(bucket.code, 1);
    const b = JSON.parse(bucket.stdout) as { checks: Array<{ name: string; ok: boolean; message: string }> };
    assert.match(b.checks.find((c) => !c.ok)!.message, /bucket no-such-bucket-here does not exist/);
    const creds = await runCli(['doctor', '--no-env-file', '--json'], env.env(s3EnvVars(s3, { AWS_ACCESS_KEY_ID: 'AKIAUNKNOWNKEY000000', AWS_SECRET_ACCESS_KEY: 'topsecret-value-123' })));
    assert.equal(creds.code, 1);
    assert.match(creds.stdout, /credentials are invalid|access key/i);
    assert.ok(!creds.stdout.includes('topsecret-value-123'));
    const down = await runCli(['doctor', '--no-env-file', '--timeout', '1000'], env.env({ DB_URI: 'mongodb://user:hunter2hunter2@127.0.0.1:9/app' }));
    assert.equal(down.code, 1);
    assert.match(down.stdout, /FAIL\s+mongodb\s+cannot reach MongoDB at mongodb:\/\/user:\*\*\*\*@127\.0\.0\.1:9\/app/);
    assert.ok(!down.stdout.includes('hunter2hunter2'));
  } finally {
    await env.close();
  }
});

test('doctor on a standalone server: capture by query with the default captureMode; a failure with captureMode change-stream', { skip: emulatorOnly('--standalone') }, async () => {
  const standalone = await startTestMongo({ standalone: true });
  const dir = await mkdtemp(join(tmpdir(), 'cls-doc-'));
  try {
    const env = {
      DB_URI: uriWithDb(standalone.uri, 'app'),
      UPLOAD_PROVIDER: 'file',
      LOCAL_DIRECTORY: join(dir, 'a'),
      SPOOL_DIRECTORY: join(dir, 's'),
    };
    const r = await runCli(['doctor', '--no-env-file'], env);
    assert.match(r.stdout, /ok\s+replica set\s+a standalone server: no change streams, `run` captures by query \(captureMode auto/);
    const forced = await runCli(['doctor', '--no-env-file'], { ...env, CAPTURE_MODE: 'change-stream' });
    assert.equal(forced.code, 1);
    assert.match(forced.stdout, /FAIL\s+replica set\s+a standalone server: change streams are not available, and captureMode is "change-stream"/);
    assert.match(forced.stdout, /CAPTURE_MODE/);
  } finally {
    await standalone.close();
    await rm(dir, { recursive: true, force: true });
  }
});
