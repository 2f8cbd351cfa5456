import { Command, Option } from 'commander';
import { CronLogError, ExitCode } from '../errors.js';
import { reconcileRange } from '../reconcile/reconcile.js';
import { passes } from '../reconcile/verdict.js';
import { parseInstant, withConfigFlags } from './common.js';
import type { ConfigFlags } from './common.js';
import { printJson, table, writeOut } from './output.js';
import { withSession } from './session.js';

interface ReconcileFlags extends ConfigFlags {
  from: string;
  to: string;
  deep?: boolean;
  repair?: boolean;
  json?: boolean;
}

export function reconcileCommand(): Command {
  const cmd = new Command('reconcile')
    .summary('prove, hour by hour, that the archive holds every MongoDB document once')
    .description(
      'For every hour in [--from, --to) compares the number of documents MongoDB holds for the hour (one aggregation) ' +
        'with the count in the hour\'s manifest, checks every listed object exists and that no unlisted object sits at the ' +
        'hour\'s keys. --deep also downloads the objects, recounts their lines, checks their SHA-256, looks for repeated _ids ' +
        'and compares the hour\'s _ids with MongoDB\'s. --repair repairs every finished hour that is not ok, append-only: ' +
        'what the archive lacks is added as a new part of the hour (e.g. 00-01.part2.ndjson.gz), nothing it holds is removed, ' +
        'and a damaged or unlisted object is moved under _superseded/ once its replacement is delivered; then the hour is ' +
        'checked again.\n\n' +
        'Statuses: ok; purged (`purge` deleted the hour from MongoDB after proving it archived: MongoDB holds fewer, none the archive lacks); missing (an object listed in the manifest is absent); mismatch (counts differ with MongoDB holding more, ' +
        'MongoDB holds _ids the archive lacks, or a check of the objects failed); not-archived (the hour has no manifest); ' +
        'expired-at-source (MongoDB holds fewer: a TTL index removed the hour\'s documents); deleted-at-source (MongoDB holds ' +
        'fewer for another reason: deleted by the application, a TTL index part-way, a dropped collection; the archive keeps them).',
    )
    .requiredOption('--from <time>', 'first hour (ISO-8601, inclusive)')
    .requiredOption('--to <time>', 'end (ISO-8601, exclusive)')
    .addOption(new Option('--deep', 'download and verify every object (line count, SHA-256, duplicate _ids) and compare _ids with MongoDB'))
    .addOption(new Option('--repair', 'add what hours that are not ok lack, as a new part (never removing anything), then check them again'))
    .addOption(new Option('--json', 'print [{ hour, mongo, archived, status, detail?, repaired? }] as JSON'));
  withConfigFlags(cmd);
  cmd.addHelpText(
    'after',
    `
Exit codes: 0 every hour ok, purged, expired-at-source or deleted-at-source; 1 some hour is not; 2 bad input.

Examples:
  $ cron-log-service reconcile --from 2024-01-15T00:00:00Z --to 2024-01-16T00:00:00Z
  $ cron-log-service reconcile --from 2024-01-15T00:00:00Z --to 2024-01-15T06:00:00Z --deep --json
  $ cron-log-service reconcile --from 2024-01-15T00:00:00Z --to 2024-01-16T00:00:00Z --repair`,
  );
  cmd.action(async (flags: ReconcileFlags) => {
    const from = parseInstant('--from', flags.from);
    const to = parseInstant('--to', flags.to);
    if (to <= from) throw new CronLogError('USAGE', `--to (${flags.to}) must be after --from (${flags.from})`);
    const rows = await withSession(flags, 'reconcile', async ({ config, ctx }) =>
      reconcileRange(ctx, ctx.clock, {
        from: from.getTime(),
        to: to.getTime(),
        deep: flags.deep ?? false,
        repair: flags.repair ?? false,
        dueBefore: Date.now() - config.sealGraceSeconds * 1000,
      }),
    );
    if (flags.json) {
      printJson(rows.map((r) => ({ hour: r.hour, mongo: r.mongo, archived: r.archived, status: r.status, ...(r.detail ? { detail: r.detail } : {}), ...(r.repaired ? { repaired: true } : {}) })));
    } else {
      writeOut(table(['hour', 'mongo', 'archived', 'status', 'detail'], rows.map((r) => [r.hour, r.mongo, r.archived, r.status + (r.repaired ? ' (repaired)' : ''), r.detail ?? ''])));
      const bad = rows.filter((r) => !passes(r.status)).length;
      writeOut(`\n${rows.length} hour(s), ${rows.length - bad} ok, ${bad} not ok\n`);
    }
    const ok = rows.every((r) => passes(r.status));
    process.exitCode = ok ? ExitCode.ok : ExitCode.checkFailed;
  });
  return cmd;
}
