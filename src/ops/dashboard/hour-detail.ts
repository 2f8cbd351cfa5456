/**
 * The drill-down of one hour (`GET /api/hour?id=`): its ledger record, its manifest as the
 * destination holds it (objects with counts, bytes, SHA-256, part and revision; late parts
 * marked), the last reconcile verdict with both counts, the hour's operation records from `logs`,
 * and a preview of the first lines of its first object. Read-only. Every string is redacted
 * (src/redact.ts); the page shows them as text, never as markup (log lines are attacker input).
 */
import { CronLogError } from '../../errors.js';
import type { HourSlot } from '../../hours/hour-clock.js';
import { redact, redactDeep } from '../../redact.js';
import type { Manifest } from '../../seal/manifest.js';
import { readManifest } from '../../seal/manifest.js';
import { newObjectRead, objectLines } from '../../seal/hour-objects.js';
import { describe } from './cell-states.js';
import type { CellStateInfo } from './cell-states.js';
import { cellState } from './cell-states.js';
import type { DashboardContext } from './context.js';

/** Lines and characters of the preview. */
export const PREVIEW_LINES = 10;
export const PREVIEW_LINE_CHARS = 2000;
/** Operation records shown per hour. */
export const HOUR_OPERATIONS = 50;

export interface HourDetail {
  id: string;
  start: string;
  end: string;
  timezone: string;
  state: CellStateInfo;
  ledger: {
    state: string | null;
    count: number | null;
    bytes: number | null;
    lastError: string | null;
    lostParts: number | null;
    updatedAt: string | null;
  } | null;
  verdict: { status: string; mongo: number; archived: number; at: string } | null;
  manifestKey: string;
  manifest: (Omit<Manifest, 'parts'> & { parts: Array<Manifest['parts'][number] & { late: boolean }> }) | null;
  manifestError: string | null;
  operations: Array<Record<string, unknown>>;
  preview: { key: string; lines: string[]; truncated: boolean; error: string | null } | null;
}

/** The slot an id names (`2024-10-27T02:00+01:00`, as the calendar gives it). */
export function slotOfId(ctx: Pick<DashboardContext, 'clock'>, id: string): HourSlot {
  const ms = Date.parse(id);
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/.test(id) || Number.isNaN(ms)) {
    throw new CronLogError('USAGE', `id: expected an hour id such as 2024-10-27T02:00+01:00 (from /api/hours), got "${id}"`);
  }
  const slot = ctx.clock.slotOf(ms);
  if (slot.start !== ms) throw new CronLogError('USAGE', `id: ${id} is not the start of an hour in ${ctx.clock.zone}`);
  return slot;
}

async function preview(ctx: DashboardContext, key: string): Promise<NonNullable<HourDetail['preview']>> {
  const read = newObjectRead();
  const lines: string[] = [];
  let truncated = false;
  try {
    for await (const { line } of objectLines(ctx.destination, key, read)) {
      if (lines.length === PREVIEW_LINES) {
        truncated = true;
        break;
      }
      lines.push(redact(line.length > PREVIEW_LINE_CHARS ? `${line.slice(0, PREVIEW_LINE_CHARS)}…` : line));
    }
  } catch (err) {
    return { key, lines, truncated, error: redact((err as Error).message) };
  }
  return { key, lines, truncated, error: read.error === undefined || truncated ? null : redact(read.error) };
}

export async function hourDetail(ctx: DashboardContext, slot: HourSlot, now = Date.now()): Promise<HourDetail> {
  const record = await ctx.ledger.get(slot);
  const manifestKey = ctx.keys.manifestKey(slot);
  let manifest: Manifest | undefined;
  let manifestError: string | null = null;
  try {
    manifest = await readManifest(ctx.destination, manifestKey);
  } catch (err) {
    manifestError = redact((err as Error).message);
  }
  const ops = await ctx.operations.recent(HOUR_OPERATIONS, { hourStart: new Date(slot.start) });
  const operations = ops.map(({ _id, namespace: _ns, ...rest }) => redactDeep(rest) as Record<string, unknown>);
  const first = manifest?.parts[0]?.key ?? record?.parts?.[0]?.key;
  const firstPart = manifest ? manifest.parts.reduce((n, p) => Math.min(n, p.part), Infinity) : Infinity;
  const open = slot.end > now;
  return {
    id: slot.id,
    start: new Date(slot.start).toISOString(),
    end: new Date(slot.end).toISOString(),
    timezone: slot.zone,
    state: describe(cellState(record, open)),
    ledger: record
      ? {
          state: record.state ?? null,
          count: record.count ?? null,
          bytes: record.bytes ?? null,
          lastError: record.lastError ? redact(record.lastError) : null,
          lostParts: record.lostParts ?? null,
          updatedAt: record.updatedAt ? new Date(record.updatedAt).toISOString() : null,
        }
      : null,
    verdict: record?.reconcile
      ? { status: record.reconcile.status, mongo: record.reconcile.mongo, archived: record.reconcile.archived, at: new Date(record.reconcile.at).toISOString() }
      : null,
    manifestKey,
    manifest: manifest ? (redactDeep({ ...manifest, parts: manifest.parts.map((p) => ({ ...p, late: p.part > firstPart })) }) as HourDetail['manifest']) : null,
    manifestError,
    operations,
    preview: first === undefined ? null : await preview(ctx, first),
  };
}
