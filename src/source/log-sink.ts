/** The logging surface the data path needs (satisfied by the winston logger of src/observe). */
export interface LogSink {
  debug(message: string, meta?: Record<string, unknown>): void;
  info(message: string, meta?: Record<string, unknown>): void;
  warn(message: string, meta?: Record<string, unknown>): void;
  error(message: string, meta?: Record<string, unknown>): void;
}

export const silentLog: LogSink = {
  debug() {},
  info() {},
  warn() {},
  error() {},
};
