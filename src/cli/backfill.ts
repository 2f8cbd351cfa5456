import cliProgress from 'cli-progress';
import { Command, Option } from 'commander';
import { CheckpointStore } from '../ledger/checkpoints.js';
import { Lease } from '../ledger/lease.js';
import { CronLogError, ExitCode } from '../errors.js';
import { backfill } from '../ops/backfill.js';
import { passes } from '../reconcile/verdict.js';
import { parseInstant, withConfigFlags } from './common.js';
import type { ConfigFlags } from './common.js';
import { printJson, stderrIsJson, table, writeOut } from './output.js';
import { withSession } from './session.js';

interface BackfillFlags extends ConfigFlags {
  from: string;
  to: string;
  force?: boolean;
  json?: boolean;
}

export function backfillCommand(): Command {
  const cmd = new Command('backfill')
    .summary('archive past hours straight from a query (no change stream needed)')
    .description(
      'Streams each hour of [--from, --to) from a query into a sealed, delivered, reconciled hour: for a first install, ' +
        'a standalone server without change streams, or hours before the tailer ran. Hours already verified are skipped, ' +
        'and so are hours the tailer captures itself (from its first hour on), unless --force. Re-running changes nothing.',
    )
    .requiredOption('--from <time>', 'first hour (ISO-8601, inclusive)')
    .requiredOption('--to <time>', 'end (ISO-8601, exclusive)')
    .addOption(new Option('--force', 'also hours verified or captured by the tailer: what they lack is added as a new part; nothing is removed'))
    .addOption(new Option('--json', 'print the per-hour report as JSON'));
  withConfigFlags(cmd);
  cmd.addHelpText(
    'after',
    `
Exit codes: 0 every archived hour reconciles ok; 1 some hour does not; 2 bad input; 3 MongoDB or delivery failed.

Examples:
  $ cron-log-service backfill --from 2024-01-01T00:00:00Z --to 2024-01-15T00:00:00Z
  $ cron-log-service backfill --from 2024-01-14T00:00:00Z --to 2024-01-15T00:00:00Z --force --json`,
  );
  cmd.action(async (flags: BackfillFlags) => {
    const from = parseInstant('--from', flags.from);
    const to = parseInstant('--to', flags.to);
    if (to <= from) throw new CronLogError('USAGE', `--to (${flags.to}) must be after --from (${flags.from})`);
    const report = await withSession(flags, 'backfill', async ({ config, ctx }) => {
      const checkpoint = await new CheckpointStore(ctx.jobs, ctx.namespace).load();
      // A lease of its own (backfill runs beside `run`); its writes are not fenced by it: its
      // epoch counts backfills, not owners of the namespace, and must not fence `run` out.
      const lease = new Lease(ctx.jobs, `${ctx.namespace}#backfill`, 'backfill', config.leaseTtlSeconds * 1000);
      await lease.acquire();
      const bar =
        process.stderr.isTTY && !flags.json && !stderrIsJson()
          ? new cliProgress.SingleBar({ format: 'backfill [{bar}] {value}/{total} hours  {hour}', stream: process.stderr }, cliProgress.Presets.shades_classic)
          : undefined;
      try {
        const slots = ctx.clock.slotsBetween(from.getTime(), to.getTime());
        bar?.start(slots.length, 0, { hour: '' });
        return await backfill(ctx, ctx.clock, {
          from: from.getTime(),
          to: to.getTime(),
          force: flags.force ?? false,
          dueBefore: Date.now() - config.sealGraceSeconds * 1000,
          ...(checkpoint ? { tailerSince: checkpoint.since } : {}),
          onHour: (e) => bar?.update(e.index, { hour: `${e.hour} ${e.action}` }),
        });
      } finally {
        bar?.stop();
        await lease.release();
      }
    });
    if (flags.json) printJson(report);
    else {
      writeOut(table(['hour', 'action', 'documents', 'status'], report.hours.map((h) => [h.hour, h.action, h.count ?? '', h.status ?? ''])));
    }
    const ok = report.rows.every((r) => passes(r.status));
    process.exitCode = ok ? ExitCode.ok : ExitCode.checkFailed;
  });
  return cmd;
}
