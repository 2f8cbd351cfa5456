/**
 * A MongoDB (the emulator, or MONGODB_URI) and a database of the test file's own, for the tests
 * of the ledger (`jobs`, `logs`): `fresh()` gives each test a namespace of its own, so tests
 * never see each other's leases or checkpoints. Call it at the top level of a test file: it
 * registers the `before`/`after` hooks that start and stop it.
 */
import { after, before } from 'node:test';
import { MongoClient } from 'mongodb';
import type { Collection, Db, Document } from 'mongodb';
import { startTestMongo, uniqueDbName } from './mongo.js';
import type { TestMongo } from './mongo.js';

export interface LedgerFixture {
  /** The server's connection string (for a client of a test's own). */
  uri(): string;
  /** The database of the file. */
  db(): Db;
  /** The `jobs` collection, a namespace no other test uses, and its lease `_id`. */
  fresh(): { jobs: Collection<Document>; namespace: string; id: string };
}

export function ledgerFixture(prefix: string): LedgerFixture {
  let mongo: TestMongo;
  let client: MongoClient;
  let dbName: string;
  let n = 0;
  before(async () => {
    mongo = await startTestMongo();
    client = new MongoClient(mongo.uri);
    await client.connect();
    dbName = uniqueDbName(prefix);
  });
  after(async () => {
    await client.db(dbName).dropDatabase().catch(() => undefined);
    await client.close();
    await mongo.close();
  });
  return {
    uri: () => mongo.uri,
    db: () => client.db(dbName),
    fresh() {
      n++;
      const namespace = `app.apilogs${n}`;
      return { jobs: client.db(dbName).collection('jobs'), namespace, id: `lease:${namespace}` };
    },
  };
}
