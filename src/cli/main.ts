/**
 * The `cron-log-service` command. One file per subcommand in src/cli/; this file maps thrown
 * errors to the documented exit codes and prints them (redacted) on stderr.
 */
import { createRequire } from 'node:module';
import { Command, CommanderError } from 'commander';
import { ExitCode } from '../errors.js';
import { backfillCommand } from './backfill.js';
import { failureReport } from './common.js';
import { demoCommand } from './demo.js';
import { doctorCommand } from './doctor.js';
import { statusCommand } from './status.js';
import { reconcileCommand } from './reconcile.js';
import { runCommand } from './run.js';
import { sealCommand } from './seal.js';

const require = createRequire(import.meta.url);
const { version } = require('../../package.json') as { version: string };

export function program(): Command {
  const p = new Command('cron-log-service')
    .description('Archive API logs from MongoDB to S3: crash-safe change-stream capture into hourly gzip NDJSON, sealed, delivered and reconciled.')
    .version(version, '-V, --version')
    .showHelpAfterError('(add --help for usage)')
    .exitOverride()
    .configureOutput({ outputError: (str, write) => write(str) });
  p.addCommand(runCommand());
  p.addCommand(sealCommand());
  p.addCommand(reconcileCommand());
  p.addCommand(backfillCommand());
  p.addCommand(statusCommand());
  p.addCommand(doctorCommand());
  p.addCommand(demoCommand());
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
  for (const cmd of p.commands) cmd.exitOverride();
  return p;
}

export async function main(argv: readonly string[]): Promise<number> {
  try {
    process.exitCode = undefined;
    await program().parseAsync([...argv], { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : ExitCode.ok;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return ExitCode.ok;
      return ExitCode.badInput;
    }
    const { message, exitCode } = failureReport(err);
    process.stderr.write(`cron-log-service: ${message}\n`);
    return exitCode;
  }
}
