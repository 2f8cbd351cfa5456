/**
 * The `_id`s an hour's delivered parts hold, read back from the destination: every part its
 * manifest (or, without a readable manifest, its ledger record) lists, streamed line by line. A
 * takeover from another host (src/source/host-takeover.ts) skips them when it rebuilds the hour
 * from a query, so a document already delivered is never written again; the seal of a file of an
 * hour restored into the watched collection drops the lines they hold (already-archived.ts).
 */
import type { HourSlot } from '../hours/hour-clock.js';
import type { IdKey } from '../spool/document-ids.js';
import type { ArchiveContext } from './context.js';
import { listedParts, newObjectRead, objectLines } from './hour-objects.js';
import { InvalidManifestError, readManifest } from './manifest.js';

/**
 * Adds to `into` the `_id` key of every line of the hour's listed parts that are present, except
 * the part numbered `exceptPart` (a file's own earlier delivery, listed by the manifest before
 * its ledger record).
 */
export async function deliveredIds(ctx: Pick<ArchiveContext, 'destination' | 'keys' | 'ledger'>, slot: HourSlot, into: Set<IdKey>, exceptPart?: number): Promise<void> {
  const manifest = await readManifest(ctx.destination, ctx.keys.manifestKey(slot)).catch((err: unknown) => {
    if (err instanceof InvalidManifestError) return undefined; // the ledger record lists the same parts
    throw err;
  });
  const record = manifest === undefined ? await ctx.ledger.get(slot) : undefined;
  for (const part of listedParts(manifest, record)) {
    if (part.part === exceptPart && part.revision === 0) continue;
    // A listed object that is absent holds nothing to skip (reconcile reports it lost).
    if ((await ctx.destination.head(part.key)) === undefined) continue;
    for await (const { id } of objectLines(ctx.destination, part.key, newObjectRead())) into.add(id);
  }
}
