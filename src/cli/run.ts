import { Command, Option } from 'commander';
import { createArchiver } from '../archiver.js';
import { isCronLogError } from '../errors.js';
import { createLogger } from '../observe/logger.js';
import { nodeVersionAdvice } from '../ops/doctor.js';
import type { ConfigFlags } from './common.js';
import { configFromFlags, failureReport, parseInstant, withConfigFlags } from './common.js';

interface RunFlags extends ConfigFlags {
  resetFrom?: string;
  standby?: boolean;
}

export function runCommand(): Command {
  const cmd = new Command('run')
    .summary('tail the API-log collection into the hourly spool, seal and deliver on schedule')
    .description(
      'Runs the archiver until SIGTERM/SIGINT: a change stream appends every new document of the API-log collection ' +
        'to the spool file of its hour, checkpointing the resume token in the jobs collection. After a crash or restart it ' +
        'resumes from the checkpoint; if the checkpoint fell off the oplog it repairs the gap from a query.',
    )
    .addOption(
      new Option(
        '--standby',
        'wait for the lease while another process holds it (a hot standby: takes over when the active process dies or freezes) instead of exiting with code 3; same as STANDBY=true',
      ),
    )
    .addOption(new Option('--reset-from <time>', 'discard the checkpointed position and rebuild from a query from this ISO-8601 time on (documents already in the spool are not repeated)'));
  withConfigFlags(cmd);
  cmd.addHelpText(
    'after',
    `
Examples:
  $ DB_URI=mongodb://localhost:27017/myapp?replicaSet=rs0 S3_BUCKET=my-logs cron-log-service run
  $ cron-log-service run --config ./cron-log-service.json
  $ cron-log-service run --standby                          # a second replica: waits, takes over on failover
  $ cron-log-service run --reset-from 2024-01-15T00:00:00Z   # after "resume token cannot be used"`,
  );
  cmd.action(async (flags: RunFlags) => {
    const resetFrom = flags.resetFrom ? parseInstant('--reset-from', flags.resetFrom) : undefined;
    const config = await configFromFlags(flags, flags.standby === true ? { standby: true } : {});
    const log = createLogger(config.logging, { name: 'run' });
    const advice = nodeVersionAdvice();
    if (advice !== undefined) log.warn(advice);
    const archiver = await createArchiver(config, { log, ...(resetFrom ? { resetFrom } : {}) });
    let stopping: Promise<void> | undefined;
    let signalled = false;
    /** Why capture stopped, when it failed: the grace timer exits with its code. */
    let failure: unknown;
    const stop = (signal: string): void => {
      if (stopping) return;
      log.info('stopping', { signal, graceMs: config.shutdownGraceMs });
      const timer = setTimeout(() => {
        log.warn('shutdown grace exceeded; exiting without the final checkpoint (the next start resumes from the last one)', {
          graceMs: config.shutdownGraceMs,
        });
        if (failure === undefined) process.exit(0);
        const { message, exitCode } = failureReport(failure);
        process.stderr.write(`cron-log-service: ${message}\n`);
        process.exit(exitCode);
      }, config.shutdownGraceMs);
      timer.unref();
      stopping = archiver.close();
    };
    const onSignal = (signal: NodeJS.Signals): void => {
      signalled = true;
      stop(signal);
    };
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
    try {
      await archiver.start();
      await archiver.done();
    } catch (err) {
      // A signal during start-up (e.g. while it waits for MongoDB) is a clean stop.
      if (!(signalled && isCronLogError(err) && err.code === 'ABORTED')) {
        failure = err;
        throw err;
      }
    } finally {
      stop('exit');
      await stopping;
    }
    log.info('stopped', { ...archiver.stats().capture });
  });
  return cmd;
}
