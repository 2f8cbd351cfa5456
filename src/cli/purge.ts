import { Command, Option } from 'commander';
import { DURATION_EXPECTED, parseDuration } from '../config/duration.js';
import { CronLogError, ExitCode } from '../errors.js';
import type { PurgeReport } from '../ops/purge/purge.js';
import { purgeHours } from '../ops/purge/purge.js';
import { parseInstant, withConfigFlags } from './common.js';
import type { ConfigFlags } from './common.js';
import { printJson, table, writeOut } from './output.js';
import { withSession } from './session.js';

interface PurgeFlags extends ConfigFlags {
  olderThan: string;
  from?: string;
  dryRun?: boolean;
  json?: boolean;
}

export function purgeCommand(): Command {
  const cmd = new Command('purge')
    .summary('delete from MongoDB the documents of hours proven archived')
    .description(
      'Deletes from MongoDB the documents of every hour that ended more than --older-than ago and is proven archived at this ' +
        'moment: sealed and delivered, no part of it still in capture, every object its manifest lists read back with the ' +
        "manifest's size and SHA-256, and the hour's _ids the same in MongoDB and in the archive (an hour a purge already began: " +
        'MongoDB\'s _ids all in the archive). Deletes by _id, in batches of PURGE_BATCH_SIZE at most PURGE_MAX_DOCUMENTS_PER_SECOND, ' +
        'so a document written to an hour later is never deleted. Every other hour is skipped with its reason and never touched. ' +
        'Each hour is recorded in the logs collection (documents deleted, the objects proven: keys and SHA-256). Safe to stop at any ' +
        'point: a rerun finishes an interrupted hour. Runs beside `run`; one purge per namespace at a time.\n\n' +
        'Skip reasons: not-archived, not-delivered, mismatch, capture-pending, manifest-unreadable, missing-object, tampered-object, ' +
        'unlisted-object, repeated-id, source-not-archived (MongoDB holds _ids the archive lacks), archive-not-in-source ' +
        '(the archive holds _ids MongoDB lacks).',
    )
    .requiredOption('--older-than <duration>', 'purge hours that ended at least this long ago: 30d, 12h, 90m, 2w')
    .addOption(new Option('--from <time>', 'look no further back than this (ISO-8601; default: the oldest hour known)'))
    .addOption(new Option('--dry-run', 'prove every hour and report what would be deleted; delete and record nothing'))
    .addOption(new Option('--json', 'print the report as JSON: { before, dryRun, hours: [{ hour, action, mongo, archived, deleted, reason?, detail? }], purged, skipped, deleted, alreadyPurged }'));
  withConfigFlags(cmd);
  cmd.addHelpText(
    'after',
    `
Exit codes: 0 every hour with documents in the range was purged (or would be); 1 some hour was skipped;
  2 bad input; 3 MongoDB or the destination failed, or another purge of the namespace is running.

Examples:
  $ cron-log-service purge --older-than 30d --dry-run
  $ cron-log-service purge --older-than 30d
  $ PURGE_MAX_DOCUMENTS_PER_SECOND=500 cron-log-service purge --older-than 90d --json | jq '.hours[] | select(.action == "skipped")'`,
  );
  cmd.action(async (flags: PurgeFlags) => {
    const olderThanMs = parseDuration(flags.olderThan);
    if (olderThanMs === undefined) throw new CronLogError('USAGE', `--older-than: expected ${DURATION_EXPECTED}, got "${flags.olderThan}"`);
    const from = flags.from === undefined ? undefined : parseInstant('--from', flags.from).getTime();
    const report = await withSession(flags, 'purge', ({ config, ctx }) =>
      purgeHours(ctx, {
        before: Date.now() - olderThanMs,
        ...(from === undefined ? {} : { from }),
        dryRun: flags.dryRun ?? false,
        batchSize: config.purge.batchSize,
        maxDocumentsPerSecond: config.purge.maxDocumentsPerSecond,
        leaseTtlMs: config.leaseTtlSeconds * 1000,
        command: 'purge',
        spoolDirectory: config.spoolDirectory,
      }),
    );
    if (flags.json) printJson(report);
    else writeOut(purgeText(report));
    process.exitCode = report.skipped === 0 ? ExitCode.ok : ExitCode.checkFailed;
  });
  return cmd;
}

function purgeText(r: PurgeReport): string {
  const rows = r.hours.map((h) => [h.hour, h.action + (h.resumed ? ' (resumed)' : ''), h.mongo, h.archived, h.deleted, h.reason ?? '', h.detail ?? '']);
  const head = r.hours.length > 0 ? table(['hour', 'action', 'mongo', 'archived', 'deleted', 'reason', 'detail'], rows) + '\n' : '';
  const verb = r.dryRun ? 'would purge' : 'purged';
  return (
    `${head}hours that ended before ${r.before}: ${r.purged} ${verb} (${r.deleted} documents), ${r.skipped} skipped, ` +
    `${r.alreadyPurged} purged earlier${r.dryRun ? ' (dry run: nothing deleted)' : ''}\n`
  );
}
