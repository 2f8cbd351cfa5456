/**
 * MongoDB failures, told apart by pure predicates on the error:
 *
 *  - `isMongoUnavailable`: MongoDB cannot be reached or has no primary for now (a network error,
 *    server selection timing out, an election or a shutdown in progress): waiting and trying
 *    again will succeed once the server is back. `run` waits such an outage out
 *    (tailer.ts, mongo-outage.ts); a one-shot command ends with MONGO_UNAVAILABLE.
 *  - `mongoFailure`: any error of the driver (unreachable server, a server's refusal, a driver
 *    error) as a CronLogError whose message names the server and the cause, so that no MongoDB
 *    failure reaches the user as an "unexpected error" with a stack trace.
 */
import type { MongoClient } from 'mongodb';
import { MongoCompatibilityError, MongoError, MongoNetworkError, MongoServerError, MongoServerSelectionError } from 'mongodb';
import { CronLogError } from '../errors.js';
import { redact } from '../redact.js';

/**
 * Server error codes that mean "no usable primary right now" (the retryable-reads/-writes
 * specification's list, but ExceededTimeLimit, which is an operation's own time limit):
 * HostUnreachable, HostNotFound, NetworkTimeout, ShutdownInProgress,
 * ReadConcernMajorityNotAvailableYet, PrimarySteppedDown, SocketException, LegacyNotPrimary,
 * NotWritablePrimary, InterruptedAtShutdown, InterruptedDueToReplStateChange,
 * NotPrimaryNoSecondaryOk, NotPrimaryOrSecondary.
 */
const UNAVAILABLE_CODES = new Set([6, 7, 89, 91, 134, 189, 9001, 10058, 10107, 11600, 11602, 13435, 13436]);

/** MongoDB cannot be reached, or has no primary, for now (see the header). */
export function isMongoUnavailable(err: unknown): boolean {
  if (err instanceof CronLogError) return err.code === 'MONGO_UNAVAILABLE';
  if (err instanceof MongoNetworkError || err instanceof MongoServerSelectionError) return true;
  if (err instanceof MongoServerError) {
    return (typeof err.code === 'number' && UNAVAILABLE_CODES.has(err.code)) || err.hasErrorLabel('RetryableWriteError');
  }
  return false;
}

/** The servers a client connects to, for messages: `db1:27017,db2:27017` (an SRV name for mongodb+srv). */
export function mongoServers(client: Pick<MongoClient, 'options'>): string {
  const { srvHost, hosts } = client.options;
  if (typeof srvHost === 'string' && srvHost !== '') return srvHost;
  return hosts.map((h) => h.toString()).join(',');
}

/** One line about a driver error: its name, its server code name and code, and its message (redacted). */
export function describeMongoError(err: unknown): string {
  if (!(err instanceof Error)) return redact(String(err));
  const parts = [err instanceof MongoError || err.name !== 'Error' ? err.name : ''];
  if (err instanceof MongoServerError) {
    const codeName = typeof err.codeName === 'string' && err.codeName !== '' ? `${err.codeName} ` : '';
    parts.push(`${codeName}(code ${String(err.code)})`);
  }
  const head = parts.filter((p) => p !== '').join(' ');
  return redact(head === '' ? err.message : `${head}: ${err.message}`);
}

/**
 * The error a command ends with after a MongoDB failure: MONGO_UNAVAILABLE when MongoDB cannot
 * be reached (naming `server` and the cause), MONGO_FAILED for any other error of the driver or
 * the server; undefined for an error that is not MongoDB's (and for a CronLogError, which
 * already says what happened).
 */
export function mongoFailure(err: unknown, server: string | undefined, during?: string): CronLogError | undefined {
  if (err instanceof CronLogError || !(err instanceof MongoError)) return undefined;
  const at = server === undefined ? 'MongoDB' : `MongoDB at ${server}`;
  const what = during === undefined ? '' : ` during ${during}`;
  if (err instanceof MongoCompatibilityError) {
    // A feature the server does not have (e.g. sessions): the archiver chooses its clients from
    // what the server advertises, so this names the missing feature and asks for a report.
    return new CronLogError(
      'MONGO_FAILED',
      `${at} lacks a feature the archiver used${what}: ${describeMongoError(err)}. Run \`cron-log-service doctor\` to see what the server advertises, and report this with its output`,
      { cause: err },
    );
  }
  if (isMongoUnavailable(err)) {
    return new CronLogError('MONGO_UNAVAILABLE', `${at} is unreachable${what}: ${describeMongoError(err)}; run it again once MongoDB is back`, { cause: err });
  }
  return new CronLogError('MONGO_FAILED', `${at} failed${what}: ${describeMongoError(err)}`, { cause: err });
}
