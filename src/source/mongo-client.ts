/**
 * The archiver's MongoClient: its options, and connecting with a clear error. Server selection
 * waits DEFAULT_SERVER_SELECTION_TIMEOUT_MS for a usable server unless the URI sets its own
 * `serverSelectionTimeoutMS` (options given to the driver would override the URI's).
 */
import { MongoClient } from 'mongodb';
import { ConnectionString } from 'mongodb-connection-string-url';
import { CronLogError } from '../errors.js';
import { redact, redactUri } from '../redact.js';

export const DEFAULT_SERVER_SELECTION_TIMEOUT_MS = 15_000;

/** Whether the URI sets `serverSelectionTimeoutMS` (option names are case-insensitive). */
function uriSetsSelectionTimeout(uri: string): boolean {
  try {
    return [...new ConnectionString(uri).searchParams.keys()].some((k) => k.toLowerCase() === 'serverselectiontimeoutms');
  } catch {
    return false;
  }
}

/** A client for `uri` (not connected yet: the driver connects on the first operation). */
export function createMongoClient(uri: string, options: { serverSelectionTimeoutMS?: number } = {}): MongoClient {
  const timeout = options.serverSelectionTimeoutMS ?? (uriSetsSelectionTimeout(uri) ? undefined : DEFAULT_SERVER_SELECTION_TIMEOUT_MS);
  return new MongoClient(uri, {
    appName: 'cron-log-service',
    ...(timeout === undefined ? {} : { serverSelectionTimeoutMS: timeout }),
    retryWrites: true,
    retryReads: true,
  });
}

/** Connects to MongoDB; failures become MONGO_UNAVAILABLE with the URI's password redacted. */
export async function connectMongo(uri: string, options: { serverSelectionTimeoutMS?: number } = {}): Promise<MongoClient> {
  const client = createMongoClient(uri, options);
  try {
    await client.connect();
    return client;
  } catch (err) {
    await client.close().catch(() => undefined);
    throw new CronLogError('MONGO_UNAVAILABLE', `cannot connect to MongoDB at ${redactUri(uri)}: ${redact((err as Error).message)}`, { cause: err });
  }
}
