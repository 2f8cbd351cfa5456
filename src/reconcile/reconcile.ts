/**
 * Reconcile: proves, hour by hour, that the archive holds every document of MongoDB once.
 * For every hour of [from, to) it compares the MongoDB count (one aggregation for the range)
 * with the count in the hour's manifest, and checks that every object the manifest lists
 * exists. `deep` also downloads the objects: decodes and counts their lines, checks their
 * SHA-256 and looks for `_id`s repeated within the hour. `repair` rebuilds each hour that is
 * not ok from a query (a new revision; the manifest is replaced) and checks it again.
 *
 * Statuses: ok; missing (an object listed by the manifest is absent); mismatch (counts differ,
 * or a deep check failed); not-archived (no manifest: the hour was never sealed);
 * expired-at-source (a TTL index on the timestamp field already deleted documents of the hour
 * from MongoDB, so the archive holding more is expected). The counts are judged by the one
 * verdict of verdict.ts, which the seal run's reconcile (recent-hours.ts) uses too.
 */
import { createHash } from 'node:crypto';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import split2 from 'split2';
import type { Manifest } from '../seal/manifest.js';
import { countPerHour, ttlSeconds } from './mongo-counts.js';
import type { ArchiveContext } from '../seal/context.js';
import { readManifest } from '../seal/manifest.js';
import { rebuildHour } from '../seal/rebuild.js';
import type { CountVerdict } from './verdict.js';
import { countVerdict } from './verdict.js';
import type { HourClock, HourSlot } from '../hours/hour-clock.js';
import { idKeyOfLine } from '../spool/document-ids.js';

export type ReconcileStatus = CountVerdict | 'missing' | 'not-archived';

export interface ReconcileRow {
  hour: string;
  start: string;
  mongo: number;
  archived: number | null;
  status: ReconcileStatus;
  detail?: string;
  repaired?: boolean;
}

export interface ReconcileOptions {
  from: number;
  to: number;
  deep?: boolean;
  repair?: boolean;
  now?: number;
  /** Hours ending after this are still open: never repaired. */
  dueBefore?: number;
}

async function deepCheck(ctx: ArchiveContext, manifest: Manifest): Promise<string | undefined> {
  const ids = new Set<string>();
  let total = 0;
  for (const part of manifest.parts) {
    const hash = createHash('sha256');
    let lines = 0;
    let dup: string | undefined;
    const body = await ctx.destination.get(part.key);
    const tap = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        hash.update(chunk);
        cb(null, chunk);
      },
    });
    const split = split2();
    const counting = (async () => {
      for await (const line of split as AsyncIterable<string>) {
        if (line.length === 0) continue;
        lines++;
        const key = idKeyOfLine(line);
        if (ids.has(key) && dup === undefined) dup = key;
        ids.add(key);
      }
    })();
    try {
      await Promise.all([pipeline(body as NodeJS.ReadableStream, tap, createGunzip(), split), counting]);
    } catch (err) {
      await counting.catch(() => undefined);
      return `${part.key} does not decode: ${(err as Error).message}`;
    }
    const sha = hash.digest('hex');
    if (sha !== part.sha256) return `${part.key} sha256 ${sha.slice(0, 12)}… differs from the manifest's ${part.sha256.slice(0, 12)}…`;
    if (lines !== part.count) return `${part.key} holds ${lines} lines, the manifest says ${part.count}`;
    if (dup !== undefined) return `_id ${dup} appears more than once in the hour`;
    total += lines;
  }
  if (total !== manifest.count) return `parts hold ${total} lines, the manifest says ${manifest.count}`;
  return undefined;
}

export async function reconcileRange(ctx: ArchiveContext, clock: HourClock, opts: ReconcileOptions): Promise<ReconcileRow[]> {
  const now = opts.now ?? Date.now();
  const slots = clock.slotsBetween(opts.from, opts.to);
  if (slots.length === 0) return [];
  const first = slots[0] as HourSlot;
  const last = slots[slots.length - 1] as HourSlot;
  const counts = await countPerHour(ctx.collection, ctx.timestampField, first.start, last.end, clock.zone);
  const ttl = await ttlSeconds(ctx.collection, ctx.timestampField);
  const rows: ReconcileRow[] = [];
  for (const slot of slots) {
    const t0 = Date.now();
    let row = await checkHour(ctx, slot, counts.get(slot.start) ?? 0, ttl, now, opts.deep ?? false);
    const due = slot.end <= (opts.dueBefore ?? now);
    if (opts.repair && due && (row.status === 'missing' || row.status === 'mismatch' || row.status === 'not-archived')) {
      await rebuildHour(ctx, slot, 'repair');
      const recount = await countPerHour(ctx.collection, ctx.timestampField, slot.start, slot.end, clock.zone);
      row = { ...(await checkHour(ctx, slot, recount.get(slot.start) ?? 0, ttl, now, opts.deep ?? false)), repaired: true };
    }
    await ctx.ledger
      .update(slot, {
        ...(row.archived !== null ? { state: row.status === 'ok' || row.status === 'expired-at-source' ? 'verified' : 'mismatch' } : {}),
        reconcile: { mongo: row.mongo, archived: row.archived ?? 0, status: row.status, at: new Date() },
      })
      .catch(() => undefined);
    await ctx.operations.record({
      op: 'reconcile',
      hour: slot.id,
      hourStart: new Date(slot.start),
      outcome: row.status === 'ok' || row.status === 'expired-at-source' ? 'ok' : 'error',
      count: row.archived ?? 0,
      durationMs: Date.now() - t0,
      details: { mongo: row.mongo, archived: row.archived, status: row.status, deep: opts.deep ?? false, repaired: row.repaired ?? false },
      ...(row.detail ? { error: row.detail } : {}),
    });
    rows.push(row);
  }
  return rows;
}

async function checkHour(
  ctx: ArchiveContext,
  slot: HourSlot,
  mongo: number,
  ttl: number | undefined,
  now: number,
  deep: boolean,
): Promise<ReconcileRow> {
  const base = { hour: slot.id, start: new Date(slot.start).toISOString(), mongo };
  let manifest: Manifest | undefined;
  try {
    manifest = await readManifest(ctx.destination, ctx.keys.manifestKey(slot));
  } catch (err) {
    return { ...base, archived: null, status: 'mismatch', detail: `manifest unreadable: ${(err as Error).message}` };
  }
  if (!manifest) return { ...base, archived: null, status: 'not-archived' };
  for (const part of manifest.parts) {
    const info = await ctx.destination.head(part.key);
    if (!info) return { ...base, archived: manifest.count, status: 'missing', detail: `${part.key} is listed in the manifest but absent` };
    if (info.size !== part.bytes) {
      return { ...base, archived: manifest.count, status: 'mismatch', detail: `${part.key} has ${info.size} bytes, the manifest says ${part.bytes}` };
    }
  }
  if (deep) {
    const problem = await deepCheck(ctx, manifest);
    if (problem) return { ...base, archived: manifest.count, status: 'mismatch', detail: problem };
  }
  const archived = manifest.count;
  switch (countVerdict({ slot, mongo, archived, ttlSeconds: ttl, now })) {
    case 'ok':
      return { ...base, archived, status: 'ok' };
    case 'expired-at-source':
      return { ...base, archived, status: 'expired-at-source', detail: `TTL index expires documents after ${ttl}s` };
    case 'mismatch':
      return { ...base, archived, status: 'mismatch', detail: `MongoDB has ${mongo}, the archive ${archived}` };
  }
}
