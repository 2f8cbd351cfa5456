/**
 * The deep check of an hour, in two halves that `reconcile --deep` and `purge` share:
 *
 * - `readArchivedIds`: reads back every object the hour's manifest lists (gunzipped, line by
 *   line) and checks it is the object the manifest describes (its SHA-256, line count, that it
 *   decodes), that no `_id` repeats within the hour and that the parts add up to the manifest's
 *   count; returns the set of the hour's archived `_id` keys.
 * - `compareSourceIds`: streams the `_id`s MongoDB holds for the hour (the hour rule's query,
 *   src/seal/hour-query.ts) and counts those the archive lacks; every `_id` the archive holds is
 *   handed to `onArchived` as MongoDB stores it (what purge deletes by).
 *
 * Memory: one `_id` key per archived document of the hour (an hour is bounded by design).
 */
import type { HourSlot } from '../hours/hour-clock.js';
import type { ArchiveContext } from '../seal/context.js';
import { newObjectRead, objectLines, partProblem } from '../seal/hour-objects.js';
import { hourDocuments } from '../seal/hour-query.js';
import type { Manifest } from '../seal/manifest.js';
import type { IdKey } from '../spool/document-ids.js';
import { idKeyOf } from '../spool/document-ids.js';

/** What reading an hour's objects back found: a problem with them, or the `_id`s they hold. */
export type ArchivedIds =
  | { problem: string; kind: 'object' | 'repeated-id' | 'count' }
  | { ids: Set<IdKey> };

/** Reads back every listed object of the hour (see the header). */
export async function readArchivedIds(ctx: Pick<ArchiveContext, 'destination'>, manifest: Pick<Manifest, 'parts' | 'count'>): Promise<ArchivedIds> {
  const ids = new Set<IdKey>();
  let total = 0;
  for (const part of manifest.parts) {
    const read = newObjectRead();
    let dup: string | undefined;
    for await (const { id } of objectLines(ctx.destination, part.key, read)) {
      if (ids.has(id)) dup ??= id;
      else ids.add(id);
    }
    const problem = partProblem(part, read);
    if (problem !== undefined) return { problem, kind: 'object' };
    if (dup !== undefined) return { problem: `_id ${dup} appears more than once in the hour`, kind: 'repeated-id' };
    total += read.lines;
  }
  if (total !== manifest.count) return { problem: `parts hold ${total} lines, the manifest says ${manifest.count}`, kind: 'count' };
  return { ids };
}

/** What MongoDB holds of the hour, compared with the archive's `_id`s. */
export interface SourceIds {
  /** Documents of the hour whose `_id` the archive holds. */
  archived: number;
  /** Documents of the hour whose `_id` the archive lacks. */
  lacking: number;
  /** The first few `_id` keys the archive lacks (for messages). */
  lackingExamples: IdKey[];
}

/** Compares MongoDB's `_id`s of the hour with `ids` (see the header). */
export async function compareSourceIds(
  ctx: Pick<ArchiveContext, 'collection' | 'timestampField' | 'jsonMode'>,
  slot: Pick<HourSlot, 'start' | 'end'>,
  ids: ReadonlySet<IdKey>,
  onArchived?: (id: unknown) => void,
): Promise<SourceIds> {
  const idKey = idKeyOf(ctx.jsonMode);
  const out: SourceIds = { archived: 0, lacking: 0, lackingExamples: [] };
  const cursor = hourDocuments(ctx, slot, { _id: 1 });
  try {
    for await (const doc of cursor) {
      const key = idKey(doc._id);
      if (ids.has(key)) {
        out.archived++;
        onArchived?.(doc._id);
      } else {
        out.lacking++;
        if (out.lackingExamples.length < 3) out.lackingExamples.push(key);
      }
    }
  } finally {
    await cursor.close().catch(() => undefined);
  }
  return out;
}
