/**
 * The `cron-log-service` command. One file per subcommand in src/cli/; this file maps thrown
 * errors to the documented exit codes and prints them (redacted; a JSON line under JSON logging)
 * on stderr, and routes process warnings to the log (process-warnings.ts).
 */
import { createRequire } from 'node:module';
import { Command, CommanderError } from 'commander';
import { ConfigError, ExitCode, isCronLogError } from '../errors.js';
import { backfillCommand } from './backfill.js';
import { dashboardCommand } from './dashboard.js';
import { failureReport } from './common.js';
import { doctorCommand } from './doctor.js';
import { purgeCommand } from './purge.js';
import { statusCommand } from './status.js';
import { reconcileCommand } from './reconcile.js';
import { restoreCommand } from './restore.js';
import { cliLogger, printError, printUsage } from './output.js';
import { routeProcessWarnings } from './process-warnings.js';
import { runCommand } from './run.js';
import { sealCommand } from './seal.js';

const require = createRequire(import.meta.url);
const { version } = require('../../package.json') as { version: string };

/** Commander's stderr (usage errors, help after an error) through the CLI's output path. */
const output = { outputError: (str: string) => printUsage(str), writeErr: (str: string) => printUsage(str) };

export function program(): Command {
  const p = new Command('cron-log-service')
    .description('Archive API logs from MongoDB to S3: crash-safe change-stream capture into hourly gzip NDJSON, sealed, delivered and reconciled.')
    .version(version, '-V, --version')
    .showHelpAfterError('(add --help for usage)')
    .exitOverride()
    .configureOutput(output);
  p.addCommand(runCommand());
  p.addCommand(sealCommand());
  p.addCommand(reconcileCommand());
  p.addCommand(backfillCommand());
  p.addCommand(restoreCommand());
  p.addCommand(purgeCommand());
  p.addCommand(statusCommand());
  p.addCommand(doctorCommand());
  p.addCommand(dashboardCommand());
  p.addHelpText(
    'after',
    `
Exit codes:
  0  success
  1  a check failed (reconcile mismatch, doctor/status found a problem)
  2  bad input: flags, arguments or configuration
  3  runtime failure: MongoDB, S3 or the change stream failed
  4  the spool directory cannot be written (disk full, permissions)`,
  );
  for (const cmd of p.commands) cmd.exitOverride().configureOutput(output);
  return p;
}

export function main(argv: readonly string[]): Promise<number> {
  routeProcessWarnings(() => cliLogger('process'));
  return runProgram(program(), argv);
}

/**
 * Runs a command (with `exitOverride`) on `argv` and resolves with its exit code: the one its
 * action set, 0 for --help and --version, 2 for bad flags, else the code of the thrown error,
 * which is printed (redacted) on stderr. Also runs `npm run demo` (demo/main.ts).
 */
export async function runProgram(command: Command, argv: readonly string[]): Promise<number> {
  try {
    process.exitCode = undefined;
    await command.parseAsync([...argv], { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : ExitCode.ok;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return ExitCode.ok;
      return ExitCode.badInput;
    }
    const { message, exitCode } = failureReport(err);
    printError(message, {
      ...(isCronLogError(err) ? { code: err.code } : {}),
      exitCode,
      ...(err instanceof ConfigError ? { issues: err.issues } : {}),
    });
    return exitCode;
  }
}
