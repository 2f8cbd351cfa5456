/**
 * The `_id`s an hour's delivered parts hold, read back from the destination: every part its
 * manifest (or, without a readable manifest, its ledger record) lists, streamed line by line. A
 * takeover from another host (src/source/host-takeover.ts) skips them when it rebuilds the hour
 * from a query, so a document already delivered is never written again; the seal of a file of an
 * hour restored into the watched collection drops the lines they hold (already-archived.ts),
 * read into a set whose memory is bounded (deliveredKeySet).
 */
import type { HourSlot } from '../hours/hour-clock.js';
import type { KeySink } from '../spool/spilling-key-set.js';
import type { ArchiveContext } from './context.js';
import { listedParts, newObjectRead, objectLines } from './hour-objects.js';
import type { ManifestPart } from './manifest.js';
import { InvalidManifestError, readManifest } from './manifest.js';
import { ArchivedKeySet } from '../spool/archived-key-set.js';
import type { KeyBudget } from '../spool/key-files.js';

/** The hour's listed parts that are present, except the part numbered `exceptPart` (see deliveredIds). */
async function presentParts(ctx: Pick<ArchiveContext, 'destination' | 'keys' | 'ledger'>, slot: HourSlot, exceptPart: number | undefined): Promise<ManifestPart[]> {
  const manifest = await readManifest(ctx.destination, ctx.keys.manifestKey(slot)).catch((err: unknown) => {
    if (err instanceof InvalidManifestError) return undefined; // the ledger record lists the same parts
    throw err;
  });
  const record = manifest === undefined ? await ctx.ledger.get(slot) : undefined;
  const out: ManifestPart[] = [];
  for (const part of listedParts(manifest, record)) {
    if (part.part === exceptPart && part.revision === 0) continue;
    // A listed object that is absent holds nothing to skip (reconcile reports it lost).
    if ((await ctx.destination.head(part.key)) === undefined) continue;
    out.push(part);
  }
  return out;
}

/**
 * Adds to `into` the `_id` key of every line of the hour's listed parts that are present, except
 * the part numbered `exceptPart` (a file's own earlier delivery, listed by the manifest before
 * its ledger record).
 */
export async function deliveredIds(ctx: Pick<ArchiveContext, 'destination' | 'keys' | 'ledger'>, slot: HourSlot, into: KeySink, exceptPart?: number): Promise<void> {
  for (const part of await presentParts(ctx, slot, exceptPart)) {
    for await (const { id } of objectLines(ctx.destination, part.key, newObjectRead())) if (into.add(id)) await into.flush();
  }
}

/**
 * The same `_id` keys as deliveredIds, in a set whose memory is bounded (src/spool/
 * archived-key-set.ts: temp files under the work directory past `budget.keysInMemory`). The
 * caller closes it.
 */
export async function deliveredKeySet(ctx: Pick<ArchiveContext, 'destination' | 'keys' | 'ledger' | 'workDirectory'>, slot: HourSlot, exceptPart?: number, budget?: KeyBudget): Promise<ArchivedKeySet> {
  const parts = await presentParts(ctx, slot, exceptPart);
  const expected = parts.reduce((n, p) => n + p.count, 0);
  return partsKeySet(ctx.destination, parts, expected, { ...(ctx.workDirectory !== undefined ? { directory: ctx.workDirectory } : {}), ...budget });
}

/** Every `_id` of `parts` (read back in order) in an ArchivedKeySet for `expected` keys; the caller closes it. */
export async function partsKeySet(destination: ArchiveContext['destination'], parts: readonly Pick<ManifestPart, 'key'>[], expected: number, budget: KeyBudget): Promise<ArchivedKeySet> {
  const set = await ArchivedKeySet.open(expected, budget);
  try {
    for (const [i, part] of parts.entries()) {
      for await (const { id } of objectLines(destination, part.key, newObjectRead())) if (set.add(id, i)) await set.flush();
    }
    return set;
  } catch (err) {
    await set.close();
    throw err;
  }
}
