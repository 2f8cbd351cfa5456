/**
 * Entry point of the `mongo-emulator` command (bin/mongo-emulator.js, also run by the
 * repository's `scripts/mongo-emulator`): parses the flags, starts the emulator, prints its
 * connection string (the only line written to stdout) and shuts down cleanly on SIGTERM or
 * SIGINT.
 */
import { EXIT_BAD_FLAGS, EXIT_CANNOT_START, USAGE, UsageError, parseCli } from './cli-args.js';
import { startEmulator } from './server.js';
import type { EmulatorHandle } from './server.js';

async function main(argv: string[]): Promise<void> {
  let command;
  try {
    command = parseCli(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`mongo-emulator: ${err.message} (see --help)\n`);
    process.exitCode = EXIT_BAD_FLAGS;
    return;
  }
  if (command.kind === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  let handle: EmulatorHandle;
  try {
    handle = await startEmulator(command.options);
  } catch (err) {
    process.stderr.write(`mongo-emulator: cannot start: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = EXIT_CANNOT_START;
    return;
  }
  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) {
      process.stderr.write(`mongo-emulator: ${signal} again, exiting without cleanup\n`);
      process.exit(1);
    }
    stopping = true;
    handle.close().then(
      () => process.exit(0),
      (err: unknown) => {
        process.stderr.write(`mongo-emulator: shutdown failed: ${err instanceof Error ? err.message : String(err)}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  process.stdout.on('error', () => {
    // the reader of our one line went away; keep serving
  });
  process.stdout.write(`${handle.uri}\n`);
}

await main(process.argv.slice(2));
