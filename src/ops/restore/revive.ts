/**
 * Turns an archived JSON line back into a document to insert.
 *
 * `ejson` lines: EJSON.parse in canonical mode: every BSON type comes back as it was.
 *
 * `analytics` lines lose types by design (src/spool/json-lines.ts); the part's type summary
 * (src/spool/type-summary.ts) tells, per field path, which BSON types it held, and each value is
 * revived from its JSON form:
 *   objectId ← 24-hex string; date ← ISO string; int ← number (Int32); double ← number (Double;
 *   "NaN"/"Infinity"/"-Infinity" strings); long ← number or decimal string (Long); decimal ←
 *   string (Decimal128); binData ← base64 (subtype 0; `binData:N` subtype N); uuid ← UUID string
 *   (subtype 4); regex ← "/pattern/options"; javascript ← code string; symbol ← string;
 *   timestamp ← {t, i}; minKey/maxKey ← "MinKey"/"MaxKey"; object/array ← walked; string, bool,
 *   null as they are.
 * A path that held several types whose JSON forms can meet (int and double: `5`; string and
 * objectId: a 24-hex string) is revived by the value's form (an integral number as int when
 * int32 was seen, else long, else double; a string by the first type whose form it has, the
 * typed ones first): such paths are reported as mixed, since a value may come back as the other
 * type. Paths the summary does not cover (capped, or a part without a summary) keep their JSON
 * values and are reported.
 *
 * A part without a type summary (archived before summaries, or whose types were lost with the
 * spool's facts): `_id` (a 24-hex string as an ObjectId) and the timestamp field (an ISO string
 * as a date) are revived; every other field keeps its JSON value (strings stay strings).
 */
import type { Document } from 'mongodb';
import { BSONRegExp, BSONSymbol, Binary, Code, Decimal128, Double, EJSON, Int32, Long, MaxKey, MinKey, ObjectId, Timestamp, UUID } from 'bson';
import type { KnownTypes, PartTypes, TypeName } from '../../spool/type-summary.js';
import { childPath, itemsPath, pathSegment, typesKnown } from '../../spool/type-summary.js';

const HEX24 = /^[0-9a-f]{24}$/;
const ISO = /^[+-]?\d{4,6}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const INTEGER = /^-?\d+$/;
const UUID_FORM = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const REGEX_FORM = /^\/([\s\S]*)\/([a-z]*)$/;
const DECIMAL = /^-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$|^-?(?:NaN|Infinity|Inf)$/;
const SPECIAL_DOUBLES: Record<string, number> = { NaN: Number.NaN, Infinity: Number.POSITIVE_INFINITY, '-Infinity': Number.NEGATIVE_INFINITY };

/** What a revival could not do exactly, collected over an hour for its report. */
export interface ReviveNotes {
  /** Paths the summary does not cover that held a value (kept as JSON). */
  uncovered: Set<string>;
  /** Paths whose value did not have the form of any type the summary lists (kept as JSON). */
  unexpected: Set<string>;
}

export function newNotes(): ReviveNotes {
  return { uncovered: new Set(), unexpected: new Set() };
}

export type LineReviver = (line: string) => Document;

/** The reviver of a part: by its JSON mode and its type summary (see the header). */
export function partReviver(jsonMode: string, types: PartTypes | undefined, timestampField: string, notes: ReviveNotes): LineReviver {
  if (jsonMode === 'ejson') return (line) => EJSON.parse(line, { relaxed: false }) as Document;
  if (typesKnown(types)) {
    const paths = new Map<string, readonly TypeName[]>(Object.entries(types.paths));
    return (line) => reviveMembers(JSON.parse(line) as Record<string, unknown>, '', paths, notes) as Document;
  }
  return (line) => reviveLegacy(JSON.parse(line) as Record<string, unknown>, timestampField);
}

/** A part without a summary: `_id` and the timestamp field only. */
export function reviveLegacy(doc: Record<string, unknown>, timestampField: string): Document {
  if (typeof doc._id === 'string' && HEX24.test(doc._id)) doc._id = ObjectId.createFromHexString(doc._id);
  const keys = timestampField.split('.');
  let parent: unknown = doc;
  for (const k of keys.slice(0, -1)) parent = parent !== null && typeof parent === 'object' ? (parent as Record<string, unknown>)[k] : undefined;
  const last = keys[keys.length - 1] as string;
  if (parent !== null && typeof parent === 'object') {
    const o = parent as Record<string, unknown>;
    const v = o[last];
    if (typeof v === 'string' && ISO.test(v)) o[last] = new Date(v);
  }
  return doc;
}

function reviveMembers(obj: Record<string, unknown>, path: string, paths: ReadonlyMap<string, readonly TypeName[]>, notes: ReviveNotes): Record<string, unknown> {
  for (const key of Object.keys(obj)) obj[key] = reviveValue(obj[key], childPath(path, key), paths, notes);
  return obj;
}

function reviveValue(v: unknown, path: string, paths: ReadonlyMap<string, readonly TypeName[]>, notes: ReviveNotes): unknown {
  const types = paths.get(path);
  if (types === undefined) {
    notes.uncovered.add(path);
    return v;
  }
  if (v === null) return null;
  switch (typeof v) {
    case 'boolean':
      return v;
    case 'number':
      return reviveNumber(v, types, path, notes);
    case 'string':
      return reviveString(v, types, path, notes);
    default:
      break;
  }
  if (Array.isArray(v)) {
    if (!types.includes('array')) notes.unexpected.add(path);
    const items = itemsPath(path);
    for (let i = 0; i < v.length; i++) v[i] = reviveValue(v[i], items, paths, notes);
    return v;
  }
  const o = v as Record<string, unknown>;
  if (types.includes('timestamp') && isTimestampForm(o) && !(types.includes('object') && paths.has(childPath(path, 't')))) {
    return new Timestamp({ t: o.t as number, i: o.i as number });
  }
  if (!types.includes('object')) notes.unexpected.add(path);
  return reviveMembers(o, path, paths, notes);
}

function isTimestampForm(o: Record<string, unknown>): boolean {
  const keys = Object.keys(o);
  return keys.length === 2 && Number.isInteger(o.t) && Number.isInteger(o.i);
}

function reviveNumber(n: number, types: readonly TypeName[], path: string, notes: ReviveNotes): unknown {
  const integral = Number.isInteger(n) && !Object.is(n, -0);
  if (integral && types.includes('int') && n >= -2147483648 && n <= 2147483647) return new Int32(n);
  if (integral && types.includes('long')) return Long.fromNumber(n);
  if (types.includes('double')) return new Double(n);
  if (types.includes('decimal')) return Decimal128.fromString(String(n));
  notes.unexpected.add(path);
  return n;
}

/** String forms, typed ones first; `string` (any text) is the last resort. */
const STRING_FORMS: ReadonlyArray<[TypeName, (s: string) => unknown]> = [
  ['objectId', (s) => (HEX24.test(s) ? ObjectId.createFromHexString(s) : undefined)],
  ['uuid', (s) => (UUID_FORM.test(s) ? new UUID(s) : undefined)],
  ['date', (s) => (ISO.test(s) ? new Date(s) : undefined)],
  ['minKey', (s) => (s === 'MinKey' ? new MinKey() : undefined)],
  ['maxKey', (s) => (s === 'MaxKey' ? new MaxKey() : undefined)],
  ['long', (s) => (INTEGER.test(s) ? Long.fromString(s) : undefined)],
  ['double', (s) => (s in SPECIAL_DOUBLES ? new Double(SPECIAL_DOUBLES[s] as number) : undefined)],
  ['decimal', (s) => (DECIMAL.test(s) ? Decimal128.fromString(s) : undefined)],
  [
    'regex',
    (s) => {
      const m = REGEX_FORM.exec(s);
      return m ? new BSONRegExp(m[1] as string, m[2] as string) : undefined;
    },
  ],
  ['binData', (s) => (BASE64.test(s) ? Binary.createFromBase64(s, 0) : undefined)],
];

function reviveString(s: string, types: readonly TypeName[], path: string, notes: ReviveNotes): unknown {
  for (const [type, make] of STRING_FORMS) {
    if (!types.includes(type)) continue;
    const v = make(s);
    if (v !== undefined) return v;
  }
  for (const t of types) {
    if (t.startsWith('binData:') && BASE64.test(s)) return Binary.createFromBase64(s, Number(t.slice(8)));
  }
  if (types.includes('string')) return s;
  if (types.includes('javascript') || types.includes('javascriptWithScope')) return new Code(s);
  if (types.includes('symbol')) return new BSONSymbol(s);
  notes.unexpected.add(path);
  return s;
}

/** What the revival of an hour could not do exactly, for its report. */
export interface ReviveReport {
  /** Fields whose summary lists several types (a value may come back as the other one). */
  mixedTypes: string[];
  /** Fields kept as their JSON values: not covered by the summary (capped, or no summary). */
  notRevived: string[];
  /** Why some fields were not revived, when they were not. */
  notRevivedReason?: string;
  /** Fields whose values had none of the forms the summary lists (kept as JSON). */
  unexpected: string[];
}

/** The report of an hour's revival from its parts' summaries and the notes collected. */
export function reviveReport(jsonMode: string, parts: ReadonlyArray<{ types?: PartTypes | undefined }>, notes: ReviveNotes, timestampField: string): ReviveReport {
  const known = parts.map((p) => p.types).filter(typesKnown) as KnownTypes[];
  const mixed = new Set<string>();
  for (const t of known) for (const m of t.mixed) mixed.add(m);
  const report: ReviveReport = { mixedTypes: [...mixed].sort(), notRevived: [...notes.uncovered].sort(), unexpected: [...notes.unexpected].sort() };
  if (jsonMode === 'ejson') return { mixedTypes: report.mixedTypes, notRevived: [], unexpected: [] };
  const legacy = parts.length - known.length;
  if (legacy > 0) {
    report.notRevived = ['(every field but _id and ' + pathSegment(timestampField) + ')'];
    report.notRevivedReason = `${legacy} part(s) without a type summary (${describeUnknown(parts)}): only _id and ${timestampField} were revived; other fields keep their JSON values`;
  } else if (known.some((t) => t.capped)) {
    report.notRevivedReason = 'the type summary was capped (depth or number of paths): fields beyond it keep their JSON values';
  } else if (report.notRevived.length > 0) {
    report.notRevivedReason = 'fields not in the type summary keep their JSON values';
  }
  return report;
}

function describeUnknown(parts: ReadonlyArray<{ types?: PartTypes | undefined }>): string {
  const reasons = new Set(parts.map((p) => (p.types === undefined ? 'archived before type summaries' : typesKnown(p.types) ? undefined : p.types.unknown)).filter((r): r is string => r !== undefined));
  return [...reasons].join('; ');
}
