/**
 * Aggregations over big collections that do not stall the server: a pipeline of per-document
 * stages (`$match`, `$project`, `$addFields`, `$set`, `$unset`, `$unwind`, `$replaceRoot`,
 * `$replaceWith`) ending in a `$group` whose accumulators combine (`$sum`, `$count`, `$min`,
 * `$max`, `$first`, `$last`), followed by any stages, runs over its input in slices of
 * `sliceSize()` documents with the event loop free in between (other connections' commands,
 * the driver's monitor checks, change streams go on), each slice grouped on its own, and the
 * slices' groups are grouped again (sums of sums, first of firsts...) before the rest of the
 * pipeline: the results of a single pass, in the same order (a group comes out where its first
 * document came in). reconcile's count of an hour over 1,000,000 documents held the emulator's
 * event loop for tens of seconds in one pass.
 *
 * Each input document is decoded only as far as the stages read it (pipeline-fields.ts). A slice
 * of the archiver's count per hour is grouped by count-group.ts (mingo's groups, faster).
 * Like mongod's yielding reads, a write between two slices may or may not be seen.
 */
import type { Document } from 'bson';
import { countGroupOf } from './count-group.js';
import { fieldsRead } from './pipeline-fields.js';
import { Pipeline } from './query.js';
import type { QueryOptions } from './query.js';
import type { StoredDoc } from './stored-doc.js';

const PER_DOCUMENT = new Set(['$match', '$project', '$addFields', '$set', '$unset', '$unwind', '$replaceRoot', '$replaceWith']);

/** Accumulator → the accumulator that combines the slices' results of it. */
const COMBINE: Record<string, string> = { $sum: '$sum', $count: '$sum', $min: '$min', $max: '$max', $first: '$first', $last: '$last' };

let slice = 5_000;

/** Documents per slice (tests make it small). */
export function setSliceSize(n: number): void {
  slice = n;
}

export function sliceSize(): number {
  return slice;
}

export interface SlicedPlan {
  /** The per-document stages and the `$group`, run on each slice. */
  perSlice: Document[];
  /** The `$group` that combines the slices' groups, and the stages after the `$group`. */
  combine: Document[];
  /** UTF-8 names of the top-level fields the per-slice stages read, or undefined: all. */
  fields: Uint8Array[] | undefined;
}

/** The plan of a pipeline that can run in slices, or undefined. */
export function slicedPlan(stages: readonly Document[]): SlicedPlan | undefined {
  const at = stages.findIndex((s) => Object.keys(s)[0] !== undefined && !PER_DOCUMENT.has(Object.keys(s)[0]!));
  if (at < 0 || Object.keys(stages[at]!)[0] !== '$group') return undefined;
  const group = stages[at]!.$group as unknown;
  if (group === null || typeof group !== 'object' || Array.isArray(group) || !('_id' in group)) return undefined;
  const combined: Document = { _id: '$_id' };
  for (const [field, acc] of Object.entries(group as Document)) {
    if (field === '_id') continue;
    if (acc === null || typeof acc !== 'object' || Array.isArray(acc)) return undefined;
    const ops = Object.keys(acc as Document);
    const op = ops.length === 1 ? COMBINE[ops[0]!] : undefined;
    if (op === undefined || field.startsWith('$') || field.includes('.')) return undefined;
    combined[field] = { [op]: `$${field}` };
  }
  const perSlice = stages.slice(0, at + 1);
  const fields = fieldsRead(perSlice);
  return {
    perSlice: [...perSlice],
    combine: [{ $group: combined }, ...stages.slice(at + 1)],
    fields: fields ? [...fields].map((f) => Buffer.from(f, 'utf8')) : undefined,
  };
}

function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Runs a pipeline planned by `slicedPlan` over stored documents, yielding between slices. */
export async function runSliced(plan: SlicedPlan, docs: Iterable<StoredDoc>, opts: QueryOptions): Promise<Document[]> {
  const perSlice = new Pipeline(plan.perSlice, opts);
  const fast = opts.collation === undefined ? countGroupOf(plan.perSlice) : undefined;
  const combine = new Pipeline(plan.combine, opts);
  const { fields } = plan;
  const groups: Document[] = [];
  const batch: Document[] = [];
  const flush = (): void => {
    for (const g of fast?.(batch) ?? perSlice.run(batch)) groups.push(g);
    batch.length = 0;
  };
  for (const d of docs) {
    batch.push(fields ? d.viewFields(fields) : d.view());
    if (batch.length >= slice) {
      flush();
      await nextTurn();
    }
  }
  if (batch.length > 0 || groups.length === 0) flush();
  return combine.run(groups);
}
