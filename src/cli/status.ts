import { Command, Option } from 'commander';
import { ExitCode, isCronLogError } from '../errors.js';
import type { StatusReport } from '../ops/status.js';
import { buildStatus, STATUS_THRESHOLDS, unreachableStatus } from '../ops/status.js';
import { configFromFlags, withConfigFlags } from './common.js';
import type { ConfigFlags } from './common.js';
import { printJson, table, writeOut } from './output.js';
import { withSession } from './session.js';

interface StatusFlags extends ConfigFlags {
  json?: boolean;
}

export function statusCommand(): Command {
  const cmd = new Command('status')
    .summary('show capture progress, the oplog headroom, pending hours and recent failures')
    .description(
      'Reads the checkpoint, the ledger and the oplog and reports: the active owner of the namespace (command, host, pid, ' +
        'lease epoch, since when; standbys hold nothing and are not listed), the capture checkpoint (age, cluster time), the lag ' +
        'behind the cluster, the oplog window and how far the checkpoint is from falling off it, the open hours with their ' +
        'spool sizes, sealed files waiting for delivery, the last sealed, delivered and verified hour, the purge horizon (the newest ' +
        'hour purged from MongoDB) and interrupted purges, and recent failures.',
    )
    .addOption(new Option('--json', 'print the report as JSON (fields documented in README)'));
  withConfigFlags(cmd);
  cmd.addHelpText(
    'after',
    `
Exit codes: 0 healthy; 1 something needs attention (listed under "attention"):
  no running archiver, checkpoint older than ${STATUS_THRESHOLDS.checkpointAgeSeconds}s or lag over ${STATUS_THRESHOLDS.lagSeconds}s while running,
  oplog headroom under ${STATUS_THRESHOLDS.minHeadroomSeconds}s, hours that failed delivery or do not reconcile (last 24 h),
  spool files kept because the checkpoint did not cover them;
  3 MongoDB cannot be reached (the report names the server and the cause, and lists the local spool's sealed files).

Examples:
  $ cron-log-service status
  $ cron-log-service status --json | jq .checkpoint.lagSeconds`,
  );
  cmd.action(async (flags: StatusFlags) => {
    let report: StatusReport;
    try {
      report = await withSession(flags, 'status', ({ ctx, client }) => buildStatus(ctx, client));
    } catch (err) {
      if (!(isCronLogError(err) && err.code === 'MONGO_UNAVAILABLE')) throw err;
      report = await unreachableStatus(await configFromFlags(flags), err.message);
    }
    if (flags.json) printJson(report);
    else {
      const out: string[] = [];
      out.push(`namespace        ${report.namespace}`);
      out.push(`mongodb          ${report.mongo.reachable ? 'reachable' : `UNREACHABLE: ${report.mongo.error ?? ''}`}`);
      const notRunning = report.mongo.reachable ? 'no' : 'unknown';
      const r = report.running;
      const epoch = r?.epoch === null || r === null ? '' : `, epoch ${r.epoch}`;
      out.push(`running          ${r ? `${r.command} on ${r.host} (pid ${r.pid}${epoch}) since ${r.since}, lease valid until ${r.leaseExpiresAt}` : notRunning}`);
      out.push(
        `checkpoint       ${report.checkpoint ? `${report.checkpoint.ageSeconds}s old, at cluster time ${report.checkpoint.clusterTime ?? '?'}, lag ${report.checkpoint.lagSeconds ?? '?'}s` : 'none'}`,
      );
      out.push(`oplog            ${report.oplog ? `window ${report.oplog.windowSeconds}s, checkpoint headroom ${report.oplog.headroomSeconds ?? '?'}s` : 'unknown'}`);
      out.push(`last sealed      ${report.lastSealed ?? '-'}`);
      out.push(`last delivered   ${report.lastDelivered ?? '-'}`);
      out.push(`last verified    ${report.lastVerified ?? '-'}`);
      const p = report.purge;
      out.push(`purged through   ${p.horizon ?? '-'}${p.running ? ' (a purge is running)' : ''}${p.interrupted.length > 0 ? `; interrupted: ${p.interrupted.join(', ')}` : ''}`);
      writeOut(`${out.join('\n')}\n\n`);
      if (report.openHours.length > 0) writeOut(`open hours\n${table(['hour', 'part', 'bytes', 'documents'], report.openHours.map((h) => [h.hour, h.part, h.bytes, h.documents]))}\n`);
      if (report.sealedPending.length > 0) writeOut(`waiting for delivery\n${table(['file', 'bytes'], report.sealedPending.map((s) => [s.file, s.bytes]))}\n`);
      if (report.unrecognizedFiles.length > 0) writeOut(`kept, not covered by the checkpoint\n${table(['file', 'bytes'], report.unrecognizedFiles.map((s) => [s.file, s.bytes]))}\n`);
      if (report.recentFailures.length > 0) writeOut(`recent failures\n${table(['at', 'op', 'hour', 'error'], report.recentFailures.map((f) => [f.at, f.op, f.hour, f.error]))}\n`);
      writeOut(report.attention.length === 0 ? 'attention        none\n' : `attention\n${report.attention.map((a) => `  - ${a}`).join('\n')}\n`);
    }
    process.exitCode = !report.mongo.reachable ? ExitCode.runtime : report.attention.length === 0 ? ExitCode.ok : ExitCode.checkFailed;
  });
  return cmd;
}
