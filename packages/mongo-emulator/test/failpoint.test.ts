/**
 * Fault injection through `configureFailPoint: 'failCommand'` as on a mongod with test
 * commands enabled: errorCode (with the labels mongod attaches, or the given errorLabels),
 * closeConnection, blockConnection, { times: n }, 'off', and appName scoping.
 */
import { after, afterEach, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { MongoNetworkError, ObjectId } from 'mongodb';
import type { Collection, Document, MongoClient , MongoServerError} from 'mongodb';
import { lockFailCommand, setFailCommand, startTestMongo, uniqueDbName } from '../src/testing.js';
import type { TestMongo } from '../src/testing.js';
import { connect } from './support.js';

let mongo: TestMongo;
let admin: MongoClient;
let client: MongoClient;
const appName = `fp-${randomBytes(4).toString('hex')}`;
const dbName = uniqueDbName('failpoint');
const started: string[] = [];
let unlock: (() => Promise<void>) | undefined;

before(async () => {
  mongo = await startTestMongo();
  admin = await connect(mongo.uri);
  unlock = await lockFailCommand(admin);
  client = await connect(mongo.uri, { appName, monitorCommands: true });
  client.on('commandStarted', (e) => started.push(e.commandName));
});

afterEach(async () => {
  await failCommand('off');
});

after(async () => {
  await unlock?.();
  await admin?.db(dbName).dropDatabase();
  await client?.close();
  await admin?.close();
  await mongo?.close();
});

function failCommand(mode: unknown, data?: Document): Promise<Document> {
  return setFailCommand(admin, appName, mode, data);
}

function fresh(): Collection<Document> {
  return client.db(dbName).collection(`c_${new ObjectId().toHexString()}`);
}

test('errorCode fails the command with that code', async () => {
  const c = fresh();
  await failCommand('alwaysOn', { failCommands: ['find'], errorCode: 2 });
  await assert.rejects(c.findOne({}), (err: MongoServerError) => {
    assert.equal(err.code, 2);
    assert.equal(err.codeName, 'BadValue');
    assert.match(err.message, /failCommand/);
    return true;
  });
  await assert.rejects(c.findOne({}), { code: 2 }, 'alwaysOn keeps failing');
  await failCommand('off');
  assert.equal(await c.findOne({}), null);
});

test('errorLabels replace the labels of the error', async () => {
  const c = fresh();
  await failCommand({ times: 1 }, { failCommands: ['find'], errorCode: 1, errorLabels: ['MyLabel'] });
  await assert.rejects(c.findOne({}), (err: MongoServerError) => {
    assert.equal(err.code, 1);
    assert.ok(err.hasErrorLabel('MyLabel'));
    return true;
  });
});

test('{ times: n } fails n matching commands, then the fail point turns off', async () => {
  const c = fresh();
  await c.insertOne({ a: 1 });
  const reply = await failCommand({ times: 2 }, { failCommands: ['count'], errorCode: 13 });
  assert.equal(reply.ok, 1);
  await c.findOne({}); // other commands are not affected and do not consume an activation
  await assert.rejects(c.estimatedDocumentCount(), { code: 13 });
  await assert.rejects(c.estimatedDocumentCount(), { code: 13 });
  assert.equal(await c.estimatedDocumentCount(), 1);
  const off = await failCommand('off');
  assert.equal(off.count, 2, 'configureFailPoint reports how often the fail point fired');
});

test('closeConnection drops the connection; reads and writes are retried once, writes applied once', async () => {
  const c = fresh();
  const noRetry = await connect(mongo.uri, { appName, retryReads: false });
  try {
    await failCommand({ times: 1 }, { failCommands: ['find'], closeConnection: true });
    await assert.rejects(noRetry.db(dbName).collection(c.collectionName).findOne({}), (err: unknown) => err instanceof MongoNetworkError);
    assert.equal(await noRetry.db(dbName).collection(c.collectionName).findOne({}), null, 'the next command works');
  } finally {
    await noRetry.close();
  }
  started.length = 0;
  await failCommand({ times: 1 }, { failCommands: ['find'], closeConnection: true });
  assert.equal(await c.findOne({}), null);
  assert.equal(started.filter((n) => n === 'find').length, 2, 'the driver retried the read');

  started.length = 0;
  await failCommand({ times: 1 }, { failCommands: ['insert'], closeConnection: true });
  await c.insertOne({ once: true });
  assert.equal(started.filter((n) => n === 'insert').length, 2, 'the driver retried the insert');
  assert.equal(await c.countDocuments({ once: true }), 1);
});

test('retryable error codes carry RetryableWriteError on writes, so the driver retries', async () => {
  const c = fresh();
  started.length = 0;
  await failCommand({ times: 1 }, { failCommands: ['insert'], errorCode: 91 });
  await c.insertOne({ retried: true });
  assert.equal(started.filter((n) => n === 'insert').length, 2);
  assert.equal(await c.countDocuments({ retried: true }), 1);
  await failCommand({ times: 1 }, { failCommands: ['insert'], errorCode: 2 });
  await assert.rejects(c.insertOne({ notRetried: true }), (err: MongoServerError) => {
    assert.equal(err.code, 2);
    assert.ok(!err.hasErrorLabel('RetryableWriteError'));
    return true;
  });
});

test('blockConnection delays the command by blockTimeMS', async () => {
  const c = fresh();
  await failCommand({ times: 1 }, { failCommands: ['find'], blockConnection: true, blockTimeMS: 400 });
  const t = performance.now();
  assert.equal(await c.findOne({}), null);
  const elapsed = performance.now() - t;
  assert.ok(elapsed >= 380, `blocked ${elapsed.toFixed(0)} ms`);
});

test('appName limits the fail point to one client', async () => {
  await failCommand('alwaysOn', { failCommands: ['find'], errorCode: 2 });
  const other = admin.db(dbName).collection('untouched');
  assert.equal(await other.findOne({}), null, 'a client with another appName is not affected');
  await assert.rejects(fresh().findOne({}), { code: 2 });
});
