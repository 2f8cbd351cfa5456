import { MongoClient } from 'mongodb';
import { CronLogError } from '../errors.js';
import { redact, redactUri } from '../redact.js';

/** Connects to MongoDB; failures become MONGO_UNAVAILABLE with the URI's password redacted. */
export async function connectMongo(uri: string, options: { serverSelectionTimeoutMS?: number } = {}): Promise<MongoClient> {
  const client = new MongoClient(uri, {
    appName: 'cron-log-service',
    serverSelectionTimeoutMS: options.serverSelectionTimeoutMS ?? 15_000,
    retryWrites: true,
    retryReads: true,
  });
  try {
    await client.connect();
    return client;
  } catch (err) {
    await client.close().catch(() => undefined);
    throw new CronLogError('MONGO_UNAVAILABLE', `cannot connect to MongoDB at ${redactUri(uri)}: ${redact((err as Error).message)}`, { cause: err });
  }
}
