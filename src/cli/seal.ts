import { Command, Option } from 'commander';
import { sealerFor, tailerFor } from '../archiver.js';
import { CronLogError, ExitCode } from '../errors.js';
import { Lease } from '../ledger/lease.js';
import { withConfigFlags } from './common.js';
import type { ConfigFlags } from './common.js';
import { printJson, table, writeOut } from './output.js';
import { withSession } from './session.js';

interface SealFlags extends ConfigFlags {
  json?: boolean;
}

export function sealCommand(): Command {
  const cmd = new Command('seal')
    .summary('seal, deliver and reconcile every due hour once, then exit')
    .description(
      'Closes every spool hour whose end plus sealGraceSeconds has passed, delivers it (with its manifest) and ' +
        'reconciles it against MongoDB, then exits. For cron-driven setups and operators; `run` does the same on ' +
        'its sealSchedule. Refuses to run while a `run` process owns the namespace.',
    )
    .addOption(new Option('--json', 'print the report as JSON: { dueBefore, hours: [{hour, count, key, status, error?}], reconciled: [{hour, mongo, archived, status}], reconcileError?, failed }'));
  withConfigFlags(cmd);
  cmd.addHelpText(
    'after',
    `
Exit codes: 0 every due hour delivered; 3 a delivery failed (the hour stays sealed and is retried next time).
The reconcile that follows does not change the exit code: its verdicts are printed, and when it cannot
run (e.g. MongoDB's count failed) the delivered hours stay delivered, the reason is printed ("reconcile failed: …",
reconcileError with --json, and an error log line) and the next seal run reconciles them again.

Examples:
  $ cron-log-service seal
  $ cron-log-service seal --config ./cron-log-service.json --json`,
  );
  cmd.action(async (flags: SealFlags) => {
    const failed = await withSession(flags, 'seal', async ({ config, client, log, ctx }) => {
      // Its ledger writes, manifests and checkpoints carry the lease's epoch (src/ledger/fence.ts).
      const lease = new Lease(ctx.jobs, ctx.namespace, 'seal', config.leaseTtlSeconds * 1000, ctx.fencing);
      await lease.acquire();
      const tailer = tailerFor(config, client, log, undefined, ctx);
      try {
        await tailer.recover();
        const report = await sealerFor(ctx, tailer, log).sealDue();
        await tailer.stop();
        if (flags.json) printJson(report);
        else {
          writeOut(
            report.hours.length === 0
              ? 'no hour was due\n'
              : table(
                  ['hour', 'documents', 'status', 'key / error'],
                  report.hours.map((h) => [h.hour, h.count, h.status, h.error ?? h.key ?? '']),
                ),
          );
          if (report.reconciled.length > 0) {
            writeOut(`\n${table(['hour', 'mongo', 'archived', 'status'], report.reconciled.map((r) => [r.hour, r.mongo, r.archived, r.status]))}`);
          }
          if (report.reconcileError !== undefined) {
            writeOut(`\nreconcile failed: ${report.reconcileError}\nThe hours above keep their status; delivered hours are reconciled again by the next seal run (or run \`cron-log-service reconcile\`).\n`);
          }
        }
        return report.failed;
      } finally {
        await lease.release();
      }
    });
    if (failed > 0) throw new CronLogError('DELIVERY_FAILED', `${failed} hour(s) could not be delivered; see the logs collection`);
    process.exitCode = ExitCode.ok;
  });
  return cmd;
}
