/**
 * range-filter.ts's clauses tested on a stored document's bytes (raw-fields.ts) instead of its
 * decoded object: the same answers, field by field. A clause's value decides only when it is a
 * single date (BSON type 0x09, a valid time: within ±8.64e15 ms, as `BSON.deserialize` makes a
 * valid `Date` of it) against date bounds, or an ObjectId (0x07) against ObjectId bounds; any other
 * BSON type (missing, null, an array, a number, a string, a document, an invalid date) answers
 * `undefined`, exactly where the decoded test does, and the caller decodes the document.
 *
 * Used to skip the documents a range `$match` rejects without decoding them (sliced-aggregate.ts,
 * the `_id` listing of query.ts): a count of an hour read every document of the hour's `_id`
 * range to find the few without a date, and decoded each (~7-9 µs a document, 2026-12-07).
 */
import type { Document } from 'bson';
import { ABSENT, RawFields } from './raw-fields.js';
import { conjunction, idInKey, junction, parseRangeFilter } from './range-filter.js';
import type { ClauseNode, ValueNode } from './range-filter.js';

/** true / false when decided from the bytes; undefined: decode the document and ask again. */
export type RawTest = (r: RawFields) => boolean | undefined;

const DATE = 0x09;
const OBJECT_ID = 0x07;
const MAX_DATE_MS = 8.64e15;

/** A test of the value of field number `i` (of the RawFields's names). */
type RawValueTest = (r: RawFields, i: number) => boolean | undefined;

function valueTest(node: ValueNode): RawValueTest {
  switch (node.kind) {
    case 'date': {
      const { op, time: t } = node;
      return (r, i) => {
        if (r.types[i] !== DATE) return undefined;
        const x = r.int64(r.offsets[i]!);
        if (!(x >= -MAX_DATE_MS && x <= MAX_DATE_MS)) return undefined;
        return op(x < t ? -1 : x > t ? 1 : 0);
      };
    }
    case 'id': {
      const { op, bytes } = node;
      return (r, i) => {
        if (r.types[i] !== OBJECT_ID) return undefined;
        const b = r.bytes;
        const at = r.offsets[i]!;
        for (let j = 0; j < 12; j++) {
          const c = b[at + j]! - bytes[j]!;
          if (c !== 0) return op(c);
        }
        return op(0);
      };
    }
    case 'idIn': {
      const { keys } = node;
      return (r, i) => (r.types[i] === OBJECT_ID ? keys.has(idInKey(r.bytes, r.offsets[i]!)) : undefined);
    }
    case 'not': {
      const inner = allOf(node.inner);
      return (r, i) => {
        const x = inner(r, i);
        return x === undefined ? undefined : !x;
      };
    }
  }
}

function allOf(nodes: ValueNode[]): RawValueTest {
  const tests = nodes.map(valueTest);
  return (r, i) => {
    for (const t of tests) {
      const x = t(r, i);
      if (x !== true) return x;
    }
    return true;
  };
}

function clauseTest(node: ClauseNode, fieldIndex: (name: string) => number): RawTest {
  if (node.kind === 'field') {
    const i = fieldIndex(node.field);
    const test = allOf(node.all);
    // A field that is not there decodes as undefined: left to mingo, as range-filter.ts does.
    return (r) => (r.types[i] === ABSENT ? undefined : test(r, i));
  }
  return junction(node.kind, node.parts.map((p) => conjunction(p.map((c) => clauseTest(c, fieldIndex)))));
}

/** The raw test of a filter's range clauses (range-filter.ts's split) and the fields it reads. */
export interface RawRangeFilter {
  /** The answer of the range clauses; `complete`: of the whole filter. */
  test: RawTest;
  /** Whether the filter has no other clause (then `test` answers for the whole filter). */
  complete: boolean;
  /** The top-level field names `test` reads, for a `RawFields`. */
  fields: string[];
}

/** The raw form of `filter`'s range clauses, or undefined when it has none. */
export function rawRangeFilterOf(filter: Document): RawRangeFilter | undefined {
  const parsed = parseRangeFilter(filter);
  if (parsed === undefined) return undefined;
  const fields: string[] = [];
  const fieldIndex = (name: string): number => {
    const at = fields.indexOf(name);
    if (at >= 0) return at;
    fields.push(name);
    return fields.length - 1;
  };
  const test = conjunction(parsed.clauses.map((c) => clauseTest(c, fieldIndex)));
  return { test, complete: parsed.rest === undefined, fields };
}

/** A reader of `filter`'s fields with its test, ready for `RawFields.load`. */
export function rawReaderOf(filter: RawRangeFilter, extra: readonly string[] = []): { reader: RawFields; test: RawTest; indexOf: (name: string) => number } {
  const names = [...filter.fields, ...extra.filter((f) => !filter.fields.includes(f))];
  return { reader: new RawFields(names), test: filter.test, indexOf: (name) => names.indexOf(name) };
}
