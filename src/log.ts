/**
 * The one logger interface of the project. Every module that logs takes a `Logger`; the winston
 * implementation is `createLogger` (src/observe/logger.ts), and library hosts may pass their own
 * (pino, console wrappers, …) as long as it has these five methods.
 */

/** Log levels, most severe first. */
export type LogLevel = 'error' | 'warn' | 'info' | 'debug';

/** Metadata of a log line; errors anywhere inside are serialized and redacted by the writer. */
export type LogMeta = Readonly<Record<string, unknown>>;

export interface Logger {
  error(message: string, meta?: LogMeta): void;
  warn(message: string, meta?: LogMeta): void;
  info(message: string, meta?: LogMeta): void;
  debug(message: string, meta?: LogMeta): void;
  /** A logger adding `meta` to every line (line metadata wins on conflicts). */
  child(meta: LogMeta): Logger;
}

/** A logger that writes nothing (tests, library hosts that bring their own). */
export const silentLogger: Logger = Object.freeze({
  error() {},
  warn() {},
  info() {},
  debug() {},
  child: () => silentLogger,
});
