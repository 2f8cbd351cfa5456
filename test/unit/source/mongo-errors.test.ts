import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MongoAPIError, MongoCompatibilityError, MongoNetworkError, MongoNetworkTimeoutError, MongoServerError, MongoServerSelectionError, MongoTopologyClosedError } from 'mongodb';
import { CronLogError } from '../../../src/errors.js';
import { describeMongoError, isMongoUnavailable, mongoFailure, mongoServers } from '../../../src/source/mongo-errors.js';
import { createMongoClient } from '../../../src/source/mongo-client.js';

function serverError(code: number, message: string, codeName?: string, labels: string[] = []): MongoServerError {
  return new MongoServerError({ ok: 0, code, errmsg: message, ...(codeName ? { codeName } : {}), ...(labels.length > 0 ? { errorLabels: labels } : {}) });
}

test('isMongoUnavailable: network errors, server selection, no primary, shutdown; not other server or driver errors', () => {
  assert.ok(isMongoUnavailable(new MongoNetworkError('connection 3 to 127.0.0.1:27017 closed')));
  assert.ok(isMongoUnavailable(new MongoNetworkTimeoutError('connection timed out')));
  assert.ok(isMongoUnavailable(new MongoServerSelectionError('connect ECONNREFUSED 127.0.0.1:27017', { servers: new Map() } as never)));
  assert.ok(isMongoUnavailable(serverError(10107, 'not primary', 'NotWritablePrimary')));
  assert.ok(isMongoUnavailable(serverError(11602, 'operation was interrupted', 'InterruptedDueToReplStateChange')));
  assert.ok(isMongoUnavailable(serverError(91, 'The server is in quiesce mode and will shut down', 'ShutdownInProgress')));
  assert.ok(isMongoUnavailable(serverError(189, 'primary stepped down', 'PrimarySteppedDown')));
  assert.ok(isMongoUnavailable(serverError(1234, 'something transient', undefined, ['RetryableWriteError'])));
  assert.ok(isMongoUnavailable(new CronLogError('MONGO_UNAVAILABLE', 'cannot connect to MongoDB at mongodb://db/app: refused')));

  assert.ok(!isMongoUnavailable(serverError(13, 'not authorized on app to execute command', 'Unauthorized')));
  assert.ok(!isMongoUnavailable(serverError(286, 'history lost', 'ChangeStreamHistoryLost')));
  assert.ok(!isMongoUnavailable(serverError(50, 'operation exceeded time limit', 'MaxTimeMSExpired')));
  assert.ok(!isMongoUnavailable(new MongoTopologyClosedError()));
  assert.ok(!isMongoUnavailable(new MongoAPIError('URI cannot contain options with no value')));
  assert.ok(!isMongoUnavailable(new CronLogError('SPOOL_IO', 'disk full')));
  assert.ok(!isMongoUnavailable(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' })), 'not a MongoDB error');
  assert.ok(!isMongoUnavailable(undefined));
});

test('describeMongoError: the error name, the server code name and code, the message, redacted', () => {
  assert.equal(describeMongoError(new MongoServerSelectionError('connect ECONNREFUSED 127.0.0.1:27017', { servers: new Map() } as never)), 'MongoServerSelectionError: connect ECONNREFUSED 127.0.0.1:27017');
  assert.equal(describeMongoError(serverError(13, 'not authorized on app', 'Unauthorized')), 'MongoServerError Unauthorized (code 13): not authorized on app');
  assert.equal(describeMongoError(new MongoNetworkError('failed to connect to mongodb://u:hunter22@db:27017/app')), 'MongoNetworkError: failed to connect to mongodb://u:****@db:27017/app');
  assert.equal(describeMongoError(new Error('plain')), 'plain');
  assert.equal(describeMongoError('a string'), 'a string');
});

test('mongoFailure: MONGO_UNAVAILABLE naming the server when unreachable, MONGO_FAILED for other driver errors, nothing for the rest', () => {
  const down = mongoFailure(new MongoServerSelectionError('connect ECONNREFUSED 10.0.0.5:27017', { servers: new Map() } as never), 'db1:27017', 'seal');
  assert.ok(down instanceof CronLogError);
  assert.equal(down.code, 'MONGO_UNAVAILABLE');
  assert.equal(down.exitCode, 3);
  assert.equal(down.message, 'MongoDB at db1:27017 is unreachable during seal: MongoServerSelectionError: connect ECONNREFUSED 10.0.0.5:27017; run it again once MongoDB is back');
  const refused = mongoFailure(serverError(13, 'not authorized on app to execute command', 'Unauthorized'), undefined);
  assert.equal(refused?.code, 'MONGO_FAILED');
  assert.equal(refused?.exitCode, 3);
  assert.equal(refused?.message, 'MongoDB failed: MongoServerError Unauthorized (code 13): not authorized on app to execute command');
  assert.equal(mongoFailure(new CronLogError('SPOOL_IO', 'disk full'), 'db1'), undefined);
  assert.equal(mongoFailure(new TypeError('x is undefined'), 'db1'), undefined);
});

test("mongoServers names the URI's hosts (or its SRV name); createMongoClient lets the URI's serverSelectionTimeoutMS win", async () => {
  const multi = createMongoClient('mongodb://u:p@db1:27017,db2:27018/app?replicaSet=rs0');
  assert.equal(mongoServers(multi), 'db1:27017,db2:27018');
  assert.equal(multi.options.serverSelectionTimeoutMS, 15_000, 'the default');
  const own = createMongoClient('mongodb://db1/app?serverSelectionTimeoutMS=2000');
  assert.equal(own.options.serverSelectionTimeoutMS, 2000, "the URI's own");
  const mixedCase = createMongoClient('mongodb://db1/app?serverselectiontimeoutms=3000');
  assert.equal(mixedCase.options.serverSelectionTimeoutMS, 3000);
  const given = createMongoClient('mongodb://db1/app?serverSelectionTimeoutMS=2000', { serverSelectionTimeoutMS: 500 });
  assert.equal(given.options.serverSelectionTimeoutMS, 500, 'an explicit option (doctor --timeout)');
  await Promise.all([multi.close(), own.close(), mixedCase.close(), given.close()]);
});

test("createMongoClient names itself cron-log-service unless the URI sets its own appName", async () => {
  const plain = createMongoClient('mongodb://db1/app');
  assert.equal(plain.options.appName, 'cron-log-service');
  const named = createMongoClient('mongodb://db1/app?appName=billing-archiver');
  assert.equal(named.options.appName, 'billing-archiver', "the URI's own (server logs, currentOp)");
  const lower = createMongoClient('mongodb://db1/app?appname=billing-archiver');
  assert.equal(lower.options.appName, 'billing-archiver');
  await Promise.all([plain.close(), named.close(), lower.close()]);
});

test('mongoFailure: a feature the server lacks (MongoCompatibilityError) is named, with what to do, never an unexpected error', () => {
  const lacking = mongoFailure(new MongoCompatibilityError('Current topology does not support sessions'), 'db1:27017', 'capture');
  assert.equal(lacking?.code, 'MONGO_FAILED');
  assert.equal(
    lacking?.message,
    'MongoDB at db1:27017 lacks a feature the archiver used during capture: MongoCompatibilityError: Current topology does not support sessions. ' +
      'Run `cron-log-service doctor` to see what the server advertises, and report this with its output',
  );
});
