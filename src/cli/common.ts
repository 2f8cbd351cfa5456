/** What every subcommand shares: config flags, loading, logging, error reporting. */
import type { Command } from 'commander';
import { Option } from 'commander';
import type { Config } from '../config/index.js';
import { loadConfig } from '../config/index.js';
import { CronLogError, exitCodeOf, isCronLogError } from '../errors.js';
import type { ExitCode } from '../errors.js';
import { redact } from '../redact.js';
import { mongoFailure } from '../source/mongo-errors.js';
import { useLogging } from './output.js';

export interface ConfigFlags {
  config?: string;
  envFile?: string | false;
}

/** Adds --config and --env-file / --no-env-file. */
export function withConfigFlags(cmd: Command): Command {
  return cmd
    .addOption(new Option('-c, --config <file>', 'configuration file (.json, or .js/.mjs/.cjs exporting the config object)'))
    .addOption(new Option('--env-file <file>', 'dotenv file to read (default: .env in the working directory, if present)'))
    .addOption(new Option('--no-env-file', 'do not read any .env file'));
}

/** Loads the configuration; its logging settings then decide how the CLI writes to stderr. */
export async function configFromFlags(flags: ConfigFlags, overrides: Record<string, unknown> = {}): Promise<Config> {
  const config = await loadConfig({
    overrides,
    ...(flags.config ? { configFile: flags.config } : {}),
    ...(flags.envFile === false ? { envFile: false as const } : flags.envFile ? { envFile: flags.envFile } : {}),
  });
  useLogging(config.logging);
  return config;
}

/** Parses an ISO-8601 flag value, naming the flag when it is not one. */
export function parseInstant(flag: string, value: string): Date {
  const ms = Date.parse(value);
  if (!/^\d{4}-\d{2}-\d{2}/.test(value) || Number.isNaN(ms)) {
    throw new CronLogError('USAGE', `${flag}: expected an ISO-8601 date-time such as 2024-01-15T00:00:00Z, got "${value}"`);
  }
  return new Date(ms);
}

/**
 * What a failed command prints on stderr (redacted) and the code it exits with: a CronLogError's
 * message; a MongoDB failure said as one (MONGO_UNAVAILABLE / MONGO_FAILED, naming the cause);
 * anything else as an unexpected error with its stack.
 */
export function failureReport(err: unknown): { message: string; exitCode: ExitCode } {
  const known = isCronLogError(err) ? err : mongoFailure(err, undefined);
  if (known !== undefined) return { message: redact(known.message), exitCode: known.exitCode };
  return { message: redact(`unexpected error: ${(err as Error)?.stack ?? String(err)}`), exitCode: exitCodeOf(err) };
}
