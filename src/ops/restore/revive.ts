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
    const tree = new ReviveTree(types, notes);
    return (line) => tree.members(JSON.parse(line) as Record<string, unknown>, tree.root) as Document;
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

/** Nodes made past this many (keys of documents with open-ended keys) are not kept. */
const MAX_NODES = 10_000;

/**
 * One path of a summary with what reviving its values needs, worked out once: its types as
 * flags, and the string forms to try in order (the typed ones first, then `binData:N`).
 */
class ReviveNode {
  /** Child keys seen so far: their node, or null when the summary does not cover them. */
  readonly kids = new Map<string, ReviveNode | null>();
  /** The node of the elements when this path held an array (undefined: not looked up yet). */
  items: ReviveNode | null | undefined;
  readonly forms: ReadonlyArray<(s: string) => unknown>;
  readonly array: boolean;
  readonly object: boolean;
  /** A `{t, i}` object is a timestamp (not when the path's objects have a field `t` of their own). */
  readonly timestamp: boolean;
  readonly int: boolean;
  readonly long: boolean;
  readonly double: boolean;
  readonly decimal: boolean;
  readonly string: boolean;
  readonly code: boolean;
  readonly symbol: boolean;

  constructor(
    readonly path: string,
    types: readonly TypeName[],
    paths: ReadonlyMap<string, readonly TypeName[]>,
  ) {
    const has = (t: TypeName): boolean => types.includes(t);
    this.forms = [
      ...STRING_FORMS.filter(([type]) => has(type)).map(([, make]) => make),
      ...types
        .filter((t) => t.startsWith('binData:'))
        .map((t) => {
          const subtype = Number(t.slice(8));
          return (s: string): unknown => (BASE64.test(s) ? Binary.createFromBase64(s, subtype) : undefined);
        }),
    ];
    this.array = has('array');
    this.object = has('object');
    this.timestamp = has('timestamp') && !(this.object && paths.has(childPath(path, 't')));
    this.int = has('int');
    this.long = has('long');
    this.double = has('double');
    this.decimal = has('decimal');
    this.string = has('string');
    this.code = has('javascript') || has('javascriptWithScope');
    this.symbol = has('symbol');
  }
}

/** A summary's paths as a tree of ReviveNodes, made as the documents' keys are met. */
class ReviveTree {
  private readonly paths: ReadonlyMap<string, readonly TypeName[]>;
  readonly root: ReviveNode;
  private nodes = 0;

  constructor(
    types: KnownTypes,
    private readonly notes: ReviveNotes,
  ) {
    this.paths = new Map<string, readonly TypeName[]>(Object.entries(types.paths));
    this.root = new ReviveNode('', ['object'], this.paths);
  }

  private node(path: string): ReviveNode | null {
    const types = this.paths.get(path);
    if (types === undefined) return null;
    this.nodes++;
    return new ReviveNode(path, types, this.paths);
  }

  private kid(parent: ReviveNode, key: string): ReviveNode | null {
    const known = parent.kids.get(key);
    if (known !== undefined) return known;
    const node = this.node(childPath(parent.path, key));
    if (this.nodes < MAX_NODES) parent.kids.set(key, node);
    return node;
  }

  private itemsOf(parent: ReviveNode): ReviveNode | null {
    if (parent.items === undefined) parent.items = this.node(itemsPath(parent.path));
    return parent.items;
  }

  members(obj: Record<string, unknown>, node: ReviveNode): Record<string, unknown> {
    for (const key of Object.keys(obj)) {
      const kid = this.kid(node, key);
      if (kid === null) this.notes.uncovered.add(childPath(node.path, key));
      else obj[key] = this.value(obj[key], kid);
    }
    return obj;
  }

  private value(v: unknown, node: ReviveNode): unknown {
    if (v === null) return null;
    switch (typeof v) {
      case 'boolean':
        return v;
      case 'number':
        return this.number(v, node);
      case 'string':
        return this.string(v, node);
      default:
        break;
    }
    if (Array.isArray(v)) {
      if (!node.array) this.notes.unexpected.add(node.path);
      const items = this.itemsOf(node);
      if (items === null) {
        if (v.length > 0) this.notes.uncovered.add(itemsPath(node.path));
        return v;
      }
      for (let i = 0; i < v.length; i++) v[i] = this.value(v[i], items);
      return v;
    }
    const o = v as Record<string, unknown>;
    if (node.timestamp && isTimestampForm(o)) return new Timestamp({ t: o.t as number, i: o.i as number });
    if (!node.object) this.notes.unexpected.add(node.path);
    return this.members(o, node);
  }

  private number(n: number, node: ReviveNode): unknown {
    const integral = Number.isInteger(n) && !Object.is(n, -0);
    if (integral && node.int && n >= -2147483648 && n <= 2147483647) return new Int32(n);
    if (integral && node.long) return Long.fromNumber(n);
    if (node.double) return new Double(n);
    if (node.decimal) return Decimal128.fromString(String(n));
    this.notes.unexpected.add(node.path);
    return n;
  }

  private string(s: string, node: ReviveNode): unknown {
    for (const make of node.forms) {
      const v = make(s);
      if (v !== undefined) return v;
    }
    if (node.string) return s;
    if (node.code) return new Code(s);
    if (node.symbol) return new BSONSymbol(s);
    this.notes.unexpected.add(node.path);
    return s;
  }
}

function isTimestampForm(o: Record<string, unknown>): boolean {
  const keys = Object.keys(o);
  return keys.length === 2 && Number.isInteger(o.t) && Number.isInteger(o.i);
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
