/**
 * The deep check of an hour, in two halves that `reconcile --deep` and `purge` share:
 *
 * - `readArchivedIds`: reads back every object the hour's manifest lists (gunzipped, each
 *   line's `_id` read from its bytes: objectIdKeys in src/seal/hour-objects.ts) and checks it is
 *   the object the manifest describes (its SHA-256, line count, that it decodes), that no `_id`
 *   repeats within the hour and that the parts add up to the manifest's count; returns the set
 *   of the hour's archived `_id` keys (the caller closes it).
 * - `compareSourceIds`: streams the `_id`s MongoDB holds for the hour (the hour rule's query,
 *   read as raw BSON by src/seal/hour-ids.ts) and counts those the archive lacks; `collect`
 *   receives every `_id` MongoDB holds for the hour, as MongoDB stores it, in the cursor's order
 *   (what purge deletes by, once none is lacking).
 *
 * Memory is bounded whatever the hour's size (src/spool/archived-key-set.ts): the keys stay in
 * memory up to `budget.keysInMemory` (ID_KEYS_IN_MEMORY); a bigger hour's keys are
 * hash-partitioned into temp files under the work directory and compared partition by
 * partition, exactly. The answers are the ones an in-memory set gives: the same first repeated
 * `_id` (the first a reader of the parts in order meets), the same counts, the same first
 * lacking `_id`s in MongoDB's order.
 */
import type { HourSlot } from '../hours/hour-clock.js';
import type { ArchiveContext } from '../seal/context.js';
import { newObjectRead, objectIdKeys, partProblem } from '../seal/hour-objects.js';
import { hourIds } from '../seal/hour-ids.js';
import type { Manifest } from '../seal/manifest.js';
import { ArchivedKeySet } from '../spool/archived-key-set.js';
import type { IdKey } from '../spool/document-ids.js';
import type { KeyBudget } from '../spool/key-files.js';

/** What reading an hour's objects back found: a problem with them, or the `_id`s they hold. */
export type ArchivedIds =
  | { problem: string; kind: 'object' | 'repeated-id' | 'count' }
  | { ids: ArchivedKeySet };

/** The key budget of a deep check in `ctx`: temp files under its work directory. */
function budgetOf(ctx: Pick<ArchiveContext, 'workDirectory'>, budget: KeyBudget | undefined): KeyBudget {
  return { ...(ctx.workDirectory !== undefined ? { directory: ctx.workDirectory } : {}), ...budget };
}

function repeated(key: IdKey): ArchivedIds {
  return { problem: `_id ${key} appears more than once in the hour`, kind: 'repeated-id' };
}

/** Reads back every listed object of the hour (see the header). */
export async function readArchivedIds(
  ctx: Pick<ArchiveContext, 'destination' | 'workDirectory'>,
  manifest: Pick<Manifest, 'parts' | 'count'>,
  budget?: KeyBudget,
): Promise<ArchivedIds> {
  const ids = await ArchivedKeySet.open(manifest.count, budgetOf(ctx, budget));
  let done = false;
  try {
    let total = 0;
    for (const [index, part] of manifest.parts.entries()) {
      const read = newObjectRead();
      for await (const keys of objectIdKeys(ctx.destination, part.key, read)) for (const id of keys) if (ids.add(id, index)) await ids.flush();
      const problem = partProblem(part, read);
      // A repeat met in an earlier part comes first; within a part, the object's problem does.
      const repeat = problem !== undefined || !ids.partitioned ? await ids.firstRepeat() : undefined;
      if (problem !== undefined) return repeat !== undefined && repeat.part < index ? repeated(repeat.key) : { problem, kind: 'object' };
      if (repeat !== undefined) return repeated(repeat.key);
      total += read.lines;
    }
    const repeat = await ids.firstRepeat();
    if (repeat !== undefined) return repeated(repeat.key);
    if (total !== manifest.count) return { problem: `parts hold ${total} lines, the manifest says ${manifest.count}`, kind: 'count' };
    done = true;
    return { ids };
  } finally {
    if (!done) await ids.close();
  }
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
  ids: ArchivedKeySet,
  collect?: (id: unknown, key: IdKey) => Promise<void>,
): Promise<SourceIds> {
  async function* keys(): AsyncGenerator<IdKey[]> {
    for await (const batch of hourIds(ctx, slot)) {
      if (collect !== undefined) for (const { id, key } of batch) await collect(id, key);
      yield batch.map((b) => b.key);
    }
  }
  const c = await ids.compare(keys());
  return { archived: c.held, lacking: c.lacking, lackingExamples: c.lackingExamples };
}
