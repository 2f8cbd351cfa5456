/**
 * What to do with an error from the change stream. Resumable errors (network errors, errors
 * labelled ResumableChangeStreamError) are resumed from by the stream itself
 * (raw-change-stream.ts); what reaches the tailer is decided here, by pure predicates on the
 * server error code: history lost is repaired (gap-repair.ts), anything else stops capture with
 * a typed error (throwUnlessHistoryLost).
 */
import { MongoServerError } from 'mongodb';
import { CronLogError } from '../errors.js';

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

/** Throws the typed error that stops capture for a stream failure, unless it is history lost (repairable). */
export function throwUnlessHistoryLost(err: unknown): void {
  if (isHistoryLost(err)) return;
  if (isChangeStreamUnsupported(err)) {
    throw new CronLogError(
      'CHANGE_STREAM_UNSUPPORTED',
      'this MongoDB deployment does not support change streams (it is not a replica set or sharded cluster); ' +
        'run a replica set (a one-member one is enough), or archive with `cron-log-service backfill` instead',
      { cause: err },
    );
  }
  if (isInvalidResumeToken(err)) {
    throw new CronLogError(
      'RESUME_TOKEN_INVALID',
      `the checkpointed resume token cannot be used on this deployment (${(err as Error).message}); ` +
        'restart capture with --reset-from TIME (ISO-8601) to rebuild from a query from that time on',
      { cause: err },
    );
  }
  throw err;
}
