/**
 * The "Now" panel of the dashboard (`GET /api/status`): the `status` report (src/ops/status.ts:
 * owner, checkpoint age and lag, oplog headroom, open hours, recent failures, attention), the
 * next seal (the first open hour, due once it has ended plus `sealGraceSeconds`, and, in `run`,
 * the schedule's next tick) and, in `run`, the live figures of the last hour from the process's
 * ring buffer (src/observe/sample-ring.ts): capture lag, events/s and spool bytes. Read-only.
 */
import type { MongoClient } from 'mongodb';
import type { LiveSample } from '../../observe/sample-ring.js';
import { redactDeep } from '../../redact.js';
import type { StatusReport } from '../status.js';
import { buildStatus, unreachableStatus } from '../status.js';
import type { DashboardContext } from './context.js';

/** What `run` adds to the panel: its role, its samples and its schedule's next tick. */
export interface LiveFigures {
  role: string | undefined;
  samples: readonly LiveSample[];
  sampleIntervalMs: number;
  nextScheduledRun: Date | null;
}

export interface DashboardStatus {
  generatedAt: string;
  /** `run` (live figures present) or `dashboard` (read from MongoDB only). */
  servedBy: 'run' | 'dashboard';
  role: string | null;
  status: StatusReport;
  nextSeal: { hour: string | null; dueAt: string | null; schedule: string; nextScheduledRun: string | null };
  live: { sampleIntervalMs: number; samples: LiveSample[] } | null;
}

export async function dashboardStatus(
  ctx: DashboardContext,
  client: MongoClient,
  live: LiveFigures | undefined,
  now = Date.now(),
): Promise<DashboardStatus> {
  let status: StatusReport;
  try {
    status = await buildStatus(ctx, client, now);
  } catch (err) {
    status = await unreachableStatus(ctx.config, `MongoDB cannot be read: ${(err as Error).message}`);
  }
  const open = status.openHours.map((h) => h.hour).sort()[0];
  const openSlot = open === undefined ? ctx.clock.slotOf(now) : ctx.clock.slotOf(Date.parse(open));
  const next = live?.nextScheduledRun ?? null;
  return {
    generatedAt: new Date(now).toISOString(),
    servedBy: live ? 'run' : 'dashboard',
    role: live?.role ?? (status.running ? `${status.running.command} on ${status.running.host}` : null),
    status: redactDeep(status) as StatusReport,
    nextSeal: {
      hour: openSlot.id,
      dueAt: new Date(openSlot.end + ctx.config.sealGraceSeconds * 1000).toISOString(),
      schedule: ctx.config.sealSchedule,
      nextScheduledRun: next ? next.toISOString() : null,
    },
    live: live ? { sampleIntervalMs: live.sampleIntervalMs, samples: [...live.samples] } : null,
  };
}
