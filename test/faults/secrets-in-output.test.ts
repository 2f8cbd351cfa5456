/**
 * Issue 15, item 8: no command prints a secret, whatever the secret holds. `doctor --json` used
 * to print a DB_URI password containing a space whole (its URI redaction skipped the registered
 * secrets and its pattern stopped at whitespace), and an S3_ENDPOINT with credentials was
 * refused by a message repeating it. Secrets here hold spaces, `@`, `:`, `/`, `%` and unicode;
 * every command runs with text and JSON output: when MongoDB refuses the credentials, when the
 * configuration is invalid, and when everything works (then `run` logs at debug level).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConnectionString } from 'mongodb-connection-string-url';
import { archiveEnv, waitFor } from '../helpers/archive-env.js';
import { HOUR } from '../helpers/archive-keys.js';
import { runCli, startCli } from '../helpers/archiver-process.js';
import type { CliResult } from '../helpers/archiver-process.js';
import { needsEmulator, startTestMongo } from '../helpers/mongo.js';
import type { TestMongo } from '../helpers/mongo.js';
import { spoolNow } from '../helpers/spool-reader.js';

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

/** Percent-encoded in DB_URI, as the driver requires for `@ : / %`. */
const DB_PASSWORD = 'p@ss w:rd/%ü€ 1q';
/** Written as is in DB_URI: the driver accepts spaces and unicode in a password. */
const DB_PASSWORD_LITERAL = 'pa ss wörd€ 2q';
const AWS_SECRET = 'wJal/rXUt@nF:EMI%K7MD€ü3q';
const AWS_SECRET_WITH_SPACES = 'wJal rXUt@nF:EMI/K7%MD€ 4q';
const SESSION_TOKEN = 'FwoG/ZXIv@YXdz:EB%oaDü5q';
const HOOK_TOKEN = 'tök en@x:y/%z6q';
const ENDPOINT_PASSWORD = 'SE CRET:ü€%7q';

/** Every form a secret could be printed in: as is, percent-encoded, and its parts. */
function forms(secret: string): string[] {
  return [secret, encodeURIComponent(secret), ...secret.split(' ').filter((part) => part.length >= 4)];
}
const FORBIDDEN = [DB_PASSWORD, DB_PASSWORD_LITERAL, AWS_SECRET, AWS_SECRET_WITH_SPACES, SESSION_TOKEN, HOOK_TOKEN, ENDPOINT_PASSWORD].flatMap(forms);

function assertNoSecret(what: string, r: Pick<CliResult, 'stdout' | 'stderr'>): void {
  const out = `${r.stdout}\n${r.stderr}`;
  for (const s of FORBIDDEN) assert.ok(!out.includes(s), `${what} printed the secret part ${JSON.stringify(s)}:\n${out.slice(0, 4000)}`);
}

function uriWith(base: string, password: string, db: string, raw = false): string {
  const cs = new ConnectionString(base);
  cs.username = 'archiver';
  cs.password = encodeURIComponent(password);
  cs.pathname = `/${db}`;
  const uri = cs.toString();
  return raw ? uri.replace(`:${encodeURIComponent(password)}@`, `:${password}@`) : uri;
}

function secretsEnv(dbUri: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    DB_URI: dbUri,
    UPLOAD_PROVIDER: 'file',
    LOCAL_DIRECTORY: join(dir, 'archive'),
    SPOOL_DIRECTORY: join(dir, 'spool'),
    AWS_ACCESS_KEY_ID: 'AKIAEXAMPLEKEYID0000',
    AWS_SECRET_ACCESS_KEY: AWS_SECRET,
    AWS_SESSION_TOKEN: SESSION_TOKEN,
    WEBHOOK_URL: `https://hooks.example.com/services/T0/${encodeURIComponent(HOOK_TOKEN)}`,
    LOG_LEVEL: 'debug',
    ...extra,
  };
}

const range = ['--from', '2024-01-15T00:00:00Z', '--to', '2024-01-15T02:00:00Z'];
/**
 * Every one-shot command. A command that cannot connect or load its configuration prints the
 * same error with or without --json, so these failing runs take the JSON form (doctor both).
 */
const FAILING: string[][] = [
  ['seal', '--json'],
  ['reconcile', ...range, '--json'],
  ['backfill', ...range, '--json'],
  ['status', '--json'],
  ['doctor', '--timeout', '2000'],
  ['doctor', '--timeout', '2000', '--json'],
];

/** Runs the commands three at a time (a batch never holds two commands that take the same lease). */
async function runAll(commands: string[][], env: Record<string, string>): Promise<Array<{ args: string[]; r: CliResult }>> {
  const out: Array<{ args: string[]; r: CliResult }> = [];
  for (let i = 0; i < commands.length; i += 3) {
    const batch = commands.slice(i, i + 3);
    out.push(...(await Promise.all(batch.map(async (args) => ({ args, r: await runCli([...args, '--no-env-file'], env, { timeoutMs: 120_000 }) })))));
  }
  return out;
}

/** `run` until it exits by itself or has run for `ms`, then stopped. */
async function runFor(env: Record<string, string>, ms: number): Promise<CliResult> {
  const run = startCli(['run', '--no-env-file'], env);
  const timer = setTimeout(() => run.child.kill('SIGTERM'), ms);
  const r = await run.exited;
  clearTimeout(timer);
  return r;
}

test('MongoDB refuses the credentials: no command prints the password, with spaces or without', { skip: needsEmulator, timeout: 300_000 }, async () => {
  for (const [password, raw] of [
    [DB_PASSWORD_LITERAL, true],
    [DB_PASSWORD, false],
  ] as const) {
    const env = secretsEnv(uriWith(mongo.uri, password, 'app', raw));
    // The password as is (the case) through every command; percent-encoded through doctor and status.
    const results = await runAll(raw ? FAILING : FAILING.filter((args) => args[0] === 'doctor' || args[0] === 'status'), env);
    if (raw) results.push({ args: ['run'], r: await runFor(env, 15_000) });
    for (const { args, r } of results) {
      const what = `${args.join(' ')} (password ${raw ? 'as is' : 'percent-encoded'})`;
      assert.notEqual(r.code, 0, `${what} fails: authentication is refused\n${r.stderr.slice(-2000)}`);
      assert.match(`${r.stdout}${r.stderr}`, /archiver:\*\*\*\*@/, `${what} names the redacted URI`);
      assertNoSecret(what, r);
    }
  }
});

test('an invalid configuration: every command exits 2 without printing a secret', { timeout: 300_000 }, async () => {
  const env = secretsEnv(uriWith(mongo.uri, DB_PASSWORD, 'app').replace(/@([^/,]+?)(:\d+)?([/,])/, '@$1:notaport$3'), {
    AWS_SECRET_ACCESS_KEY: AWS_SECRET_WITH_SPACES,
    S3_ENDPOINT: `http://ak:${ENDPOINT_PASSWORD}@minio.example.com:9000`,
  });
  const results = await runAll(FAILING, env);
  results.push({ args: ['run'], r: await runFor(env, 15_000) });
  for (const { args, r } of results) {
    const what = args.join(' ');
    assert.equal(r.code, 2, `${what} exits 2\n${r.stdout}${r.stderr}`);
    const out = `${r.stdout}${r.stderr}`;
    assert.match(out, /S3_ENDPOINT \(s3\.endpoint\): expected an http\(s\) URL/, what);
    assert.match(out, /AWS_SECRET_ACCESS_KEY \(s3\.secretAccessKey\): expected a secret access key without whitespace/, what);
    assert.match(out, /DB_URI \(dbUri\): the port \\?"notaport\\?"/, what);
    assertNoSecret(what, r);
  }
});

test('everything works: no command output and no log line of run prints a secret', { timeout: 300_000 }, async () => {
  const archive = await archiveEnv(mongo);
  try {
    const env = { ...secretsEnv(archive.uri), ...archive.env(), LOG_LEVEL: 'debug', AWS_SECRET_ACCESS_KEY: AWS_SECRET };
    const h = Math.floor(Date.now() / HOUR) * HOUR - HOUR;
    const run = startCli(['run', '--no-env-file'], env);
    await run.waitFor('archiver started', 60_000);
    await archive.client.db(archive.db).collection('apilogs').insertOne({ createdAt: new Date(h + 60_000), note: 'hello' });
    await waitFor(async () => (await spoolNow(archive.spoolDirectory, `${archive.db}.apilogs`)).length === 1, 60_000, 'the document in the spool');
    run.child.kill('SIGTERM');
    const ran = await run.exited;
    assert.equal(ran.code, 0, ran.stderr.slice(-2000));
    assertNoSecret('run', ran);
    const hour = ['--from', new Date(h).toISOString(), '--to', new Date(h + HOUR).toISOString()];
    const commands = [
      ['seal'], ['reconcile', ...hour], ['status'],
      ['seal', '--json'], ['reconcile', ...hour, '--json'], ['status', '--json'],
      // (Batches of three: the two backfills, which take the same lease, in different batches.)
      ['backfill', ...hour], ['doctor'], ['doctor', '--json'],
      ['backfill', ...hour, '--json'],
    ];
    for (const { args, r } of await runAll(commands, env)) {
      assert.ok(r.code === 0 || r.code === 1, `${args.join(' ')} runs (exit ${String(r.code)})\n${r.stderr.slice(-2000)}`);
      assertNoSecret(args.join(' '), r);
    }
  } finally {
    await archive.close();
  }
});
