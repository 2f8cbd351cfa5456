/**
 * Read-only views (`create` with `viewOn` and `pipeline`), as the MongoDB manual describes them:
 * a view is a catalog entry with no documents of its own; reading it runs its pipeline over the
 * documents of its source (a collection, or another view, resolved recursively); it cannot be
 * written to, nor indexed (CommandNotSupportedOnView, 166). The emulator keeps a view as a
 * catalog entry whose options hold `viewOn` and `pipeline`.
 */
import type { Document } from 'bson';
import { Code, CommandError, typeMismatch } from './errors.js';
import { Pipeline } from './query.js';
import type { QueryOptions } from './query.js';
import type { Catalog, Collection } from './storage.js';

/** mongod's maximum depth of views defined on views. */
const MAX_VIEW_DEPTH = 20;

export function isView(coll: Collection): boolean {
  return typeof coll.options.viewOn === 'string';
}

/** Checks the `viewOn` and `pipeline` options of a `create`: a view's definition. */
export function validateViewOptions(options: Document): void {
  if (options.viewOn === undefined) {
    if (options.pipeline !== undefined) throw new CommandError(Code.BadValue, "'pipeline' requires 'viewOn' to also be specified");
    return;
  }
  if (typeof options.viewOn !== 'string') throw typeMismatch('create.viewOn', options.viewOn, 'string');
  if (options.viewOn.length === 0) throw new CommandError(Code.BadValue, "'viewOn' cannot be empty");
  if (options.pipeline !== undefined && !Array.isArray(options.pipeline)) throw typeMismatch('create.pipeline', options.pipeline, 'array');
  for (const stage of (options.pipeline as Document[] | undefined) ?? []) {
    const name = stage && typeof stage === 'object' ? Object.keys(stage)[0] : undefined;
    if (name === '$out' || name === '$merge' || name === '$changeStream') {
      throw new CommandError(Code.OptionNotSupportedOnView, `${name} cannot be used in a view definition`);
    }
  }
  // The pipeline must compile: an unknown stage fails the create, not the first read.
  new Pipeline((options.pipeline as Document[] | undefined) ?? []);
  for (const other of ['capped', 'size', 'max', 'validator', 'changeStreamPreAndPostImages', 'expireAfterSeconds']) {
    if (options[other] !== undefined) throw new CommandError(Code.InvalidOptions, `option '${other}' cannot be used with a view`);
  }
}

/** Fails a write or an index operation on a view, as mongod does. */
export function refuseOnView(coll: Collection): void {
  if (isView(coll)) throw new CommandError(Code.CommandNotSupportedOnView, `Namespace ${coll.ns} is a view, not a collection`);
}

/** The documents a view shows: its pipeline run over its source's documents. */
export function viewDocuments(catalog: Catalog, view: Collection, query: QueryOptions = {}, depth = 0): Document[] {
  if (depth >= MAX_VIEW_DEPTH) throw new CommandError(Code.ViewDepthLimitExceeded, `View depth too deep or view cycle detected; maximum depth is ${MAX_VIEW_DEPTH}`);
  const source = catalog.get(view.db, view.options.viewOn as string);
  const docs = source === undefined ? [] : isView(source) ? viewDocuments(catalog, source, query, depth + 1) : [...source.objects()];
  const pipeline = (view.options.pipeline as Document[] | undefined) ?? [];
  return pipeline.length === 0 ? docs : new Pipeline(pipeline, { ...query, cloneInput: true }).run(docs);
}
