/**
 * One base error class for the whole project. Every error the archiver raises on purpose is a
 * CronLogError with a stable `code` (safe to match on in scripts and tests), a `name`, an
 * optional `cause`, and the process exit code the CLI maps it to.
 *
 * Messages never contain secrets: anything that may hold a URI or a credential is passed
 * through `redact` (src/redact.ts) before it reaches a message.
 */

/** Exit codes of the CLI, documented in README. */
export const ExitCode = {
  ok: 0,
  /** A check failed: reconcile found a mismatch, doctor/status found a problem. */
  checkFailed: 1,
  /** Bad input: flags, configuration, arguments. */
  badInput: 2,
  /** A runtime failure: MongoDB, S3 or the disk failed past its retries. */
  runtime: 3,
  /** The spool directory cannot be written (disk full, permissions). */
  spool: 4,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

export type ErrorCode =
  | 'CONFIG_INVALID'
  | 'USAGE'
  | 'MONGO_UNAVAILABLE'
  | 'MONGO_FAILED'
  | 'CHANGE_STREAM_UNSUPPORTED'
  | 'RESUME_TOKEN_INVALID'
  | 'HISTORY_LOST'
  | 'COLLECTION_MISSING'
  | 'SPOOL_IO'
  | 'SPOOL_CORRUPT'
  | 'DELIVERY_FAILED'
  | 'INTEGRITY_MISMATCH'
  | 'OBJECT_NOT_FOUND'
  | 'DESTINATION_UNAVAILABLE'
  | 'RECONCILE_MISMATCH'
  | 'LEASE_HELD'
  /** A write refused because a newer owner (lease epoch) holds the namespace. */
  | 'FENCED'
  | 'ABORTED'
  | 'INTERNAL';

const exitCodes: Record<ErrorCode, ExitCode> = {
  CONFIG_INVALID: ExitCode.badInput,
  USAGE: ExitCode.badInput,
  MONGO_UNAVAILABLE: ExitCode.runtime,
  MONGO_FAILED: ExitCode.runtime,
  CHANGE_STREAM_UNSUPPORTED: ExitCode.runtime,
  RESUME_TOKEN_INVALID: ExitCode.runtime,
  HISTORY_LOST: ExitCode.runtime,
  COLLECTION_MISSING: ExitCode.runtime,
  SPOOL_IO: ExitCode.spool,
  SPOOL_CORRUPT: ExitCode.spool,
  DELIVERY_FAILED: ExitCode.runtime,
  INTEGRITY_MISMATCH: ExitCode.runtime,
  OBJECT_NOT_FOUND: ExitCode.runtime,
  DESTINATION_UNAVAILABLE: ExitCode.runtime,
  RECONCILE_MISMATCH: ExitCode.checkFailed,
  LEASE_HELD: ExitCode.runtime,
  FENCED: ExitCode.runtime,
  ABORTED: ExitCode.runtime,
  INTERNAL: ExitCode.runtime,
};

export class CronLogError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = 'CronLogError';
  }

  get exitCode(): ExitCode {
    return exitCodes[this.code];
  }
}

/** Raised for invalid configuration; `issues` lists every problem, one line each. */
export class ConfigError extends CronLogError {
  readonly issues: readonly string[];

  constructor(issues: readonly string[]) {
    super('CONFIG_INVALID', `invalid configuration:\n  - ${issues.join('\n  - ')}`);
    this.name = 'ConfigError';
    this.issues = issues;
  }
}

export function isCronLogError(err: unknown): err is CronLogError {
  return err instanceof CronLogError;
}

/** The exit code the CLI uses for any thrown value. */
export function exitCodeOf(err: unknown): ExitCode {
  return isCronLogError(err) ? err.exitCode : ExitCode.runtime;
}
