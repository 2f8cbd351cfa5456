/**
 * End to end on Azure Blob Storage (Azurite, over real HTTP, the official SDK): `cron-log-service
 * run` (a child process) with a seconds seal schedule delivers every finished hour, `doctor`,
 * `backfill`, `status`, `reconcile --deep` and `restore --into` work through the destination; and the crash test: the archiver
 * is killed with SIGKILL while it stages the blocks of an hour (a block held by the fault proxy),
 * restarted, and the hour is committed once, at the same key, with the right bytes, the blocks
 * the service still held not sent again, and the manifest's hashes matching.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createGunzip } from 'node:zlib';
import split2 from 'split2';
import { ObjectId } from 'mongodb';
import { createDestination, type Destination } from '../../../src/deliver/index.js';
import { archiveEnv, waitFor } from '../../helpers/archive-env.js';
import { HOUR, hourKey } from '../../helpers/archive-keys.js';
import { runCli, startCli, stderrLines } from '../../helpers/archiver-process.js';
import { azureEnvVars, startAzurite, type TestAzurite } from '../../helpers/azurite.js';
import { readAll } from '../../helpers/destination-contract.js';
import { startFaultProxy, type RequestRecord } from '../../helpers/fault-proxy.js';
import { startTestMongo, type TestMongo } from '../../helpers/mongo.js';

let mongo: TestMongo;
let azurite: TestAzurite;
before(async () => {
  mongo = await startTestMongo();
  azurite = await startAzurite();
});
after(async () => {
  await azurite.close();
  await mongo.close();
});

function destinationOf(container: string): Destination {
  return createDestination({ kind: 'azure', azure: { connectionString: azurite.connectionString(), container }, retryAttempts: 2 });
}

async function keys(d: Destination, prefix: string): Promise<string[]> {
  const out: string[] = [];
  for await (const o of d.list(`${prefix}/`)) out.push(o.key);
  return out;
}

async function linesOf(d: Destination, key: string): Promise<string[]> {
  const out: string[] = [];
  for await (const line of (await d.get(key)).pipe(createGunzip()).pipe(split2()) as AsyncIterable<string>) if (line) out.push(line);
  return out;
}

test('run delivers every finished hour to Azure Blob Storage; doctor, backfill, status, reconcile --deep and restore pass', { timeout: 120_000 }, async () => {
  const env = await archiveEnv(mongo);
  const container = await azurite.createContainer('run');
  const d = destinationOf(container);
  try {
    const prefix = 'api-logs';
    const vars = env.env({ ...azureEnvVars(azurite, container), OUTPUT_DIRECTORY: prefix, SEAL_SCHEDULE: '*/2 * * * * *' });
    const doctor = await runCli(['doctor', '--no-env-file', '--json'], vars);
    const checks = (JSON.parse(doctor.stdout) as { checks: { name: string; ok: boolean }[] }).checks;
    assert.deepEqual(checks.filter((c) => c.name.startsWith('destination')).map((c) => [c.name, c.ok]), [['destination container', true], ['destination put', true], ['destination get', true], ['destination delete', true]]);
    assert.ok(!doctor.stdout.includes(azurite.accountKey) && !doctor.stderr.includes(azurite.accountKey));

    const run = startCli(['run', '--no-env-file'], vars);
    await run.waitFor('archiver started', 60_000);
    const h0 = Math.floor(Date.now() / HOUR) * HOUR - 2 * HOUR;
    const docs = Array.from({ length: 200 }, (_, i) => ({ _id: new ObjectId(), createdAt: new Date(h0 + Math.floor((i * 2 * HOUR) / 200)), i }));
    await env.client.db(env.db).collection('apilogs').insertMany(docs);
    await waitFor(async () => (await keys(d, prefix)).filter((k) => k.endsWith('.manifest.json')).length >= 2, 60_000, 'two manifests in the container');
    run.child.kill('SIGTERM');
    const res = await run.exited;
    assert.equal(res.code, 0, res.stderr.slice(-2000));
    assert.ok(!res.stderr.includes(azurite.accountKey), 'the account key is never logged');
    assert.ok(stderrLines(res.stderr).length > 0, 'every stderr line is a JSON log line (no SDK warning in between)');
    assert.ok(stderrLines(doctor.stderr).every((l) => l.level !== 'warn' || !/azure/i.test(l.message)), doctor.stderr);
    const expected = [hourKey(h0, { prefix }), hourKey(h0 + HOUR, { prefix })];
    const all = await keys(d, prefix);
    for (const k of expected) assert.ok(all.includes(k), `${k} in ${all.join(', ')}`);
    let lines = 0;
    for (const k of expected) lines += (await linesOf(d, k)).length;
    assert.equal(lines, 200);

    // An hour from before the archiver ran, archived by backfill.
    const early = h0 - HOUR;
    await env.client.db(env.db).collection('apilogs').insertMany(Array.from({ length: 20 }, (_, i) => ({ _id: new ObjectId(), createdAt: new Date(early + i * 60_000), i })));
    const backfill = await runCli(['backfill', '--no-env-file', '--from', new Date(early).toISOString(), '--to', new Date(h0).toISOString()], vars);
    assert.equal(backfill.code, 0, backfill.stdout + backfill.stderr);
    assert.equal((await linesOf(d, hourKey(early, { prefix }))).length, 20);

    const rec = await runCli(['reconcile', '--no-env-file', '--from', new Date(early).toISOString(), '--to', new Date(h0 + 2 * HOUR).toISOString(), '--deep', '--json'], vars);
    assert.equal(rec.code, 0, rec.stdout + rec.stderr);
    assert.deepEqual(JSON.parse(rec.stdout).map((r: { status: string }) => r.status), ['ok', 'ok', 'ok']);
    // restore reads the hours back from the container, verified against their manifests.
    const restore = await runCli(['restore', '--no-env-file', '--from', new Date(early).toISOString(), '--to', new Date(h0 + 2 * HOUR).toISOString(), '--into', 'restored', '--json'], vars);
    assert.equal(restore.code, 0, restore.stdout + restore.stderr);
    const restored = await env.client.db(env.db).collection('restored').find({}, { projection: { _id: 1 } }).toArray();
    const original = await env.client.db(env.db).collection('apilogs').find({}, { projection: { _id: 1 } }).toArray();
    assert.deepEqual(restored.map((x) => String(x._id)).sort(), original.map((x) => String(x._id)).sort(), 'every archived document restored from Azure, with its ObjectId');
    // status reads the ledger (exit 1 here only says that no archiver runs any more).
    const status = await runCli(['status', '--no-env-file', '--json'], vars);
    const report = JSON.parse(status.stdout) as { lastDelivered: string; sealedPending: unknown[]; attention: string[] };
    assert.equal(report.lastDelivered.slice(0, 13), new Date(h0 + HOUR).toISOString().slice(0, 13), status.stdout);
    assert.deepEqual(report.sealedPending, []);
    assert.deepEqual(report.attention, ['no archiver is running (`run` holds a lease while it captures)']);
    assert.ok(!status.stdout.includes(azurite.accountKey));
  } finally {
    await d.close();
    await env.close();
  }
});

test('SIGKILL while the blocks of an hour are staged: after a restart the blob is committed once, at the same key, with the right bytes; staged blocks are not sent again', { timeout: 180_000 }, async () => {
  const env = await archiveEnv(mongo);
  const container = await azurite.createContainer('crash');
  const proxy = await startFaultProxy(`http://127.0.0.1:${new URL(azurite.endpoint).port}`);
  const d = destinationOf(container);
  try {
    const prefix = 'api-logs';
    const vars = env.env({
      ...azureEnvVars(azurite, container),
      AZURE_STORAGE_CONNECTION_STRING: azurite.connectionString(`${proxy.endpoint}/${azurite.account}`),
      AZURE_BLOCK_SIZE_MB: '1',
      AZURE_UPLOAD_CONCURRENCY: '1',
      OUTPUT_DIRECTORY: prefix,
      SEAL_SCHEDULE: '*/2 * * * * *',
    });
    const h0 = Math.floor(Date.now() / HOUR) * HOUR - 2 * HOUR;
    const key = hourKey(h0, { prefix });
    const isPutBlock = (r: RequestRecord): boolean => r.method === 'PUT' && r.query['comp'] === 'block' && r.url.includes(`/${key}?`);
    // 40 documents of 48 KiB of random base64 each: about 2 MiB of gzip, 3 blocks of 1 MiB.
    const docs = Array.from({ length: 40 }, (_, i) => ({ _id: new ObjectId(), createdAt: new Date(h0 + i * 60_000), i, payload: randomBytes(36 * 1024).toString('base64') }));
    // The second block of the hour is held: the first is staged, the put waits on the second.
    const hold = proxy.rule({ when: isPutBlock, skip: 1, fault: { type: 'stall', ms: 600_000 } });
    const first = startCli(['run', '--no-env-file'], vars);
    await first.waitFor('archiver started', 60_000);
    await env.client.db(env.db).collection('apilogs').insertMany(docs);
    await waitFor(() => hold.faulted >= 1, 60_000, 'the second block to be held');
    first.child.kill('SIGKILL');
    assert.equal((await first.exited).signal, 'SIGKILL');
    assert.equal(await d.head(key), undefined, 'nothing visible at the key after the crash');
    const client = azurite.containerClient(container).getBlockBlobClient(key);
    const staged = (await client.getBlockList('uncommitted')).uncommittedBlocks ?? [];
    assert.equal(staged.length, 1, 'the first block is staged, uncommitted');

    hold.remove();
    proxy.clearLog();
    const second = startCli(['run', '--no-env-file'], vars);
    await second.waitFor('archiver started', 60_000);
    await waitFor(async () => (await keys(d, prefix)).includes(hourKey(h0, { prefix, ext: '.manifest.json' })), 90_000, 'the manifest of the hour');
    second.child.kill('SIGTERM');
    assert.equal((await second.exited).code, 0);

    const blocks = await client.getBlockList('all');
    const committed = blocks.committedBlocks ?? [];
    assert.ok(committed.length >= 2, `${committed.length} blocks`);
    assert.deepEqual(blocks.uncommittedBlocks, []);
    assert.equal(committed[0]?.name, staged[0]?.name, 'the block staged before the crash is the blob\'s first block, same id');
    assert.equal(proxy.requests.filter(isPutBlock).length, committed.length - 1, 'the block the service held was not sent again');
    assert.equal(proxy.requests.filter((r) => r.method === 'PUT' && r.query['comp'] === 'blocklist' && r.url.includes(`/${key}?`)).length, 1, 'committed once');

    const dataKeys = (await keys(d, prefix)).filter((k) => k.endsWith('.ndjson.gz'));
    assert.deepEqual(dataKeys, [key], 'one object for the hour, at its key');
    const lines = await linesOf(d, key);
    const ids = lines.map((l) => (JSON.parse(l) as { _id: string })._id);
    assert.equal(ids.length, docs.length);
    assert.equal(new Set(ids).size, docs.length, 'no duplicates');
    assert.deepEqual(new Set(ids), new Set(docs.map((x) => x._id.toHexString())));

    const bytes = await readAll(await d.get(key));
    const manifest = JSON.parse((await readAll(await d.get(hourKey(h0, { prefix, ext: '.manifest.json' })))).toString()) as { count: number; parts: { key: string; sha256: string; bytes: number }[] };
    assert.equal(manifest.count, docs.length);
    assert.deepEqual(manifest.parts.map((p) => [p.key, p.sha256, p.bytes]), [[key, createHash('sha256').update(bytes).digest('hex'), bytes.length]]);
    assert.deepEqual(await d.head(key), { key, size: bytes.length, sha256: manifest.parts[0]?.sha256 });

    const rec = await runCli(['reconcile', '--no-env-file', '--from', new Date(h0).toISOString(), '--to', new Date(h0 + HOUR).toISOString(), '--deep', '--json'], vars);
    assert.equal(rec.code, 0, rec.stdout + rec.stderr);
    assert.deepEqual(JSON.parse(rec.stdout).map((r: { status: string }) => r.status), ['ok']);
  } finally {
    await d.close();
    await proxy.close();
    await env.close();
  }
});
