/**
 * The archiver's MongoClient: its options, and connecting with a clear error. Server selection
 * waits DEFAULT_SERVER_SELECTION_TIMEOUT_MS for a usable server unless the URI sets its own
 * `serverSelectionTimeoutMS`, and the client names itself `cron-log-service` (in the server's
 * logs, `currentOp`, the profiler) unless the URI sets its own `appName`: options given to the
 * driver would override the URI's.
 */
import { MongoClient } from 'mongodb';
import { ConnectionString } from 'mongodb-connection-string-url';
import { CronLogError } from '../errors.js';
import { redact, redactUri } from '../redact.js';
import { isMongoUnavailable } from './mongo-errors.js';

export const DEFAULT_SERVER_SELECTION_TIMEOUT_MS = 15_000;

/** Whether the URI sets the option `name` (option names are case-insensitive). */
function uriSets(uri: string, name: string): boolean {
  try {
    return [...new ConnectionString(uri).searchParams.keys()].some((k) => k.toLowerCase() === name.toLowerCase());
  } catch {
    return false;
  }
}

/** A client for `uri` (not connected yet: the driver connects on the first operation). */
export function createMongoClient(uri: string, options: { serverSelectionTimeoutMS?: number } = {}): MongoClient {
  const timeout = options.serverSelectionTimeoutMS ?? (uriSets(uri, 'serverSelectionTimeoutMS') ? undefined : DEFAULT_SERVER_SELECTION_TIMEOUT_MS);
  return new MongoClient(uri, {
    ...(uriSets(uri, 'appName') ? {} : { appName: 'cron-log-service' }),
    ...(timeout === undefined ? {} : { serverSelectionTimeoutMS: timeout }),
    retryWrites: true,
    retryReads: true,
  });
}

/**
 * The error of a failed connect, naming the URI (its password redacted) and the cause:
 * MONGO_UNAVAILABLE when MongoDB cannot be reached, else MONGO_FAILED (e.g. authentication).
 */
export function connectFailure(uri: string, err: unknown): CronLogError {
  const code = isMongoUnavailable(err) ? 'MONGO_UNAVAILABLE' : 'MONGO_FAILED';
  return new CronLogError(code, `cannot connect to MongoDB at ${redactUri(uri)}: ${redact((err as Error)?.message ?? String(err))}`, { cause: err });
}

/** Connects to MongoDB; a failure is `connectFailure`'s error. */
export async function connectMongo(uri: string, options: { serverSelectionTimeoutMS?: number } = {}): Promise<MongoClient> {
  const client = createMongoClient(uri, options);
  try {
    await client.connect();
    return client;
  } catch (err) {
    await client.close().catch(() => undefined);
    throw connectFailure(uri, err);
  }
}
