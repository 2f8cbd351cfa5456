/**
 * The `cron-log-service` command. One file per subcommand in src/cli/; this file maps thrown
 * errors to the documented exit codes and prints them (redacted; a JSON line under JSON logging)
 * on stderr, and routes process warnings to the log (process-warnings.ts).
 *
 * A subcommand's module (and what it imports: the archiver, cli-progress, restore, the
 * dashboard, …) is imported only when that subcommand runs: `run` starts without loading the
 * eight others (the `startup` benchmark). The top-level help, --version and an unknown command
 * load them all.
 */
import { createRequire } from 'node:module';
import { Command, CommanderError } from 'commander';
import { ConfigError, ExitCode, isCronLogError } from '../errors.js';
import { failureReport } from './common.js';
import { cliLogger, printError, printUsage } from './output.js';
import { routeProcessWarnings } from './process-warnings.js';

const require = createRequire(import.meta.url);
const { version } = require('../../package.json') as { version: string };

/** Commander's stderr (usage errors, help after an error) through the CLI's output path. */
const output = { outputError: (str: string) => printUsage(str), writeErr: (str: string) => printUsage(str) };

/** Every subcommand, in the help's order: its module, imported when needed. */
const COMMANDS: Readonly<Record<string, () => Promise<Command>>> = {
  run: async () => (await import('./run.js')).runCommand(),
  seal: async () => (await import('./seal.js')).sealCommand(),
  reconcile: async () => (await import('./reconcile.js')).reconcileCommand(),
  backfill: async () => (await import('./backfill.js')).backfillCommand(),
  restore: async () => (await import('./restore.js')).restoreCommand(),
  purge: async () => (await import('./purge.js')).purgeCommand(),
  status: async () => (await import('./status.js')).statusCommand(),
  doctor: async () => (await import('./doctor.js')).doctorCommand(),
  dashboard: async () => (await import('./dashboard.js')).dashboardCommand(),
};

/**
 * The names of the subcommands `argv` needs: the one it names (its first word; the top level
 * has no option that takes a value), or all of them (help, --version, an unknown command).
 */
export function commandsFor(argv: readonly string[]): string[] {
  const name = argv.find((a) => !a.startsWith('-'));
  return name !== undefined && Object.hasOwn(COMMANDS, name) ? [name] : Object.keys(COMMANDS);
}

/** The program with the subcommands `argv` needs (default: all of them). */
export async function program(argv?: readonly string[]): Promise<Command> {
  const names = argv === undefined ? Object.keys(COMMANDS) : commandsFor(argv);
  const commands = await Promise.all(names.map((n) => (COMMANDS[n] as () => Promise<Command>)()));
  const p = new Command('cron-log-service')
    .description('Archive API logs from MongoDB to S3: crash-safe change-stream capture into hourly gzip NDJSON, sealed, delivered and reconciled.')
    .version(version, '-V, --version')
    .showHelpAfterError('(add --help for usage)')
    .exitOverride()
    .configureOutput(output);
  for (const c of commands) p.addCommand(c);
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

export async function main(argv: readonly string[]): Promise<number> {
  routeProcessWarnings(() => cliLogger('process'));
  return runProgram(await program(argv), argv);
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
