/**
 * Query, projection, aggregation and update semantics come from mingo. This module builds one
 * mingo context with every operator (`$in` from in-operator.ts), replaces `$dateTrunc` for sub-day units (mingo ignores the
 * timezone there, which is wrong for zones with a non-whole-hour offset), and translates mingo's
 * failures into the errors mongod reports.
 */
import type { Document } from 'bson';
import { Aggregator } from 'mingo/aggregator';
import { Context, OpType, ProcessingMode, evalExpr } from 'mingo/core';
import * as accumulatorOperators from 'mingo/operators/accumulator';
import * as expressionOperators from 'mingo/operators/expression';
import * as pipelineOperators from 'mingo/operators/pipeline';
import * as projectionOperators from 'mingo/operators/projection';
import * as queryOperators from 'mingo/operators/query';
import * as windowOperators from 'mingo/operators/window';
import { Query } from 'mingo/query';
import type { Options as MingoOptions } from 'mingo/types';
import { update as mingoUpdate } from 'mingo/updater';
import { Code, CommandError } from './errors.js';
import { $in } from './in-operator.js';
import { typedLike } from './number-types.js';
import { splitRangeFilter } from './range-filter.js';
import { rawOf } from './stored-doc.js';
import { skipLimitLazily } from './skip-limit.js';

type ExpressionFn = (obj: unknown, expr: unknown, options: MingoOptions) => unknown;

const originalDateTrunc = (expressionOperators as unknown as Record<string, ExpressionFn>).$dateTrunc!;
const offsetFormatters = new Map<string, Intl.DateTimeFormat>();

/** Offset of `timezone` from UTC at `date`, in milliseconds (Olson name or ±HH[:MM]). */
export function timezoneOffsetMs(date: Date, timezone: string): number {
  const fixed = /^([+-])(\d{2}):?(\d{2})?$/.exec(timezone);
  if (fixed) {
    const ms = (Number(fixed[2]) * 60 + Number(fixed[3] ?? 0)) * 60_000;
    return fixed[1] === '-' ? -ms : ms;
  }
  if (timezone === 'UTC' || timezone === 'GMT' || timezone === 'Z') return 0;
  let fmt = offsetFormatters.get(timezone);
  if (!fmt) {
    try {
      fmt = new Intl.DateTimeFormat('en-US', {
        timeZone: timezone,
        hourCycle: 'h23',
        year: 'numeric',
        month: 'numeric',
        day: 'numeric',
        hour: 'numeric',
        minute: 'numeric',
        second: 'numeric',
      });
    } catch {
      throw new CommandError(40485, `unrecognized time zone identifier: "${timezone}"`);
    }
    offsetFormatters.set(timezone, fmt);
  }
  const parts: Record<string, number> = {};
  for (const p of fmt.formatToParts(date)) if (p.type !== 'literal') parts[p.type] = Number(p.value);
  const local = Date.UTC(parts.year!, parts.month! - 1, parts.day!, parts.hour!, parts.minute!, parts.second!);
  const utc = Math.floor(date.getTime() / 1000) * 1000;
  return local - utc;
}

const SUB_DAY_UNITS = new Set(['hour', 'minute', 'second', 'millisecond']);
const REFERENCE_POINT = new Date(Date.UTC(2000, 0, 1));

/**
 * `$dateTrunc` that bins sub-day units in the given timezone, as mongod does: bins are aligned
 * to the reference point 2000-01-01T00:00 in that timezone (mongod's truncateDateMillis).
 */
const $dateTrunc: ExpressionFn = (obj, expr, options) => {
  const args = evalExpr(obj, expr, options) as Document | null;
  if (
    args &&
    typeof args === 'object' &&
    args.date instanceof Date &&
    typeof args.timezone === 'string' &&
    SUB_DAY_UNITS.has(args.unit as string)
  ) {
    const offset = timezoneOffsetMs(REFERENCE_POINT, args.timezone);
    const shifted = new Date(args.date.getTime() + offset);
    const { timezone: _tz, ...rest } = args;
    const truncated = originalDateTrunc(obj, { ...rest, date: { $literal: shifted } }, options);
    return truncated instanceof Date ? new Date(truncated.getTime() - offset) : truncated;
  }
  return originalDateTrunc(obj, expr, options);
};

function objectIdTime(value: unknown): Date | undefined {
  if (value !== null && typeof value === 'object' && (value as { _bsontype?: string })._bsontype === 'ObjectId') {
    return (value as { getTimestamp(): Date }).getTimestamp();
  }
  return undefined;
}

const originalToDate = (expressionOperators as unknown as Record<string, ExpressionFn>).$toDate!;
const originalConvert = (expressionOperators as unknown as Record<string, ExpressionFn>).$convert!;

/** `$toDate` of an ObjectId is its creation time, as in mongod (mingo does not know bson's ObjectId). */
const $toDate: ExpressionFn = (obj, expr, options) => {
  const oidTime = objectIdTime(evalExpr(obj, expr, options));
  return oidTime ?? originalToDate(obj, expr, options);
};

/** `$convert` to date of an ObjectId: its creation time, as in mongod. */
const $convert: ExpressionFn = (obj, expr, options) => {
  const spec = expr as Document | null;
  if (spec && typeof spec === 'object' && (spec.to === 'date' || spec.to === 9)) {
    const oidTime = objectIdTime(evalExpr(obj, spec.input, options));
    if (oidTime) return oidTime;
  }
  return originalConvert(obj, expr, options);
};

const context = Context.init({
  accumulator: accumulatorOperators,
  expression: { ...(expressionOperators as unknown as Record<string, ExpressionFn>), $dateTrunc, $toDate, $convert } as never,
  pipeline: pipelineOperators,
  projection: projectionOperators,
  query: { ...queryOperators, $in },
  window: windowOperators,
});

export interface QueryOptions {
  collation?: Document;
  variables?: Document;
  collectionResolver?: (name: string) => Document[];
  /** Clone input documents because the pipeline may write into nested objects. */
  cloneInput?: boolean;
}

function mingoOptions(opts?: QueryOptions): Partial<MingoOptions> {
  const out: Record<string, unknown> = { context, useStrictMode: true, scriptEnabled: false };
  if (opts?.collation) out.collation = opts.collation;
  if (opts?.variables) out.variables = opts.variables;
  if (opts?.collectionResolver) out.collectionResolver = opts.collectionResolver;
  out.processingMode = opts?.cloneInput ? ProcessingMode.CLONE_INPUT : ProcessingMode.CLONE_OFF;
  return out as Partial<MingoOptions>;
}

/** Runs `fn`, turning mingo's failures into mongod-style command errors. */
export function withQueryErrors<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw translateError(err);
  }
}

export function translateError(err: unknown): unknown {
  if (err instanceof CommandError || !(err instanceof Error)) return err;
  const msg = err.message;
  let m = /unregistered pipeline operator (\$\w+)/.exec(msg);
  if (m) return new CommandError(Code.Location40324, `Unrecognized pipeline stage name: '${m[1]}'`);
  m = /unknown (?:top level |query )?operator:? (\$\w+)/.exec(msg);
  if (m) return new CommandError(Code.BadValue, `unknown operator: ${m[1]}`);
  m = /accumulator '(\$\w+)' is not registered/.exec(msg);
  if (m) return new CommandError(Code.InvalidPipelineOperator, `Unrecognized expression '${m[1]}'`);
  m = /Unknown update operator: '(\$?\w+)'/.exec(msg);
  if (m) {
    return new CommandError(
      Code.FailedToParse,
      `Unknown modifier: ${m[1]}. Expected a valid update modifier or pipeline-style update specified as an array`,
    );
  }
  if (/immutable field '_id'/.test(msg)) {
    return new CommandError(Code.ImmutableField, "Performing an update on the path '_id' would modify the immutable field '_id'");
  }
  if (err.name === 'MingoError' || err instanceof TypeError || err instanceof RangeError) {
    return new CommandError(Code.BadValue, msg);
  }
  return err;
}

/**
 * A compiled filter predicate. Clauses that are ranges on dates and ObjectIds are tested by
 * range-filter.ts (mingo's answers, faster); mingo tests the rest, and the whole filter for a
 * document those clauses do not decide. Not with a collation (kept entirely mingo's).
 */
export function compileFilter(filter: Document, opts?: QueryOptions): (doc: Document) => boolean {
  if (Object.keys(filter).length === 0) return () => true;
  const split = opts?.collation === undefined ? splitRangeFilter(filter) : undefined;
  if (split === undefined) {
    const q = withQueryErrors(() => new Query(filter, mingoOptions(opts)));
    return (doc) => withQueryErrors(() => q.test(doc));
  }
  const rest = split.rest !== undefined ? withQueryErrors(() => new Query(split.rest as Document, mingoOptions(opts))) : undefined;
  let whole: Query | undefined;
  return (doc) =>
    withQueryErrors(() => {
      const r = split.test(doc);
      if (r === undefined) return (whole ??= new Query(filter, mingoOptions(opts))).test(doc);
      return r && (rest === undefined || rest.test(doc));
    });
}

export interface FindSpec {
  filter?: Document;
  sort?: Document;
  projection?: Document;
  skip?: number;
  limit?: number;
}

/**
 * Whether `projection` keeps the `_id` only (`{ _id: 1 }` or `{ _id: true }`): projected here as
 * `{ _id }` (mingo's answer, without its per-document projection machinery, which cost a third of
 * the emulator's time answering the purge proof's `_id` listing).
 */
function idOnly(projection: Document | undefined): boolean {
  if (projection === undefined) return false;
  const keys = Object.keys(projection);
  return keys.length === 1 && keys[0] === '_id' && (projection._id === 1 || projection._id === true);
}

function projectId(doc: Document): Document {
  return doc._id === undefined ? {} : typedLike({ _id: doc._id }, () => rawOf(doc));
}

/**
 * A projection of documents one at a time: mingo's (`projection` applied to each document given),
 * its numbers typed like the stored document's (number-types.ts). For replies only.
 */
function projector(projection: Document, opts?: QueryOptions): (doc: Document) => Document {
  let current: Document | undefined;
  const feed = (): { done: boolean; value?: Document } => (current === undefined ? { done: true } : { done: false, value: current });
  const cursor = new Query({}, mingoOptions(opts)).find<Document>(feed, projection);
  return (doc) => {
    current = doc;
    const out = cursor.next() as Document;
    current = undefined;
    return typedLike(out, () => rawOf(doc));
  };
}

/** The projection of find semantics of `projection` (undefined or empty: none), for replies. */
function projectionOf(projection: Document | undefined, opts?: QueryOptions): ((doc: Document) => Document) | undefined {
  if (projection === undefined || Object.keys(projection).length === 0) return undefined;
  return idOnly(projection) ? projectId : projector(projection, opts);
}

/** Filter, sort, skip, limit and project documents with find semantics. */
export function findDocuments(source: Iterable<Document>, spec: FindSpec, opts?: QueryOptions): Document[] {
  return withQueryErrors(() => {
    const q = new Query(spec.filter ?? {}, mingoOptions(opts));
    const project = projectionOf(spec.projection, opts);
    let cursor = q.find<Document>(source);
    if (spec.sort && Object.keys(spec.sort).length > 0) cursor = cursor.sort(spec.sort as never);
    if (spec.skip) cursor = cursor.skip(spec.skip);
    if (spec.limit) cursor = cursor.limit(spec.limit);
    const all = cursor.all();
    return project ? all.map(project) : all;
  });
}

/**
 * The same without a sort, produced as they are read: an iterator over `source` that filters,
 * skips, limits and projects one document at a time (a sort would need them all first).
 */
export function findDocumentsLazily(source: Iterable<Document>, spec: Omit<FindSpec, 'sort'>, opts?: QueryOptions): Iterator<Document> {
  if (idOnly(spec.projection) && spec.filter !== undefined && opts?.collation === undefined && splitRangeFilter(spec.filter) !== undefined) {
    return idsLazily(source, compileFilter(spec.filter, opts), spec);
  }
  const cursor = withQueryErrors(() => {
    const q = new Query(spec.filter ?? {}, mingoOptions(opts));
    const c = q.find<Document>(source);
    return spec.skip ? c.skip(spec.skip) : c;
  });
  const project = withQueryErrors(() => projectionOf(spec.projection, opts));
  // The limit is counted here: mingo's reads the source past it.
  let left = spec.limit ? spec.limit : Infinity;
  return {
    next: () =>
      withQueryErrors(() => {
        if (left <= 0 || !cursor.hasNext()) return { done: true, value: undefined };
        left--;
        const doc = cursor.next() as Document;
        return { done: false, value: project ? project(doc) : doc };
      }),
  };
}

/**
 * findDocumentsLazily with an `_id`-only projection and a filter compileFilter speeds up (the
 * hour rule's `_id` listing): the same documents in the same order, projected as `{ _id }`.
 */
function idsLazily(source: Iterable<Document>, test: (doc: Document) => boolean, spec: Pick<FindSpec, 'skip' | 'limit'>): Iterator<Document> {
  return skipLimitLazily(source, (doc) => (test(doc) ? projectId(doc) : undefined), spec);
}

/** Stages that never write into the objects they receive. */
const NON_MUTATING_STAGES = new Set([
  '$match', '$sort', '$limit', '$skip', '$count', '$group', '$project', '$sortByCount', '$bucket',
  '$bucketAuto', '$sample', '$facet', '$documents', '$replaceRoot', '$replaceWith', '$unwind',
]);

export function pipelineMayMutate(pipeline: Document[]): boolean {
  return pipeline.some((stage) => !NON_MUTATING_STAGES.has(Object.keys(stage)[0] ?? ''));
}

/** mongod's stages mingo does not implement: known names, so never "unrecognized". */
const SERVER_ONLY_STAGES = new Set([
  '$changeStream', '$changeStreamSplitLargeEvent', '$collStats', '$currentOp', '$geoNear', '$indexStats',
  '$listLocalSessions', '$listSessions', '$listSearchIndexes', '$merge', '$out', '$planCacheStats', '$search',
  '$searchMeta', '$vectorSearch', '$shardedDataDistribution', '$documents', '$unionWith', '$lookup', '$graphLookup',
  '$setWindowFields', '$densify', '$fill',
]);

/** Whether mongod knows a pipeline stage of this name (else: 40324 Unrecognized pipeline stage name). */
export function isPipelineStage(name: string): boolean {
  return SERVER_ONLY_STAGES.has(name) || !!context.getOperator(OpType.PIPELINE, name);
}

/** A compiled aggregation pipeline (without `$changeStream`). */
export class Pipeline {
  readonly #agg: Aggregator;

  constructor(stages: Document[], opts?: QueryOptions) {
    for (const stage of stages) {
      const keys = Object.keys(stage);
      if (keys.length !== 1) {
        throw new CommandError(40323, 'A pipeline stage specification object must contain exactly one field.');
      }
      const name = keys[0]!;
      if (!context.getOperator(OpType.PIPELINE, name)) {
        throw new CommandError(Code.Location40324, `Unrecognized pipeline stage name: '${name}'`);
      }
    }
    this.#agg = withQueryErrors(
      () => new Aggregator(stages, mingoOptions({ ...opts, cloneInput: opts?.cloneInput ?? pipelineMayMutate(stages) })),
    );
  }

  run(source: Iterable<Document>): Document[] {
    return withQueryErrors(() => this.#agg.run<Document>(source));
  }
}

/**
 * Applies update operators to `doc` in place (the caller passes a private copy) and returns
 * the paths mingo reports as modified (empty when nothing changed).
 */
export function applyUpdateOperators(doc: Document, modifier: Document, arrayFilters?: Document[], opts?: QueryOptions): string[] {
  return withQueryErrors(() =>
    mingoUpdate(doc, modifier as never, arrayFilters, undefined, { cloneMode: 'copy', queryOptions: mingoOptions(opts) }),
  );
}

/** Runs a pipeline-style update on a private copy of a document. */
export function applyUpdatePipeline(doc: Document, stages: Document[], opts?: QueryOptions): Document {
  const allowed = new Set(['$addFields', '$set', '$project', '$unset', '$replaceRoot', '$replaceWith']);
  for (const stage of stages) {
    const name = Object.keys(stage)[0] ?? '';
    if (!allowed.has(name)) {
      throw new CommandError(
        Code.InvalidOptions,
        `${name} is not allowed to be used within an update`,
      );
    }
  }
  const out = new Pipeline(stages, { ...opts, cloneInput: false }).run([doc]);
  const result = out[0];
  if (!result) throw new CommandError(Code.BadValue, 'the update pipeline returned no document');
  return result;
}
