/**
 * Restored documents are archived once. `restore` into the watched collection (src/ops/restore/)
 * writes documents the archive already holds back into MongoDB; capture reads them as new
 * inserts of their (old) hours and spools them as a late part (the change stream while `run`
 * runs with --force, or from the oplog when a stopped `run` resumes from its checkpoint). The
 * protocol that keeps each `_id` in one delivered object of its hour (DESIGN invariant 2):
 *
 *  1. Before its first insert of an hour, `restore` marks the hour in the ledger
 *     (`restored.<hour id>` of the day document in `jobs`, journaled, majority; HourLedger
 *     .markRestored). Every restored document is therefore inserted after the mark is durable,
 *     and every spool file holding one is closed after it.
 *  2. The seal reads the mark with the hour's record (one read, as before). A file of a marked
 *     hour is decoded (never delivered on its facts' claim) and every line whose `_id` a
 *     delivered part of the hour holds (read back from the destination, delivered-ids.ts) is
 *     dropped (dedupe.ts); the count is recorded in the part's manifest entry and the `seal`
 *     record (`alreadyArchivedRemoved`). A line whose `_id` the archive does not hold is
 *     delivered as usual (a late write, or a document restored from an object since lost).
 *     A file left with no line is removed without an object: everything it held is delivered.
 *
 * Hours without a mark cost nothing more: no destination read for their files. The mark stays:
 * a late part of the hour sealed later is checked the same way (a restore's inserts may reach a
 * stopped `run` much later). Reconcile --repair, backfill and capture by query's late pass add
 * only `_id`s the hour's parts lack already (rebuild.ts), so they need no mark.
 */
import type { HourSlot } from '../hours/hour-clock.js';
import type { RestoreMark } from '../ledger/hour-states.js';
import type { ArchivedKeySet } from '../spool/archived-key-set.js';
import type { KeyBudget } from '../spool/key-files.js';
import type { ArchiveContext } from './context.js';
import { deliveredKeySet } from './delivered-ids.js';

/**
 * The `_id`s a file of `slot` must not deliver again: those of the hour's delivered parts when
 * the hour carries a restore mark (else undefined: nothing is read). `ownPart`: the part number
 * the file reserved earlier (its own delivery, possibly listed by the manifest already). Memory
 * is bounded (temp files past the key budget, delivered-ids.ts); the caller closes the set.
 */
export async function alreadyArchivedIds(
  ctx: Pick<ArchiveContext, 'destination' | 'keys' | 'ledger' | 'workDirectory'>,
  slot: HourSlot,
  mark: RestoreMark | undefined,
  ownPart: number | undefined,
  budget?: KeyBudget,
): Promise<ArchivedKeySet | undefined> {
  if (mark === undefined) return undefined;
  return deliveredKeySet(ctx, slot, ownPart, budget);
}
