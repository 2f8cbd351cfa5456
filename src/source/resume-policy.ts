/**
 * What to do with an error from the change stream. Resumable errors (network errors, errors
 * labelled ResumableChangeStreamError) are resumed from by the stream itself
 * (raw-change-stream.ts); what reaches the tailer is decided here, by pure predicates on the
 * server error code.
 */
import { MongoServerError } from 'mongodb';

/** The resume point fell off the oplog: repair from a query. */
export function isHistoryLost(err: unknown): boolean {
  if (!(err instanceof MongoServerError)) return false;
  if (err.code === 286 || err.codeName === 'ChangeStreamHistoryLost') return true;
  // Older servers: CappedPositionLost, or a fatal error saying the resume point is gone.
  if (err.code === 136) return true;
  return err.code === 280 && /no longer be in the oplog|resume point may no longer/i.test(err.message);
}

/** The persisted resume token cannot be used on this deployment. */
export function isInvalidResumeToken(err: unknown): boolean {
  if (!(err instanceof MongoServerError)) return false;
  if (err.code === 260 || err.codeName === 'InvalidResumeToken') return true;
  if (err.code === 50811 || err.code === 50795) return true; // KeyString / token format errors
  if (err.code === 9 && /resume token/i.test(err.message)) return true; // FailedToParse: "resume token string was not a valid hex string"
  return err.code === 280 || err.codeName === 'ChangeStreamFatalError';
}

/** Change streams need a replica set or sharded cluster. */
export function isChangeStreamUnsupported(err: unknown): boolean {
  return err instanceof MongoServerError && (err.code === 40573 || /only supported on replica sets/i.test(err.message));
}
