import { ExitCode } from '../errors.js';

/** CLI entry; returns the process exit code. Subcommands are registered in src/cli/. */
export async function main(argv: readonly string[]): Promise<number> {
  process.stderr.write(`cron-log-service: no command yet (${argv.join(' ')})\n`);
  return ExitCode.badInput;
}
