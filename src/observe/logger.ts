/**
 * The project's logger: winston underneath, a small typed interface on top.
 *
 * - Lines go to stderr (stdout is reserved for command output such as JSON reports).
 * - `json`: one object per line `{"timestamp","level","name","message","meta"}`; `pretty`: a
 *   readable line with `key=value` pairs and indented error stacks; `auto`: pretty on a TTY.
 * - Every line passes through redaction (a winston format): the message, all metadata, and any
 *   Error in it with its message, stack, `cause` chain and AggregateError `errors`.
 * - `jsonLogLine` writes a line of the JSON format outside a logger (the CLI's fatal error), and
 *   `nodeCronLogger` hands node-cron a logger so that its warnings are lines of ours.
 */
import { inspect } from 'node:util';

import type { Logger as NodeCronLogger } from 'node-cron';
import winston from 'winston';

import type { LoggingConfig } from '../config/load.js';
import type { Logger, LogLevel, LogMeta } from '../log.js';
import { redact, redactDeep, type RedactedError } from '../redact.js';

export type { Logger, LogLevel, LogMeta };
export { silentLogger } from '../log.js';

export interface CreateLoggerOptions {
  /** Component name, written as `name` in every line. */
  readonly name?: string;
  /** Destination; default process.stderr. Its `isTTY` decides the `auto` format and colours. */
  readonly stream?: NodeJS.WritableStream & { isTTY?: boolean };
}

const LEVELS: Readonly<Record<LogLevel, number>> = { error: 0, warn: 1, info: 2, debug: 3 };
const MESSAGE = Symbol.for('message');

interface Entry {
  level: LogLevel;
  message: unknown;
  name?: string;
  meta?: Record<string, unknown>;
  [MESSAGE]?: string;
}

function toJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
}

/** The JSON-format line of an entry whose message and metadata are already redacted. */
function jsonLine(entry: Pick<Entry, 'level' | 'name' | 'message' | 'meta'>): string {
  const line: Record<string, unknown> = { timestamp: new Date().toISOString(), level: entry.level };
  if (entry.name !== undefined) line.name = entry.name;
  line.message = entry.message;
  if (entry.meta !== undefined && Object.keys(entry.meta).length > 0) line.meta = entry.meta;
  return toJson(line);
}

/**
 * One line of the JSON format (without the newline), redacted like every logged line: for what
 * must reach stderr whatever the level and `enableConsole` say (the CLI's fatal error).
 */
export function jsonLogLine(level: LogLevel, message: string, options: { name?: string; meta?: LogMeta } = {}): string {
  return jsonLine({
    level,
    message: redact(message),
    ...(options.name === undefined ? {} : { name: redact(options.name) }),
    ...(options.meta === undefined ? {} : { meta: redactDeep(options.meta) as Record<string, unknown> }),
  });
}

/** Redacts message and metadata in place: the first step of every line. */
const redactFormat = winston.format((info) => {
  const entry = info as unknown as Entry;
  entry.message = redact(typeof entry.message === 'string' ? entry.message : String(entry.message));
  if (entry.name !== undefined) entry.name = redact(entry.name);
  if (entry.meta !== undefined) entry.meta = redactDeep(entry.meta) as Record<string, unknown>;
  return info;
});

const jsonFormat = winston.format((info) => {
  const entry = info as unknown as Entry;
  entry[MESSAGE] = jsonLine(entry);
  return info;
});

const COLORS: Readonly<Record<LogLevel, string>> = { error: '31', warn: '33', info: '32', debug: '90' };

function isRedactedError(value: unknown): value is RedactedError {
  return (
    value !== null &&
    typeof value === 'object' &&
    typeof (value as RedactedError).message === 'string' &&
    typeof (value as RedactedError).name === 'string' &&
    ('stack' in value || 'cause' in value)
  );
}

function prettyError(err: RedactedError, indent: string): string {
  const { name, message, stack, cause, errors, ...rest } = err;
  const head = stack ?? `${name}: ${message}`;
  let out = `\n${head.replace(/^/gm, indent)}`;
  if (Object.keys(rest).length > 0) out += `\n${indent}${inspect(rest, { depth: 4, breakLength: Infinity })}`;
  if (isRedactedError(cause)) out += `\n${indent}[cause]${prettyError(cause, `${indent}  `)}`;
  else if (cause !== undefined) out += `\n${indent}[cause] ${inspect(cause, { depth: 4, breakLength: Infinity })}`;
  for (const inner of errors ?? []) {
    out += isRedactedError(inner) ? `\n${indent}[error]${prettyError(inner, `${indent}  `)}` : `\n${indent}[error] ${inspect(inner)}`;
  }
  return out;
}

function prettyFormat(colors: boolean) {
  return winston.format((info) => {
    const entry = info as unknown as Entry;
    const paint = (code: string, text: string): string => (colors ? `\u001b[${code}m${text}\u001b[39m` : text);
    const level = paint(COLORS[entry.level], entry.level.toUpperCase().padEnd(5));
    let line = `${new Date().toISOString()} ${level}`;
    if (entry.name !== undefined) line += ` [${entry.name}]`;
    line += ` ${String(entry.message)}`;
    let errors = '';
    for (const [key, value] of Object.entries(entry.meta ?? {})) {
      if (isRedactedError(value)) {
        line += ` ${key}=${JSON.stringify(`${value.name}: ${value.message}`)}`;
        errors += prettyError(value, '    ');
      } else {
        const text = typeof value === 'string' ? (/^[^\s"=]+$/.test(value) ? value : JSON.stringify(value)) : toJson(value);
        line += ` ${colors ? paint('2', `${key}=`) : `${key}=`}${text}`;
      }
    }
    entry[MESSAGE] = line + errors;
    return info;
  })();
}

class WinstonLogger implements Logger {
  constructor(
    private readonly sink: winston.Logger,
    readonly level: LogLevel,
    private readonly name: string | undefined,
    private readonly bindings: LogMeta,
  ) {}

  isLevelEnabled(level: LogLevel): boolean {
    return LEVELS[level] <= LEVELS[this.level];
  }

  private write(level: LogLevel, message: string, meta: LogMeta | undefined): void {
    if (!this.isLevelEnabled(level)) return;
    const entry: Entry = { level, message };
    if (this.name !== undefined) entry.name = this.name;
    // An Error passed as the metadata itself (from untyped callers) is logged as `err`.
    const own: LogMeta | undefined = meta instanceof Error ? { err: meta } : meta;
    const merged = own === undefined ? this.bindings : { ...this.bindings, ...own };
    if (Object.keys(merged).length > 0) entry.meta = { ...merged };
    this.sink.log(entry as unknown as winston.LogEntry);
  }

  error(message: string, meta?: LogMeta): void {
    this.write('error', message, meta);
  }

  warn(message: string, meta?: LogMeta): void {
    this.write('warn', message, meta);
  }

  info(message: string, meta?: LogMeta): void {
    this.write('info', message, meta);
  }

  debug(message: string, meta?: LogMeta): void {
    this.write('debug', message, meta);
  }

  child(meta: LogMeta): Logger {
    return new WinstonLogger(this.sink, this.level, this.name, { ...this.bindings, ...meta });
  }
}

/**
 * A logger for `logging` (config.logging): level filter, format, console on/off. Writes to
 * stderr unless `options.stream` is given; `enableConsole: false` writes nothing.
 */
export function createLogger(
  logging: Pick<LoggingConfig, 'level'> & Partial<LoggingConfig>,
  options: CreateLoggerOptions = {},
): Logger {
  const stream = options.stream ?? process.stderr;
  const tty = stream.isTTY === true;
  const format = logging.format ?? 'auto';
  const pretty = format === 'pretty' || (format === 'auto' && tty);
  const sink = winston.createLogger({
    levels: LEVELS,
    level: logging.level,
    silent: logging.enableConsole === false,
    exitOnError: false,
    format: winston.format.combine(redactFormat(), pretty ? prettyFormat(tty && !process.env.NO_COLOR) : jsonFormat()),
    transports: [new winston.transports.Stream({ stream, eol: '\n' })],
  });
  return new WinstonLogger(sink, logging.level, options.name, {});
}

/**
 * node-cron's messages ("missed execution at …", a failed task) as lines of `log`, instead of
 * its own coloured console lines: under LOG_FORMAT=json they are JSON like every other line.
 */
export function nodeCronLogger(log: Logger): NodeCronLogger {
  const split = (message: string | Error, err?: Error): [string, LogMeta | undefined] =>
    message instanceof Error ? [message.message, { err: message }] : [message, err === undefined ? undefined : { err }];
  return {
    info: (message) => log.info(message),
    warn: (message) => log.warn(message),
    error: (message, err) => log.error(...split(message, err)),
    debug: (message, err) => log.debug(...split(message, err)),
  };
}
