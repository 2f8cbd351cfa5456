/**
 * `status`: where capture stands and what needs attention. Read-only; works from any host
 * that reaches MongoDB (the spool sizes come from the checkpoint, sealed files from the local
 * spool directory when it is there). When MongoDB cannot be reached, `unreachableStatus` reports
 * that (server and cause) and what the local spool directory shows.
 */
import { promises as fs } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { Collection, Document, MongoClient } from 'mongodb';
import type { Config } from '../config/index.js';
import { CheckpointStore, positionSeconds } from '../ledger/checkpoints.js';
import { readLeaseHolder } from '../ledger/lease-holder.js';
import { processAlive } from '../spool/local-process.js';
import { clusterTimeNow } from '../source/cluster-time.js';
import { oplogWindow } from '../source/oplog-window.js';
import type { ArchiveContext } from '../seal/context.js';
import { parseSpoolFileName, spoolLayout } from '../spool/spool-files.js';

/** What status reads: the archive context, the `jobs` collection (checkpoint, lease) and where the spool is. */
export interface StatusContext extends ArchiveContext {
  config: Pick<Config, 'database' | 'spoolDirectory'>;
  jobs: Collection<Document>;
}

/** Documented thresholds: beyond them `status` exits 1. */
export const STATUS_THRESHOLDS = {
  /** The checkpoint of a running archiver is older than this. */
  checkpointAgeSeconds: 300,
  /** The checkpoint is further behind the cluster time than this. */
  lagSeconds: 300,
  /** The checkpoint is closer than this to falling off the oplog. */
  minHeadroomSeconds: 3600,
  /** Failures and mismatches within this window count. */
  recentSeconds: 86_400,
} as const;

export interface StatusReport {
  namespace: string;
  /** Whether status reached MongoDB; when not, why (and only the local spool is reported). */
  mongo: { reachable: boolean; error: string | null };
  /**
   * The active owner of the namespace (the holder of its lease while it is valid): a standby
   * holds nothing and is not listed. `epoch`: its fencing epoch, when the lease records one.
   */
  running: { owner: string; command: string; host: string; pid: number; epoch: number | null; since: string; leaseExpiresAt: string } | null;
  checkpoint: {
    updatedAt: string;
    ageSeconds: number;
    clusterTime: string | null;
    lagSeconds: number | null;
  } | null;
  /** `full`: false while nothing has fallen off the oplog yet (the window still grows). */
  oplog: { windowSeconds: number; first: string; last: string; headroomSeconds: number | null; full: boolean } | null;
  openHours: Array<{ hour: string; part: number; bytes: number; documents: number }>;
  sealedPending: Array<{ file: string; bytes: number }>;
  /** Files a start found in open/ that the checkpoint did not cover, kept under unrecognized/ (paths relative to it). */
  unrecognizedFiles: Array<{ file: string; bytes: number }>;
  lastSealed: string | null;
  lastDelivered: string | null;
  lastVerified: string | null;
  mismatches: Array<{ hour: string; mongo: number; archived: number }>;
  /**
   * Purge (src/ops/purge/): `horizon` is the newest hour purged completely from MongoDB (its
   * archived documents deleted; null: none yet), `interrupted` the hours whose purge began and
   * did not finish (a rerun of `purge` finishes them), `running` whether a purge holds its lease.
   */
  purge: { horizon: string | null; interrupted: string[]; running: boolean };
  recentFailures: Array<{ at: string; op: string; hour: string | null; error: string }>;
  attention: string[];
}

function iso(t: number): string {
  return new Date(t).toISOString();
}

/** The files under `dir` (unrecognized/: one folder per start that kept some), relative to it. */
async function keptFiles(dir: string): Promise<StatusReport['unrecognizedFiles']> {
  const out: StatusReport['unrecognizedFiles'] = [];
  let folders: string[];
  try {
    folders = (await fs.readdir(dir)).sort();
  } catch {
    return out; // The spool is on another host, or nothing was ever kept.
  }
  for (const folder of folders) {
    const names = await fs.readdir(join(dir, folder)).catch(() => [] as string[]);
    for (const name of names.sort()) out.push({ file: `${folder}/${name}`, bytes: (await fs.stat(join(dir, folder, name))).size });
  }
  return out;
}

/** Sealed spool files waiting for delivery, from the local spool directory (none when it is not here). */
async function sealedPendingFiles(spoolDirectory: string, namespace: string): Promise<StatusReport['sealedPending']> {
  const sealedPending: StatusReport['sealedPending'] = [];
  const layout = spoolLayout(spoolDirectory, namespace);
  try {
    for (const name of (await fs.readdir(layout.sealed)).sort()) {
      if (parseSpoolFileName(name)) sealedPending.push({ file: name, bytes: (await fs.stat(`${layout.sealed}/${name}`)).size });
    }
  } catch {
    // The spool is on another host, or nothing was sealed yet.
  }
  return sealedPending;
}

/**
 * The report when MongoDB cannot be reached (`error` says which server and why): capture's state
 * is unknown; the sealed files waiting in the local spool directory are listed.
 */
export async function unreachableStatus(
  config: Pick<Config, 'database' | 'spoolDirectory' | 'collections'>,
  error: string,
): Promise<StatusReport> {
  const namespace = `${config.database}.${config.collections.apiLogsCollectionName}`;
  return {
    namespace,
    mongo: { reachable: false, error },
    running: null,
    checkpoint: null,
    oplog: null,
    openHours: [],
    sealedPending: await sealedPendingFiles(config.spoolDirectory, namespace),
    unrecognizedFiles: await keptFiles(spoolLayout(config.spoolDirectory, namespace).unrecognized),
    lastSealed: null,
    lastDelivered: null,
    lastVerified: null,
    mismatches: [],
    purge: { horizon: null, interrupted: [], running: false },
    recentFailures: [],
    attention: [`${error} (a running archiver waits for it and resumes from its checkpoint)`],
  };
}

export async function buildStatus(ctx: StatusContext, client: MongoClient, now = Date.now()): Promise<StatusReport> {
  const { config } = ctx;
  const attention: string[] = [];
  const cp = await new CheckpointStore(ctx.jobs, ctx.namespace).load();
  const lease = await readLeaseHolder(ctx.jobs, ctx.namespace);
  const running: StatusReport['running'] =
    lease && lease.expiresAt.getTime() > now
      ? {
          owner: lease.owner,
          command: lease.command,
          host: lease.host,
          pid: lease.pid,
          epoch: lease.epoch ?? null,
          since: lease.acquiredAt.toISOString(),
          leaseExpiresAt: lease.expiresAt.toISOString(),
        }
      : null;
  const clusterNow = await clusterTimeNow(client.db(config.database));
  let checkpoint: StatusReport['checkpoint'] = null;
  let cpSeconds: number | undefined;
  if (cp) {
    cpSeconds = positionSeconds(cp.position);
    const ageSeconds = Math.round((now - cp.updatedAt.getTime()) / 1000);
    const lagSeconds = cpSeconds === undefined ? null : Math.max(0, clusterNow.getHighBitsUnsigned() - cpSeconds);
    checkpoint = { updatedAt: cp.updatedAt.toISOString(), ageSeconds, clusterTime: cpSeconds === undefined ? null : iso(cpSeconds * 1000), lagSeconds };
    if (running && ageSeconds > STATUS_THRESHOLDS.checkpointAgeSeconds) attention.push(`the checkpoint is ${ageSeconds}s old although an archiver is running`);
    if (lagSeconds !== null && running && lagSeconds > STATUS_THRESHOLDS.lagSeconds) attention.push(`capture lags ${lagSeconds}s behind the cluster`);
  } else {
    attention.push('no capture checkpoint: `run` has never started on this namespace');
  }
  if (!running) attention.push('no archiver is running (`run` holds a lease while it captures)');
  let oplog: StatusReport['oplog'] = null;
  try {
    const w = await oplogWindow(client);
    if (w) {
      const firstS = w.first.getHighBitsUnsigned();
      const headroomSeconds = cpSeconds === undefined ? null : cpSeconds - firstS;
      oplog = { windowSeconds: w.seconds, first: iso(firstS * 1000), last: iso(w.last.getHighBitsUnsigned() * 1000), headroomSeconds, full: w.full };
      if (w.full && headroomSeconds !== null && headroomSeconds < STATUS_THRESHOLDS.minHeadroomSeconds) {
        attention.push(`the checkpoint is ${headroomSeconds}s from falling off the oplog (window ${w.seconds}s)`);
      }
    }
  } catch {
    // No access to `local` (e.g. a restricted user): the window is unknown.
  }
  const openHours = (cp?.spool.files ?? []).map((f) => ({ hour: ctx.clock.slotAt(f.hour).id, part: f.part, bytes: f.offset, documents: f.lines }));
  const sealedPending = await sealedPendingFiles(config.spoolDirectory, ctx.namespace);
  const layout = spoolLayout(config.spoolDirectory, ctx.namespace);
  const unrecognizedFiles = await keptFiles(layout.unrecognized);
  if (unrecognizedFiles.length > 0) {
    attention.push(
      `${unrecognizedFiles.length} spool file(s) the checkpoint did not cover are kept in ${layout.unrecognized}: their documents may be missing ` +
        'from the archive; check their hours with reconcile --deep (and reconcile --repair if documents are missing), then remove them',
    );
  }
  const hours = await ctx.ledger.range(0, now + 3_600_000);
  const last = (pred: (s: string) => boolean): string | null => {
    const h = hours.filter((x) => pred(x.record.state)).pop();
    return h ? h.id : null;
  };
  const mismatches = hours
    .filter((h) => h.record.state === 'mismatch' && h.record.start.getTime() > now - STATUS_THRESHOLDS.recentSeconds * 1000)
    .map((h) => ({ hour: h.id, mongo: h.record.reconcile?.mongo ?? 0, archived: h.record.reconcile?.archived ?? h.record.count }));
  if (mismatches.length > 0) attention.push(`${mismatches.length} hour(s) do not reconcile: run reconcile --deep, then --repair`);
  const purgeLease = await readLeaseHolder(ctx.jobs, `${ctx.namespace}#purge`);
  const purge: StatusReport['purge'] = {
    horizon: hours.filter((h) => h.record.purge?.state === 'purged').pop()?.id ?? null,
    interrupted: hours.filter((h) => h.record.purge?.state === 'purging').map((h) => h.id),
    // A valid lease, unless its holder is a process of this host that is gone (killed).
    running: purgeLease !== undefined && purgeLease.expiresAt.getTime() > now && !(purgeLease.host === hostname() && !processAlive(purgeLease.pid)),
  };
  if (purge.interrupted.length > 0 && !purge.running) {
    attention.push(`the purge of ${purge.interrupted.length} hour(s) was interrupted (${purge.interrupted.slice(0, 3).join(', ')}): run purge again to finish it`);
  }
  const failedHours = hours.filter((h) => h.record.state === 'sealed' && h.record.lastError);
  if (failedHours.length > 0) attention.push(`${failedHours.length} hour(s) failed delivery and wait for the next seal run`);
  const failures = await ctx.operations.recent(10, { outcome: 'error', at: { $gt: new Date(now - STATUS_THRESHOLDS.recentSeconds * 1000) } });
  return {
    namespace: ctx.namespace,
    mongo: { reachable: true, error: null },
    running,
    checkpoint,
    oplog,
    openHours,
    sealedPending,
    unrecognizedFiles,
    lastSealed: last(() => true),
    lastDelivered: last((s) => s === 'delivered' || s === 'verified' || s === 'mismatch'),
    lastVerified: last((s) => s === 'verified'),
    mismatches,
    purge,
    recentFailures: failures.map((f) => ({ at: (f.at as Date).toISOString(), op: String(f.op), hour: (f.hour as string | undefined) ?? null, error: String(f.error ?? '') })),
    attention,
  };
}
