/**
 * A find with an `_id`-only projection (`{ _id: 1 }`) whose filter has range clauses on dates
 * and ObjectIds (the archiver's `_id` listing of an hour: the deep check, the purge's proof,
 * src/seal/hour-ids.ts), answered from the stored documents' bytes: the range clauses tested in
 * place (raw-range-filter.ts) and each reply document made of the stored `_id` element, copied;
 * a document is decoded only when those clauses do not decide it or the filter has other
 * clauses (then mingo's filter decides, as for any find). The same documents in the same order
 * as query.ts's findDocumentsLazily, and the `_id` as stored (mongod's reply; the decoded path's
 * too, which keeps the stored number types).
 *
 * The decoded path cost the emulator ~7 µs a document of an hour of 1,000,000 (decoding each
 * whole document to read two fields, 2026-12-07), and the purge benchmark's proof lists the
 * hour's `_id`s twice.
 */
import type { Document } from 'bson';
import { documentFromElements } from './bson-raw.js';
import { compileFilter } from './query.js';
import type { QueryOptions } from './query.js';
import { ABSENT } from './raw-fields.js';
import { rawRangeFilterOf, rawReaderOf } from './raw-range-filter.js';
import type { StoredDoc } from './stored-doc.js';
import { skipLimitLazily } from './skip-limit.js';

/** Whether `projection` keeps the `_id` only (`{ _id: 1 }` or `{ _id: true }`). */
export function isIdOnly(projection: Document | undefined): boolean {
  if (projection === undefined) return false;
  const keys = Object.keys(projection);
  return keys.length === 1 && keys[0] === '_id' && (projection._id === 1 || projection._id === true);
}

/**
 * The `{ _id }` documents (encoded) of the stored documents `filter` selects, skip and limit
 * applied, produced as they are read; undefined when the filter has no range clause (or there is
 * a collation): then the general path answers.
 */
export function storedIdsLazily(docs: Iterable<StoredDoc>, filter: Document, spec: { skip?: number; limit?: number }, opts?: QueryOptions): Iterator<Uint8Array> | undefined {
  if (opts?.collation !== undefined) return undefined;
  const raw = rawRangeFilterOf(filter);
  if (raw === undefined) return undefined;
  const { reader, test, indexOf } = rawReaderOf(raw, ['_id']);
  const id = indexOf('_id');
  /** The `{ _id }` document of the document loaded in `reader`, or undefined: it has no bytes. */
  const idDocument = (): Buffer | undefined => {
    if (reader.types[id] === ABSENT) return undefined;
    const start = reader.starts[id]!;
    const end = reader.ends[id]!;
    const out = Buffer.allocUnsafe(end - start + 5);
    out.writeInt32LE(out.length, 0);
    reader.bytes.copy(out, 4, start, end);
    out[out.length - 1] = 0;
    return out;
  };
  const whole = compileFilter(filter, opts);
  return skipLimitLazily(
    docs,
    (d) => {
      const loaded = d.loadFields(reader);
      let m = loaded ? test(reader) : undefined;
      if (m === false) return undefined;
      if (m === undefined || !raw.complete) m = whole(d.view());
      if (!m) return undefined;
      return (loaded ? idDocument() : undefined) ?? documentFromElements(d.idElement());
    },
    spec,
  );
}
