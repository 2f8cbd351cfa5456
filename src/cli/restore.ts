/** `restore`: archived hours back into MongoDB (src/ops/restore/restore.ts). */
import cliProgress from 'cli-progress';
import { Command, Option } from 'commander';
import { CronLogError, ExitCode } from '../errors.js';
import { restoreRange } from '../ops/restore/restore.js';
import type { RestoreReport } from '../ops/restore/restore.js';
import { checkSourceFree, restoreTarget } from '../ops/restore/target.js';
import { parseInstant, withConfigFlags } from './common.js';
import type { ConfigFlags } from './common.js';
import { printJson, stderrIsJson, table, writeOut } from './output.js';
import { withSession } from './session.js';

interface RestoreFlags extends ConfigFlags {
  from: string;
  to: string;
  into?: string;
  dryRun?: boolean;
  force?: boolean;
  json?: boolean;
}

export function restoreCommand(): Command {
  const cmd = new Command('restore')
    .summary('load archived hours back into MongoDB (verified, idempotent)')
    .description(
      'Reads the manifests of the hours of [--from, --to) from the destination, checks every listed object against its ' +
        'manifest (size and SHA-256) before one document of the hour is written, and inserts the documents in batches. ' +
        'A document whose _id is already there is left as it is (counted as already present): a rerun, also after a crash, ' +
        'completes the range and ends with the same collection. Types: ejson archives come back exactly; analytics archives ' +
        'are revived from the type summary of each part (mixed-type fields are reported); archives written before type ' +
        'summaries get _id and the timestamp field revived, other fields stay as their JSON values. Each hour is recorded in `logs`.',
    )
    .requiredOption('--from <time>', 'first hour (ISO-8601, inclusive)')
    .requiredOption('--to <time>', 'end (ISO-8601, exclusive)')
    .addOption(new Option('--into <db.collection>', 'restore into this collection instead of the watched one'))
    .addOption(new Option('--dry-run', 'fetch, verify and decode, write nothing'))
    .addOption(new Option('--force', 'restore into the watched collection even while a `run` holds it (its capture reads the restored documents back; the seal drops those the archive holds: nothing is archived twice)'))
    .addOption(new Option('--json', 'print the report as JSON'));
  withConfigFlags(cmd);
  cmd.addHelpText(
    'after',
    `
Exit codes: 0 every hour restored (or verified, with --dry-run); 1 an hour failed (missing or corrupt object: nothing
of it was written); 2 bad input; 3 MongoDB or the destination failed, or a \`run\` holds the watched collection.

Examples:
  $ cron-log-service restore --from 2024-01-15T00:00:00Z --to 2024-01-16T00:00:00Z --into restored.apilogs
  $ cron-log-service restore --from 2024-01-15T10:00:00Z --to 2024-01-15T12:00:00Z --dry-run --json
  $ cron-log-service restore --from 2024-01-01T00:00:00Z --to 2024-02-01T00:00:00Z   # into the watched collection, no run active`,
  );
  cmd.action(async (flags: RestoreFlags) => {
    const from = parseInstant('--from', flags.from);
    const to = parseInstant('--to', flags.to);
    if (to <= from) throw new CronLogError('USAGE', `--to (${flags.to}) must be after --from (${flags.from})`);
    const report = await withSession(flags, 'restore', async ({ config, client, ctx, log }) => {
      const target = restoreTarget(client, config.database, config.collections.apiLogsCollectionName, flags.into);
      if (!flags.dryRun) {
        const overridden = await checkSourceFree(ctx.jobs, ctx.namespace, target, flags.force === true);
        if (overridden !== undefined) log.warn('restoring into the watched collection while a run holds it (--force)', { holder: overridden });
      }
      const bar =
        process.stderr.isTTY && !flags.json && !stderrIsJson()
          ? new cliProgress.SingleBar({ format: 'restore [{bar}] {value}/{total} documents  {hour}', stream: process.stderr }, cliProgress.Presets.shades_classic)
          : undefined;
      let before = 0;
      let current = '';
      let currentTotal = 0;
      bar?.start(0, 0, { hour: '' });
      try {
        return await restoreRange(ctx, {
          from: from.getTime(),
          to: to.getTime(),
          target: target.collection,
          targetNamespace: target.namespace,
          dryRun: flags.dryRun === true,
          batchDocuments: config.restoreBatchSize,
          onProgress: (e) => {
            if (e.hour !== current) {
              // A new hour: the documents of the previous ones are done.
              before += currentTotal;
              current = e.hour;
              currentTotal = e.total;
              bar?.setTotal(before + e.total);
            }
            bar?.update(before + e.done, { hour: e.hour });
          },
        });
      } finally {
        bar?.stop();
      }
    });
    if (flags.json) printJson(report);
    else writeOut(render(report));
    process.exitCode = report.ok ? ExitCode.ok : ExitCode.checkFailed;
  });
  return cmd;
}

function render(r: RestoreReport): string {
  const rows = r.hours.map((h) => [h.hour, h.status, h.documents, h.restored, h.alreadyPresent, h.skipped, h.error ?? (h.mixedTypes?.length ? `mixed types: ${h.mixedTypes.join(', ')}` : '')]);
  let out = `restore into ${r.target}${r.dryRun ? ' (dry run: nothing written)' : ''}\n`;
  out += table(['hour', 'status', 'documents', 'restored', 'already present', 'skipped', 'notes'], rows);
  out += `total: ${r.totals.restored} restored, ${r.totals.alreadyPresent} already present, ${r.totals.skipped} skipped, ${r.totals.failedHours} hour(s) failed\n`;
  const reasons = [...new Set(r.hours.map((h) => h.notRevivedReason).filter((x): x is string => x !== undefined))];
  for (const reason of reasons) out += `note: ${reason}\n`;
  if (r.mixedTypes.length > 0) out += `fields of mixed BSON types (a value may come back as another of its field's types): ${r.mixedTypes.join(', ')}\n`;
  return out;
}
