/**
 * The MongoDB of the tests: a real replica set when MONGODB_URI is set, else the emulator
 * in-process (`startTestMongo`, `uniqueDbName`, `needsEmulator`, `emulatorOnly`), and the
 * `failCommand` fail point helpers (`setFailCommand`, `lockFailCommand`). They live in the
 * emulator package (packages/mongo-emulator/src/testing.ts), whose own conformance suite uses them
 * too; the archiver's tests import them from here.
 */
export * from '@cron-log-service/mongo-emulator/testing';

import { after, before } from 'node:test';
import { MongoClient } from 'mongodb';
import { startTestMongo } from '@cron-log-service/mongo-emulator/testing';
import type { TestMongo } from '@cron-log-service/mongo-emulator/testing';

/**
 * The usual setup of a test file: before its tests, a test MongoDB and a client connected to it,
 * handed to `use`; both closed after them.
 */
export function useTestMongo(use: (mongo: TestMongo, client: MongoClient) => void): void {
  let mongo: TestMongo | undefined;
  let client: MongoClient | undefined;
  before(async () => {
    mongo = await startTestMongo();
    client = await MongoClient.connect(mongo.uri);
    use(mongo, client);
  });
  after(async () => {
    await client?.close();
    await mongo?.close();
  });
}
