/**
 * `doctor` names the MongoDB release (buildInfo, hello's wire version) and what it lacks: on the
 * default server the version alone; on MongoDB 4.4 (emulator --server-version 4.4) that 5.0
 * operators are missing and the counts use the portable path (still every check passes, exit 0);
 * on 4.2, which the MongoDB Node.js driver 7 refuses, a failure saying to upgrade (exit 1).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { archiveEnv } from '../../helpers/archive-env.js';
import { runCli, uriWithDb } from '../../helpers/archiver-process.js';
import { emulatorOnly, startTestMongo } from '../../helpers/mongo.js';

interface DoctorJson {
  ok: boolean;
  checks: Array<{ name: string; ok: boolean; message: string; hint?: string }>;
}

async function doctor(serverVersion: string | undefined): Promise<{ code: number | null; stdout: string; report: DoctorJson }> {
  const mongo = await startTestMongo(serverVersion === undefined ? {} : { serverVersion });
  const env = await archiveEnv(mongo);
  try {
    await env.client.db(env.db).collection('apilogs').createIndex({ createdAt: 1 });
    const text = await runCli(['doctor', '--no-env-file', '--timeout', '3000'], env.env());
    const json = await runCli(['doctor', '--no-env-file', '--json', '--timeout', '3000'], env.env());
    return { code: text.code, stdout: text.stdout, report: JSON.parse(json.stdout) as DoctorJson };
  } finally {
    await env.close();
    await mongo.close();
  }
}

test('doctor prints the server version: the default server', async () => {
  const { code, stdout, report } = await doctor(undefined);
  assert.equal(code, 0, stdout);
  assert.match(stdout, /^ok\s+server version\s+MongoDB \d+\.\d+\.\d+ \(wire version \d+\)$/m);
  assert.match(stdout, /^ok\s+sessions\s+logical sessions supported/m);
  assert.equal(report.ok, true);
});

test('doctor on MongoDB 4.4: supported, 5.0 operators missing, counts on the portable path; every check passes', { skip: emulatorOnly('--server-version') }, async () => {
  const { code, stdout, report } = await doctor('4.4');
  assert.equal(code, 0, stdout);
  assert.match(stdout, /^ok\s+server version\s+MongoDB 4\.4\.\d+ \(wire version 9\): supported; it lacks 5\.0 aggregation operators such as \$dateTrunc.*portable path/m);
  assert.equal(report.checks.find((c) => c.name === 'server version')?.ok, true);
});

test('doctor on MongoDB 4.2: the driver refuses it; doctor says to upgrade to 4.4 (exit 1)', { skip: emulatorOnly('--server-version') }, async () => {
  const mongo = await startTestMongo({ serverVersion: '4.2' });
  const dir = await mkdtemp(join(tmpdir(), 'cls-doc42-'));
  let r;
  try {
    r = await runCli(['doctor', '--no-env-file', '--json', '--timeout', '3000'], {
      DB_URI: uriWithDb(mongo.uri, 'app'),
      UPLOAD_PROVIDER: 'file',
      LOCAL_DIRECTORY: join(dir, 'a'),
      SPOOL_DIRECTORY: join(dir, 's'),
    });
  } finally {
    await mongo.close();
    await rm(dir, { recursive: true, force: true });
  }
  assert.equal(r.code, 1, r.stdout);
  const report = JSON.parse(r.stdout) as DoctorJson;
  const mongodb = report.checks.find((c) => c.name === 'mongodb');
  assert.equal(mongodb?.ok, false);
  assert.match(mongodb?.message ?? '', /wire version 8.*requires at least 9 \(MongoDB 4\.4\)/);
  assert.match(mongodb?.hint ?? '', /older than MongoDB 4\.4.*upgrade the server/);
});
