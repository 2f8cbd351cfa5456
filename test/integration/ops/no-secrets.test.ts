/**
 * No output of any command contains a secret given in the environment: the MongoDB password
 * (authentication fails, so every command reports the connection error), the AWS secret key,
 * the session token, the webhook token and the dashboard token.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConnectionString } from 'mongodb-connection-string-url';
import { runCli } from '../../helpers/archiver-process.js';
import { needsEmulator, startTestMongo } from '../../helpers/mongo.js';
import type { TestMongo } from '../../helpers/mongo.js';

let mongo: TestMongo;
let dir: string;
before(async () => {
  mongo = await startTestMongo();
  dir = await mkdtemp(join(tmpdir(), 'cls-secrets-'));
});
after(async () => {
  await mongo.close();
  await rm(dir, { recursive: true, force: true });
});

const PASSWORD = 'Mongo-Pa55word-xyz';
const SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYSECRETKEY';
const TOKEN = 'FwoGZXIvYXdzEBoaDSESSIONTOKEN';
const HOOK = 'T0000/B0000/XXXXhooktokenXXXX';
const DASHBOARD = 'dashboard-token-never-printed-0042';

test('no command prints a secret from the environment', { skip: needsEmulator, timeout: 180_000 }, async () => {
  const cs = new ConnectionString(mongo.uri);
  cs.username = 'archiver';
  cs.password = PASSWORD;
  cs.pathname = '/app';
  const env = {
    DB_URI: cs.toString(),
    UPLOAD_PROVIDER: 'file',
    LOCAL_DIRECTORY: join(dir, 'archive'),
    SPOOL_DIRECTORY: join(dir, 'spool'),
    AWS_ACCESS_KEY_ID: 'AKIAEXAMPLEKEYID0000',
    AWS_SECRET_ACCESS_KEY: SECRET,
    AWS_SESSION_TOKEN: TOKEN,
    WEBHOOK_URL: `https://hooks.example.com/services/${HOOK}`,
    DASHBOARD_TOKEN: DASHBOARD,
    LOG_LEVEL: 'debug',
  };
  const range = ['--from', '2024-01-15T00:00:00Z', '--to', '2024-01-15T02:00:00Z'];
  const runs = [
    ['run', '--no-env-file'],
    ['seal', '--no-env-file'],
    ['reconcile', '--no-env-file', ...range],
    ['backfill', '--no-env-file', ...range],
    ['status', '--no-env-file', '--json'],
    ['doctor', '--no-env-file', '--timeout', '2000'],
    ['dashboard', '--no-env-file', '--port', '0'],
  ];
  for (const args of runs) {
    const r = await runCli(args, env, { timeoutMs: 60_000 });
    const out = r.stdout + r.stderr;
    assert.notEqual(r.code, 0, `${args[0]} fails: authentication is refused`);
    assert.match(out, /archiver:\*\*\*\*@/, `${args[0]} names the redacted URI`);
    for (const s of [PASSWORD, SECRET, TOKEN, HOOK, DASHBOARD]) assert.ok(!out.includes(s), `${args[0]} printed a secret`);
  }
});
