/**
 * `--server-version` / `serverVersion`: the emulator plays an older MongoDB release. It reports
 * that release's version (buildInfo, serverStatus), wire version (hello) and FCV, and refuses the
 * aggregation stages, expressions and `$group` accumulators the release lacks with mongod's
 * codes (40324, 168, 15952), also inside sub-pipelines and change stream pipelines.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Document, MongoClient, MongoServerError } from 'mongodb';
import { MongoClient as MongoClient6 } from 'mongodb6';
import { emulatorOnly, startTestMongo } from '../src/testing.js';
import type { TestMongo } from '../src/testing.js';
import { connect, runEmulator, spawnEmulator } from './support.js';

const skip = emulatorOnly('--server-version');

let v44: TestMongo;
let v50: TestMongo;
let latest: TestMongo;
let c44: MongoClient;
let c50: MongoClient;
let cLatest: MongoClient;
before(async () => {
  if (skip) return;
  [v44, v50, latest] = await Promise.all([startTestMongo({ serverVersion: '4.4' }), startTestMongo({ serverVersion: '5.0' }), startTestMongo()]);
  [c44, c50, cLatest] = await Promise.all([connect(v44.uri), connect(v50.uri), connect(latest.uri)]);
  for (const c of [c44, c50, cLatest]) {
    await c.db('sv').collection<{ _id: number; at: Date; n: number }>('logs').insertMany([
      { _id: 1, at: new Date('2024-01-01T10:20:00Z'), n: 1 },
      { _id: 2, at: new Date('2024-01-01T11:40:00Z'), n: 2 },
    ]);
  }
});
after(async () => {
  await Promise.all([c44, c50, cLatest].map((c) => c?.close()));
  await Promise.all([v44, v50, latest].map((m) => m?.close()));
});

async function refusal(client: MongoClient, pipeline: Document[]): Promise<MongoServerError> {
  const err = await client.db('sv').collection('logs').aggregate(pipeline).toArray().then(
    () => undefined,
    (e: unknown) => e as MongoServerError,
  );
  assert.ok(err, `the pipeline is refused: ${JSON.stringify(pipeline)}`);
  return err;
}

const dateTrunc = { $group: { _id: { $dateTrunc: { date: '$at', unit: 'hour' } }, n: { $sum: 1 } } };

test('4.4 reports its version, wire version 9 and FCV 4.4', { skip }, async () => {
  const build = await c44.db('admin').command({ buildInfo: 1 });
  assert.match(build.version as string, /^4\.4\.\d+$/);
  assert.deepEqual((build.versionArray as number[]).slice(0, 2), [4, 4]);
  const hello = await c44.db('admin').command({ hello: 1 });
  assert.equal(hello.maxWireVersion, 9);
  assert.equal((await c44.db('admin').command({ serverStatus: 1 })).version, build.version);
  const fcv = await c44.db('admin').command({ getParameter: 1, featureCompatibilityVersion: 1 });
  assert.equal((fcv.featureCompatibilityVersion as Document).version, '4.4');
  // The default release: 8.0, wire version 25.
  assert.equal((await cLatest.db('admin').command({ hello: 1 })).maxWireVersion, 25);
  assert.equal((await cLatest.db('admin').command({ buildInfo: 1 })).version, '8.0.0');
});

test('4.4 refuses $dateTrunc (168), $setWindowFields (40324) and the $count accumulator (15952) as mongod 4.4 does', { skip }, async () => {
  let err = await refusal(c44, [dateTrunc]);
  assert.equal(err.code, 168);
  assert.equal(err.codeName, 'InvalidPipelineOperator');
  assert.match(err.message, /Unrecognized expression '\$dateTrunc'/);
  err = await refusal(c44, [{ $project: { f: { $getField: 'n' } } }]);
  assert.equal(err.code, 168);
  assert.match(err.message, /'\$getField'/);
  err = await refusal(c44, [{ $setWindowFields: { sortBy: { at: 1 }, output: { c: { $sum: 1 } } } }]);
  assert.equal(err.code, 40324);
  assert.match(err.message, /Unrecognized pipeline stage name: '\$setWindowFields'/);
  err = await refusal(c44, [{ $densify: { field: 'at', range: { step: 1, unit: 'hour', bounds: 'full' } } }]);
  assert.equal(err.code, 40324);
  err = await refusal(c44, [{ $fill: { output: { n: { value: 0 } } } }]);
  assert.equal(err.code, 40324);
  err = await refusal(c44, [{ $group: { _id: null, c: { $count: {} } } }]);
  assert.equal(err.code, 15952);
  // Inside sub-pipelines and $expr.
  err = await refusal(c44, [{ $facet: { a: [dateTrunc] } }]);
  assert.equal(err.code, 168);
  err = await refusal(c44, [{ $lookup: { from: 'logs', pipeline: [{ $match: { $expr: { $gt: [{ $dateDiff: { startDate: '$at', endDate: '$$NOW', unit: 'day' } }, 0] } } }], as: 'x' } }]);
  assert.equal(err.code, 168);
  // $literal is data, not an expression.
  assert.equal((await c44.db('sv').collection('logs').aggregate([{ $project: { x: { $literal: { $dateTrunc: 1 } } } }]).toArray()).length, 2);
});

test('4.4 refuses a change stream whose pipeline uses a 5.0 operator', { skip }, async () => {
  const stream = c44.db('sv').collection('logs').watch([{ $addFields: { h: { $dateTrunc: { date: '$clusterTime', unit: 'hour' } } } }]);
  const err = await stream.tryNext().then(
    () => undefined,
    (e: unknown) => e as MongoServerError,
  );
  await stream.close();
  assert.equal(err?.code, 168);
});

test('what 4.4 has still works there; 5.0 has $dateTrunc and lacks $densify (5.1); the default has them all', { skip }, async () => {
  const portable = [
    { $group: { _id: { $subtract: [{ $toLong: '$at' }, { $mod: [{ $toLong: '$at' }, 3_600_000] }] }, n: { $sum: 1 } } },
    { $sort: { _id: 1 } },
  ];
  const rows = await c44.db('sv').collection('logs').aggregate(portable).toArray();
  assert.deepEqual(rows.map((r) => r.n), [1, 1]);
  await c44.db('sv').collection('logs').aggregate([{ $unionWith: 'logs' }, { $project: { s: { $isNumber: '$n' } } }]).toArray();
  const truncated = await c50.db('sv').collection('logs').aggregate([dateTrunc, { $sort: { _id: 1 } }]).toArray();
  assert.deepEqual(truncated.map((r) => (r._id as Date).toISOString()), ['2024-01-01T10:00:00.000Z', '2024-01-01T11:00:00.000Z']);
  assert.equal((await refusal(c50, [{ $densify: { field: 'at', range: { step: 1, unit: 'hour', bounds: 'full' } } }])).code, 40324);
  assert.equal((await cLatest.db('sv').collection('logs').aggregate([dateTrunc]).toArray()).length, 2);
});

test('--server-version on the command line; 4.2 reports wire version 8 (driver 6 connects, driver 7 needs 4.4+); bad values exit 2', { skip }, async () => {
  const emu = await spawnEmulator(['--port', '0', '--server-version', '4.2']);
  try {
    const client = new MongoClient6(emu.uri, { serverSelectionTimeoutMS: 10_000 });
    try {
      const hello = await client.db('admin').command({ hello: 1 });
      assert.equal(hello.maxWireVersion, 8);
      assert.match((await client.db('admin').command({ buildInfo: 1 })).version as string, /^4\.2\.\d+$/);
    } finally {
      await client.close();
    }
    const seven = await connect(emu.uri, { serverSelectionTimeoutMS: 2_000 }).then(
      async (c) => {
        await c.close();
        return undefined;
      },
      (e: unknown) => e as Error,
    );
    assert.match(String(seven?.message), /wire version 8.*requires at least 9 \(MongoDB 4\.4\)/);
  } finally {
    await emu.stop();
  }
  for (const bad of ['3.6', '4.3', 'latest']) {
    const r = await runEmulator(['--server-version', bad]);
    assert.equal(r.code, 2, bad);
    assert.match(r.stderr, /--server-version must be one of 4\.2, 4\.4, 5\.0, 6\.0, 7\.0, 8\.0/);
  }
  const help = await runEmulator(['--help']);
  assert.match(help.stdout, /--server-version/);
});
