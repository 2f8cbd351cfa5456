/**
 * No output of any command contains the Azure secrets given in the environment: the account key
 * (AZURE_STORAGE_KEY) and a connection string with its AccountKey, while Azurite refuses that
 * key (403), so every command that reaches the container reports the failure.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { ObjectId } from 'mongodb';
import { archiveEnv, type ArchiveEnv } from '../../helpers/archive-env.js';
import { HOUR } from '../../helpers/archive-keys.js';
import { runCli, startCli } from '../../helpers/archiver-process.js';
import { startAzurite, type TestAzurite } from '../../helpers/azurite.js';
import { startTestMongo, type TestMongo } from '../../helpers/mongo.js';

let mongo: TestMongo;
let azurite: TestAzurite;
let env: ArchiveEnv;
before(async () => {
  mongo = await startTestMongo();
  azurite = await startAzurite();
  env = await archiveEnv(mongo);
});
after(async () => {
  await env.close();
  await azurite.close();
  await mongo.close();
});

const KEY = Buffer.from('a wrong account key that must never be printed').toString('base64');

test('no command prints the Azure account key or connection string', { timeout: 180_000 }, async () => {
  const container = await azurite.createContainer('secrets');
  const h0 = Math.floor(Date.now() / HOUR) * HOUR - 2 * HOUR;
  await env.client.db(env.db).collection('apilogs').insertMany(Array.from({ length: 5 }, (_, i) => ({ _id: new ObjectId(), createdAt: new Date(h0 + i * 1000) })));
  const connection = `DefaultEndpointsProtocol=http;AccountName=${azurite.account};AccountKey=${KEY};BlobEndpoint=${azurite.endpoint};`;
  const range = ['--from', new Date(h0).toISOString(), '--to', new Date(h0 + HOUR).toISOString()];
  const envs = [
    env.env({ UPLOAD_PROVIDER: 'azure', AZURE_STORAGE_ACCOUNT: azurite.account, AZURE_STORAGE_KEY: KEY, AZURE_ENDPOINT: azurite.endpoint, AZURE_CONTAINER: container, LOG_LEVEL: 'debug', RETRY_ATTEMPTS: '0' }),
    env.env({ UPLOAD_PROVIDER: 'azure', AZURE_STORAGE_CONNECTION_STRING: connection, AZURE_CONTAINER: container, LOG_LEVEL: 'debug', RETRY_ATTEMPTS: '0' }),
  ];
  for (const [n, vars] of envs.entries()) {
    const outputs: Array<[string, string]> = [];
    const doctor = await runCli(['doctor', '--no-env-file', '--json'], vars);
    assert.notEqual(doctor.code, 0);
    assert.match(doctor.stdout, /storage account devstoreaccount1 refused the credentials/);
    outputs.push(['doctor', doctor.stdout + doctor.stderr]);
    // Every command with the key; the ones that reach the container with the connection string.
    const commands = [['backfill', '--no-env-file', ...range], ['seal', '--no-env-file'], ['reconcile', '--no-env-file', '--deep', ...range], ['status', '--no-env-file', '--json']];
    for (const args of n === 0 ? commands : commands.slice(0, 1)) {
      const r = await runCli(args, vars, { timeoutMs: 60_000 });
      outputs.push([args[0] as string, r.stdout + r.stderr]);
    }
    if (n === 0) {
      const run = startCli(['run', '--no-env-file'], vars);
      await run.waitFor('archiver started', 60_000);
      run.child.kill('SIGTERM');
      const res = await run.exited;
      outputs.push(['run', res.stdout + res.stderr]);
    }
    assert.match(outputs.find(([name]) => name === 'backfill')?.[1] ?? '', /storage account devstoreaccount1 refused the credentials/, 'backfill reported the refusal');
    for (const [name, out] of outputs) {
      assert.ok(!out.includes(KEY), `${name} printed the account key`);
      assert.ok(!out.includes(connection), `${name} printed the connection string`);
      assert.doesNotMatch(out, /SharedKey devstoreaccount1:(?!\*\*\*\*)/, `${name} printed a request signature`);
    }
  }
});
