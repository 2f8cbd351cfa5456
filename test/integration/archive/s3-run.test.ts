/**
 * End to end on S3 over real HTTP: `cron-log-service run` (a child process) with a seconds seal
 * schedule delivers every finished hour to s3rver; a fault-injecting proxy in front of s3rver
 * makes deliveries fail past retryAttempts (the hour stays sealed, the error is in `logs`) and
 * then succeed on the next run.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createGunzip } from 'node:zlib';
import split2 from 'split2';
import { MongoClient, ObjectId } from 'mongodb';
import type { ChangeStreamDocument, Document } from 'mongodb';
import { HeadObjectCommand, S3Client } from '@aws-sdk/client-s3';
import type { Archiver } from '../../../src/archiver.js';
import { encodeClosingRecord, factsPath } from '../../../src/spool/facts-file.js';
import { createDestination } from '../../../src/deliver/index.js';
import { archiveEnv, insertCaptured, startArchiver, waitFor } from '../../helpers/archive-env.js';
import { HOUR, hourKey } from '../../helpers/archive-keys.js';
import { runCli, startCli } from '../../helpers/archiver-process.js';
import { startFaultProxy } from '../../helpers/fault-proxy.js';
import { startTestMongo } from '../../helpers/mongo.js';
import type { TestMongo } from '../../helpers/mongo.js';
import { s3EnvVars, s3Options, startTestS3 } from '../../helpers/s3.js';
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

test('run with a seconds schedule delivers every finished hour to S3; reconcile --deep passes', { timeout: 120_000 }, async () => {
  const env = await archiveEnv(mongo);
  try {
    const prefix = `it-${env.db}`;
    const vars = env.env({ ...s3EnvVars(s3), OUTPUT_DIRECTORY: prefix, SEAL_SCHEDULE: '*/2 * * * * *' });
    const run = startCli(['run', '--no-env-file'], vars);
    await run.waitFor('archiver started', 60_000);
    const h0 = Math.floor(Date.now() / HOUR) * HOUR - 2 * HOUR;
    const docs = Array.from({ length: 200 }, (_, i) => ({ _id: new ObjectId(), createdAt: new Date(h0 + Math.floor((i * 2 * HOUR) / 200)), i }));
    await env.client.db(env.db).collection('apilogs').insertMany(docs);
    const dest = createDestination({ kind: 's3', s3: { ...s3Options(s3), partSizeMB: 5, queueSize: 2, checksumAlgorithm: 'SHA256' }, retryAttempts: 2 });
    const keys = async (): Promise<string[]> => {
      const out: string[] = [];
      for await (const o of dest.list(`${prefix}/`)) out.push(o.key);
      return out;
    };
    await waitFor(async () => (await keys()).filter((k) => k.endsWith('.manifest.json')).length >= 2, 60_000, 'two manifests in S3');
    run.child.kill('SIGTERM');
    const res = await run.exited;
    assert.equal(res.code, 0, res.stderr.slice(-2000));
    const expected = [hourKey(h0, { prefix }), hourKey(h0 + HOUR, { prefix })];
    const all = await keys();
    for (const k of expected) assert.ok(all.includes(k), `${k} in ${all.join(', ')}`);
    let lines = 0;
    for (const k of expected) {
      for await (const line of (await dest.get(k)).pipe(createGunzip()).pipe(split2()) as AsyncIterable<string>) if (line) lines++;
    }
    assert.equal(lines, 200);
    await dest.close();
    const rec = await runCli(['reconcile', '--no-env-file', '--from', new Date(h0).toISOString(), '--to', new Date(h0 + 2 * HOUR).toISOString(), '--deep', '--json'], { ...vars });
    assert.equal(rec.code, 0, rec.stdout + rec.stderr);
    assert.deepEqual(JSON.parse(rec.stdout).map((r: { status: string }) => r.status), ['ok', 'ok']);
  } finally {
    await env.close();
  }
});

test('S3 failures past retryAttempts leave the hour sealed with the error in logs; the next run delivers it', { timeout: 120_000 }, async () => {
  const env = await archiveEnv(mongo);
  const proxy = await startFaultProxy(s3.endpoint);
  try {
    const config = env.config({
      uploadProvider: 's3',
      outputDirectory: `faults-${env.db}`,
      retryAttempts: 1,
      s3: s3Options(s3, proxy.endpoint),
    });
    const archiver = await startArchiver(config);
    const h0 = Math.floor(Date.now() / HOUR) * HOUR - 2 * HOUR;
    await insertCaptured(env, archiver, Array.from({ length: 30 }, (_, i) => ({ createdAt: new Date(h0 + i * 1000) })));
    const rule = proxy.rule({ op: ['PutObject', 'UploadPart', 'CreateMultipartUpload'], fault: { type: 'error', status: 503, code: 'SlowDown' } });
    const failed = await archiver.sealNow();
    assert.equal(failed.failed, 1);
    assert.ok(rule.faulted >= 2, `retried (${rule.faulted} faulted requests)`);
    const day = await env.client.db(env.db).collection('jobs').findOne({ kind: 'day' });
    const hour = Object.values(day!.hours as Record<string, { state: string; lastError: string }>)[0]!;
    assert.equal(hour.state, 'sealed');
    const log = await env.client.db(env.db).collection('logs').findOne({ op: 'deliver', outcome: 'error' });
    assert.ok(log?.error, 'the delivery error is recorded');
    assert.ok(!String(log.error).includes(s3.secretAccessKey) || s3.secretAccessKey.length < 4);
    rule.remove();
    const ok = await archiver.sealNow();
    assert.equal(ok.failed, 0, JSON.stringify(ok));
    assert.deepEqual(ok.hours.map((h) => h.status), ['delivered']);
    assert.ok(ok.reconciled.some((r) => r.status === 'ok'));
    await archiver.close();
  } finally {
    await proxy.close();
    await env.close();
  }
});

test('the part is reserved in the ledger before the object is created at its key; the upload checks the key meanwhile', { timeout: 60_000 }, async () => {
  const env = await archiveEnv(mongo);
  const proxy = await startFaultProxy(s3.endpoint);
  const appName = `reserve-${env.db}`.slice(0, 100);
  const client = new MongoClient(env.uri, { appName });
  await client.connect();
  const changes = env.client.db(env.db).collection('jobs').watch([{ $match: { operationType: { $in: ['insert', 'update'] } } }]);
  try {
    const config = env.config({
      uploadProvider: 's3',
      outputDirectory: `reserve-${env.db}`,
      s3: s3Options(s3, proxy.endpoint),
    });
    const archiver = await startArchiver(config, { client });
    const h0 = Math.floor(Date.now() / HOUR) * HOUR - 2 * HOUR;
    await insertCaptured(env, archiver, Array.from({ length: 30 }, (_, i) => ({ createdAt: new Date(h0 + i * 1000) })));
    await changes.tryNext(); // opens the stream (it starts when its first batch is read)
    const arrivals: Array<{ op: string; at: number }> = [];
    proxy.rule({ when: (r) => (arrivals.push({ op: r.op, at: Date.now() }), false), fault: { type: 'error', status: 500 } });
    // Every write of the archiver's client to MongoDB now waits 400 ms before it runs.
    const admin = env.client.db('admin');
    await admin.command({ configureFailPoint: 'failCommand', mode: 'alwaysOn', data: { failCommands: ['update'], appName, blockConnection: true, blockTimeMS: 400 } });
    let report;
    try {
      report = await archiver.sealNow();
    } finally {
      await admin.command({ configureFailPoint: 'failCommand', mode: 'off' });
    }
    assert.equal(report.failed, 0, JSON.stringify(report));
    assert.deepEqual(report.hours.map((h) => h.status), ['delivered']);
    // The first write that mentions a reservation is the reservation: its time in the oplog.
    let reservedAt: number | undefined;
    while (reservedAt === undefined) {
      const ev = (await changes.next()) as ChangeStreamDocument<Document> & { wallTime?: Date; updateDescription?: { updatedFields?: Document }; fullDocument?: Document };
      if (JSON.stringify(ev.updateDescription?.updatedFields ?? ev.fullDocument ?? {}).includes('"reservations')) reservedAt = ev.wallTime?.getTime();
      else if (ev.wallTime === undefined) assert.fail('change events carry no wallTime');
    }
    const creating = arrivals.filter((a) => a.op === 'CompleteMultipartUpload' || a.op === 'PutObject');
    const head = arrivals.find((a) => a.op === 'HeadObject');
    const sending = arrivals.find((a) => a.op === 'UploadPart' || a.op === 'PutObject');
    assert.ok(creating.length > 0 && head !== undefined && sending !== undefined, JSON.stringify(arrivals));
    assert.ok(reservedAt !== undefined);
    assert.ok(creating[0]!.at >= reservedAt, `nothing created before the reservation (${creating[0]!.op} ${creating[0]!.at - reservedAt} ms after it)`);
    assert.ok(head.at < reservedAt, `the key was checked while the reservation waited (${reservedAt - head.at} ms before it)`);
    await archiver.close();
  } finally {
    await changes.close();
    await client.close();
    await proxy.close();
    await env.close();
  }
});

test('a closing record the facts check does not confirm: nothing is reserved, recorded or completed on it; the hour goes up from the check in the same run', { timeout: 60_000 }, async () => {
  const env = await archiveEnv(mongo);
  const proxy = await startFaultProxy(s3.endpoint);
  let archiver: Archiver | undefined;
  try {
    const prefix = `claim-${env.db}`;
    const config = env.config({
      uploadProvider: 's3',
      outputDirectory: prefix,
      retryAttempts: 1,
      s3: s3Options(s3, proxy.endpoint),
    });
    const a = await startArchiver(config);
    archiver = a;
    const h0 = Math.floor(Date.now() / HOUR) * HOUR - 2 * HOUR;
    await insertCaptured(env, a, Array.from({ length: 50 }, (_, i) => ({ _id: new ObjectId(), createdAt: new Date(h0 + i * 1000), i })));
    // A first run that cannot upload leaves the hour in sealed/ with its facts.
    const rule = proxy.rule({ op: ['PutObject', 'UploadPart', 'CreateMultipartUpload'], fault: { type: 'error', status: 403, code: 'AccessDenied' } });
    assert.equal((await a.sealNow()).failed, 1);
    rule.remove();
    const sealed = join(env.spoolDirectory, `${env.db}.apilogs`, 'sealed');
    const name = (await readdir(sealed)).find((n) => n.endsWith('.ndjson.gz'))!;
    // The closing record now claims 49 lines (its own checksum is valid); the member records say 50.
    const sidecar = await readFile(factsPath(join(sealed, name)));
    const size = (await stat(join(sealed, name))).size;
    const claim = encodeClosingRecord(size, 49, Buffer.from(sidecar.subarray(sidecar.length - 36, sidecar.length - 4)));
    await writeFile(factsPath(join(sealed, name)), Buffer.concat([sidecar.subarray(0, sidecar.length - claim.length), claim]));
    const logs = env.client.db(env.db).collection('logs');
    const before = await logs.countDocuments();
    proxy.clearLog();
    const report = await a.sealNow();
    assert.equal(report.failed, 0, JSON.stringify(report));
    assert.equal(report.hours[0]?.count, 50);
    // One object, created once, carrying the checked count.
    assert.equal(proxy.count('PutObject', (r) => r.key?.endsWith('.ndjson.gz') === true) + proxy.count('CompleteMultipartUpload'), 1);
    const key = report.hours[0]!.key!;
    const raw = new S3Client({ endpoint: s3.endpoint, region: s3.region, forcePathStyle: true, credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey } });
    try {
      const head = await raw.send(new HeadObjectCommand({ Bucket: s3.bucket, Key: key }));
      assert.equal(head.Metadata?.count, '50');
    } finally {
      raw.destroy();
    }
    assert.deepEqual(await s3.openUploads(), []);
    // One seal record and one delivery, with the checked figures; the reservation is released.
    const records = await logs.find({}).sort({ _id: 1 }).skip(before).toArray();
    assert.deepEqual(records.filter((r) => r.op === 'seal').map((r) => [r.count, (r.details as { checkedBy: string }).checkedBy]), [[50, 'facts']]);
    assert.deepEqual(records.filter((r) => r.op === 'deliver').map((r) => [r.outcome, r.count]), [['ok', 50]]);
    const day = await env.client.db(env.db).collection('jobs').findOne({ kind: 'day' });
    const hour = Object.values(day!.hours as Record<string, { parts: Array<{ part: number; count: number }>; reservations?: Record<string, unknown> }>)[0]!;
    assert.deepEqual(hour.parts.map((p) => [p.part, p.count]), [[1, 50]]);
    assert.ok(Object.values(hour.reservations ?? {}).every((r) => r === null), JSON.stringify(hour.reservations));
  } finally {
    await archiver?.close();
    await proxy.close();
    await env.close();
  }
});
