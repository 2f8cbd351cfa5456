/**
 * Everything the CLI prints. Command output goes to stdout (text, tables, JSON reports); the
 * CLI's own messages (a failed command, a usage error, process warnings) go to stderr next to
 * the log lines. Every printed string passes through `redact`, the one path that masks secrets
 * (log lines take it in the logger).
 *
 * Under the JSON log format (LOG_FORMAT=json, or auto with stderr not a terminal) every stderr
 * line is one JSON object shaped like the logger's lines. The format is the loaded
 * configuration's once `useLogging` has been called, before that (usage errors, an invalid
 * configuration) LOG_FORMAT and LOG_LEVEL from the environment.
 */
import type { LoggingConfig, LogLevel } from '../config/index.js';
import { LOG_LEVELS } from '../config/index.js';
import type { Logger } from '../observe/logger.js';
import { createLogger, jsonLogLine } from '../observe/logger.js';
import { redact } from '../redact.js';

type Logging = Pick<LoggingConfig, 'level' | 'format' | 'enableConsole'>;

let logging: Logging | undefined;

/** The configuration's logging settings decide the CLI's stderr from now on. */
export function useLogging(settings: Logging): void {
  logging = settings;
}

function fromEnv(): Logging {
  const format = process.env.LOG_FORMAT?.trim().toLowerCase();
  const level = process.env.LOG_LEVEL?.trim().toLowerCase();
  return {
    format: format === 'json' || format === 'pretty' ? format : 'auto',
    level: (LOG_LEVELS as readonly string[]).includes(level ?? '') ? (level as LogLevel) : 'info',
    enableConsole: true,
  };
}

function settings(): Logging {
  return logging ?? fromEnv();
}

/** True when stderr lines are JSON: the log format is json, or auto and stderr is no terminal. */
export function stderrIsJson(): boolean {
  const { format } = settings();
  return format === 'json' || (format === 'auto' && process.stderr.isTTY !== true);
}

/** A logger of the CLI's own (process warnings), with the current logging settings. */
export function cliLogger(name: string): Logger {
  return createLogger(settings(), { name });
}

/** Command output (text) on stdout, redacted. */
export function writeOut(text: string): void {
  process.stdout.write(redact(text));
}

/** A JSON report on stdout, every string in it redacted. */
export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, (_key, v: unknown) => (typeof v === 'string' ? redact(v) : v), 2)}\n`);
}

/**
 * The CLI's own error on stderr, printed whatever the log level: `cron-log-service: <message>`,
 * or one JSON line (`name` "cli", the error's code and exit code in `meta`) under JSON logging.
 */
export function printError(message: string, meta: Record<string, unknown> = {}): void {
  if (stderrIsJson()) process.stderr.write(`${jsonLogLine('error', message, { name: 'cli', meta })}\n`);
  else process.stderr.write(`cron-log-service: ${redact(message)}\n`);
}

/** What commander prints on stderr (usage errors, help after an error): as is, or as JSON lines. */
export function printUsage(text: string): void {
  if (!stderrIsJson()) {
    process.stderr.write(redact(text));
    return;
  }
  const message = text.trimEnd();
  if (message !== '') process.stderr.write(`${jsonLogLine('error', message, { name: 'cli', meta: { code: 'USAGE', exitCode: 2 } })}\n`);
}

/** Renders rows as an aligned text table with a header. */
export function table(headers: readonly string[], rows: ReadonlyArray<readonly (string | number | null | undefined)[]>): string {
  const cells = [headers.map(String), ...rows.map((r) => r.map((c) => (c === null || c === undefined ? '-' : String(c))))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  const line = (r: readonly string[]): string => r.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd();
  return [line(cells[0] as string[]), line(widths.map((w) => '-'.repeat(w))), ...cells.slice(1).map(line)].join('\n') + '\n';
}
