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
 * of the archiver's count per hour is grouped by count-group.ts from the documents' bytes (mingo's
 * groups, faster), and the range clauses of any other pipeline's leading `$match` are tested on
 * the bytes first, a document they reject never decoded (raw-range-filter.ts): the count's
 * `_id`-time clause read every document of the hour to find the few without a date. The event
 * loop turns every `sliceSize()` documents read, kept or not.
 * Like mongod's yielding reads, a write between two slices may or may not be seen.
 */
import type { Document } from 'bson';
import { countGroupOf, rawCountGroupOf } from './count-group.js';
import { fieldsRead } from './pipeline-fields.js';
import { Pipeline } from './query.js';
import { rawRangeFilterOf, rawReaderOf } from './raw-range-filter.js';
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

/**
 * The range clauses of the pipeline's leading `$match` tested on each document's bytes, to skip
 * without decoding it a document they reject (raw-range-filter.ts); undefined when there are none.
 */
function rawPrefilterOf(stages: readonly Document[]): ((d: StoredDoc) => boolean) | undefined {
  const first = stages[0];
  const match = first !== undefined && Object.keys(first).length === 1 ? (first.$match as unknown) : undefined;
  if (match === null || typeof match !== 'object' || Array.isArray(match)) return undefined;
  const filter = rawRangeFilterOf(match as Document);
  if (filter === undefined) return undefined;
  const { reader, test } = rawReaderOf(filter);
  // The clauses are a conjunction with the rest of the filter: false rejects the document.
  return (d) => !(d.loadFields(reader) && test(reader) === false);
}

/** Runs a pipeline planned by `slicedPlan` over stored documents, yielding between slices. */
export async function runSliced(plan: SlicedPlan, docs: Iterable<StoredDoc>, opts: QueryOptions): Promise<Document[]> {
  const perSlice = new Pipeline(plan.perSlice, opts);
  const fast = opts.collation === undefined ? countGroupOf(plan.perSlice) : undefined;
  // The count per hour: each slice grouped from the documents' bytes, decoded only when that
  // does not decide it.
  const rawFast = opts.collation === undefined ? rawCountGroupOf(plan.perSlice) : undefined;
  const keep = rawFast === undefined && opts.collation === undefined ? rawPrefilterOf(plan.perSlice) : undefined;
  const combine = new Pipeline(plan.combine, opts);
  const { fields } = plan;
  const groups: Document[] = [];
  const batch: Document[] = [];
  const stored: StoredDoc[] = [];
  const decode = (d: StoredDoc): Document => (fields ? d.viewFields(fields) : d.view());
  const flush = (): void => {
    if (rawFast !== undefined) {
      const raw = rawFast(stored);
      if (raw === undefined) for (const d of stored) batch.push(decode(d));
      else for (const g of raw) groups.push(g);
      stored.length = 0;
    }
    if (batch.length === 0 && groups.length > 0) return;
    for (const g of fast?.(batch) ?? perSlice.run(batch)) groups.push(g);
    batch.length = 0;
  };
  // Documents read since the event loop last turned (those the prefilter skips count too).
  let read = 0;
  for (const d of docs) {
    if (rawFast !== undefined) stored.push(d);
    else if (keep === undefined || keep(d)) batch.push(decode(d));
    if (stored.length >= slice || batch.length >= slice) flush();
    if (++read >= slice) {
      read = 0;
      await nextTurn();
    }
  }
  if (stored.length > 0 || batch.length > 0 || groups.length === 0) flush();
  return combine.run(groups);
}
