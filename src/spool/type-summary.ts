/**
 * The BSON type summary of an archived part: which field paths held which BSON types, gathered
 * while documents are converted to JSON lines (json-lines.ts loses types in `analytics` mode:
 * ObjectId as hex, dates as ISO strings, int64 as number or string…), so that `restore` can
 * revive them. Recorded per gzip member in the spool's facts sidecar (facts-file.ts), merged per
 * part by the seal and listed in the hour's manifest.
 *
 * Paths: keys joined by `.`; the elements of an array share the path `<array>[]` (`tags[]`,
 * `items[].sku`); a key holding `.`, `[`, `]` or `\` is written with a `\` before each of them.
 * Type names are MongoDB's `$type` aliases (`double`, `string`, `object`, `array`, `binData`,
 * `undefined`, `objectId`, `bool`, `date`, `null`, `regex`, `dbPointer`, `javascript`, `symbol`,
 * `javascriptWithScope`, `int`, `timestamp`, `long`, `decimal`, `minKey`, `maxKey`), with binary
 * split by subtype: `binData` is subtype 0, `uuid` a 16-byte subtype 4 (written as a UUID string),
 * `binData:N` any other subtype N (written as base64).
 *
 * Bounded: at most MAX_TYPE_DEPTH levels of nesting and MAX_TYPE_PATHS paths per part; what lies
 * beyond is not summarised and the summary says so (`capped`), so a restore never claims a type
 * it did not see.
 *
 * Two collectors fill the same tree: `BsonLineWriter` (bson-lines.ts) marks types from the BSON
 * bytes as it writes a line (the capture path: no decode), `recordDocument` from a document the
 * driver decoded with `promoteValues: false` (json-lines.ts decodeOptionsFor), where int32,
 * double and int64 keep their wrappers. A test checks that both give the same summary.
 */

export const MAX_TYPE_DEPTH = 8;
export const MAX_TYPE_PATHS = 256;

/** Types with a bit in a node's mask, in bit order. */
export const TYPE_NAMES = [
  'double',
  'string',
  'object',
  'array',
  'binData',
  'undefined',
  'objectId',
  'bool',
  'date',
  'null',
  'regex',
  'dbPointer',
  'javascript',
  'symbol',
  'javascriptWithScope',
  'int',
  'timestamp',
  'long',
  'decimal',
  'minKey',
  'maxKey',
  'uuid',
] as const;
export type TypeName = (typeof TYPE_NAMES)[number] | `binData:${number}`;

export const TYPE_BIT: Readonly<Record<(typeof TYPE_NAMES)[number], number>> = Object.fromEntries(TYPE_NAMES.map((n, i) => [n, 1 << i])) as Record<(typeof TYPE_NAMES)[number], number>;

/** The bit of a BSON element type byte (binary: 0, its subtype decides), 0 when unknown. */
export const BSON_TYPE_BITS: Uint32Array = (() => {
  const t = new Uint32Array(256);
  const codes: Array<[number, (typeof TYPE_NAMES)[number]]> = [
    [0x01, 'double'],
    [0x02, 'string'],
    [0x03, 'object'],
    [0x04, 'array'],
    [0x06, 'undefined'],
    [0x07, 'objectId'],
    [0x08, 'bool'],
    [0x09, 'date'],
    [0x0a, 'null'],
    [0x0b, 'regex'],
    [0x0c, 'dbPointer'],
    [0x0d, 'javascript'],
    [0x0e, 'symbol'],
    [0x0f, 'javascriptWithScope'],
    [0x10, 'int'],
    [0x11, 'timestamp'],
    [0x12, 'long'],
    [0x13, 'decimal'],
    [0xff, 'minKey'],
    [0x7f, 'maxKey'],
  ];
  for (const [code, name] of codes) t[code] = TYPE_BIT[name];
  return t;
})();

/** One path of the tree. */
export class TypeNode {
  mask = 0;
  /** Other binary subtypes seen (`binData:N`). */
  extra: Set<number> | undefined;
  /** Types marked by the document being written (see BsonLineWriter), not committed yet. */
  pending = 0;
  /** The write that last marked `pending`. */
  stamp = 0;
  readonly kids: TypeNode[] = [];
  items: TypeNode | undefined;
  /** UTF-8 bytes of the key (fast comparison with a key in BSON bytes). */
  readonly keyBytes: Uint8Array;
  /**
   * The key as a JSON line writes it, `"key":`, when it needs nothing but a copy: printable ASCII
   * without `"` or `\`, not starting with a digit or `$`, not `__proto__` (bson-lines.ts copies
   * it instead of checking and escaping the key's bytes again); else undefined.
   */
  readonly jsonKey: Uint8Array | undefined;
  constructor(
    readonly key: string,
    readonly depth: number,
  ) {
    this.keyBytes = Buffer.from(key, 'utf8');
    this.jsonKey = plainKey(key) ? Buffer.from(`"${key}":`, 'latin1') : undefined;
  }
}

function plainKey(key: string): boolean {
  if (key.length === 0 || key === '__proto__' || /^[0-9$]/.test(key)) return false;
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c === 0x22 || c === 0x5c) return false;
  }
  return true;
}

/** The summary of a part as the manifest lists it. */
export interface KnownTypes {
  /** path → types seen there, sorted. */
  paths: Record<string, TypeName[]>;
  /** Paths that held more than one type (besides `null`), sorted. */
  mixed: string[];
  /** Present when something was not summarised: deeper paths, or paths past the cap. */
  capped?: { maxDepth: number; maxPaths: number; depth: boolean; paths: boolean };
}
/** No summary: the part's types are not known (a legacy part, or lost facts); never guessed. */
export interface UnknownTypes {
  unknown: string;
}
export type PartTypes = KnownTypes | UnknownTypes;

export function typesKnown(t: PartTypes | undefined): t is KnownTypes {
  return t !== undefined && 'paths' in t;
}

export function unknownTypes(reason: string): UnknownTypes {
  return { unknown: reason };
}

/** A key as a path segment (see the header). */
export function pathSegment(key: string): string {
  return /[.[\]\\]/.test(key) ? key.replace(/[.[\]\\]/g, (c) => `\\${c}`) : key;
}

/** The path of a child key under `parent` ('' at the top). */
export function childPath(parent: string, key: string): string {
  return parent === '' ? pathSegment(key) : `${parent}.${pathSegment(key)}`;
}

/** The path of the elements of the array at `parent`. */
export function itemsPath(parent: string): string {
  return `${parent}[]`;
}

type BsonLike = { _bsontype?: string } & Record<string, unknown>;

export class TypeTree {
  readonly root = new TypeNode('', 0);
  private count = 0;
  depthCapped = false;
  pathsCapped = false;

  /** The child `key` of `parent`, created when new; undefined past the caps. */
  kid(parent: TypeNode, key: string): TypeNode | undefined {
    for (const k of parent.kids) if (k.key === key) return k;
    return this.add(parent, key);
  }

  /**
   * The child of `parent` whose key is the UTF-8 bytes b[from, to); `hint`: the index where it
   * was last time (documents of a collection mostly share their field order).
   */
  kidBytes(parent: TypeNode, hint: number, b: Uint8Array, from: number, to: number): TypeNode | undefined {
    const kids = parent.kids;
    const n = to - from;
    const guess = kids[hint];
    if (guess !== undefined && sameBytes(guess.keyBytes, b, from, n)) return guess;
    for (const k of kids) if (sameBytes(k.keyBytes, b, from, n)) return k;
    return this.add(parent, Buffer.from(b.buffer, b.byteOffset + from, n).toString('utf8'));
  }

  /** The node of an array's elements. */
  itemsOf(parent: TypeNode): TypeNode | undefined {
    return parent.items ?? (parent.items = this.create(parent, '[]'));
  }

  private add(parent: TypeNode, key: string): TypeNode | undefined {
    const node = this.create(parent, key);
    if (node) parent.kids.push(node);
    return node;
  }

  private create(parent: TypeNode, key: string): TypeNode | undefined {
    if (parent.depth >= MAX_TYPE_DEPTH) {
      this.depthCapped = true;
      return undefined;
    }
    if (this.count >= MAX_TYPE_PATHS) {
      this.pathsCapped = true;
      return undefined;
    }
    this.count++;
    return new TypeNode(key, parent.depth + 1);
  }

  /** Records the types of a document decoded with `promoteValues: false` (see the header). */
  recordDocument(doc: object): void {
    this.recordMembers(this.root, doc as Record<string, unknown>);
  }

  private recordMembers(node: TypeNode, obj: Record<string, unknown>): void {
    for (const key of Object.keys(obj)) {
      const kid = this.kid(node, key);
      if (kid) this.recordValue(kid, obj[key]);
    }
  }

  private recordValue(node: TypeNode, v: unknown): void {
    const { bit, subtype } = typeOfValue(v);
    node.mask |= bit;
    if (subtype !== undefined) (node.extra ??= new Set()).add(subtype);
    if (bit === TYPE_BIT.array) {
      const items = this.itemsOf(node);
      if (items) for (const x of v as unknown[]) this.recordValue(items, x);
    } else if (bit === TYPE_BIT.object) {
      const o = v as BsonLike;
      if (o._bsontype === 'DBRef') {
        const r = o as unknown as { collection: string; oid: unknown; db?: string; fields?: Record<string, unknown> };
        const members: Record<string, unknown> = { $ref: r.collection, $id: r.oid };
        if (r.db) members.$db = r.db;
        this.recordMembers(node, { ...members, ...(r.fields ?? {}) });
      } else {
        this.recordMembers(node, o);
      }
    }
  }

  /** Adds another tree's (or a summary's) types. */
  merge(other: KnownTypes): void {
    if (other.capped?.depth) this.depthCapped = true;
    if (other.capped?.paths) this.pathsCapped = true;
    for (const [path, types] of Object.entries(other.paths)) {
      const node = this.nodeAt(path);
      if (!node) continue;
      for (const t of types) markName(node, t);
    }
  }

  /** The node of a path (created), following the path syntax of the header. */
  private nodeAt(path: string): TypeNode | undefined {
    let node: TypeNode | undefined = this.root;
    for (const seg of splitPath(path)) {
      if (!node) return undefined;
      node = seg === '[]' ? this.itemsOf(node) : this.kid(node, seg);
    }
    return node;
  }

  /** The summary (paths with at least one committed type). */
  summary(): KnownTypes {
    const paths: Record<string, TypeName[]> = {};
    const mixed: string[] = [];
    const walk = (node: TypeNode, path: string): void => {
      const names = namesOf(node);
      if (names.length > 0 && path !== '') {
        paths[path] = names;
        if (names.filter((n) => n !== 'null').length > 1) mixed.push(path);
      }
      for (const k of node.kids) walk(k, childPath(path, k.key));
      if (node.items) walk(node.items, itemsPath(path));
    };
    walk(this.root, '');
    const sorted: Record<string, TypeName[]> = {};
    for (const p of Object.keys(paths).sort()) sorted[p] = paths[p] as TypeName[];
    const out: KnownTypes = { paths: sorted, mixed: mixed.sort() };
    if (this.depthCapped || this.pathsCapped) out.capped = { maxDepth: MAX_TYPE_DEPTH, maxPaths: MAX_TYPE_PATHS, depth: this.depthCapped, paths: this.pathsCapped };
    return out;
  }
}

function sameBytes(key: Uint8Array, b: Uint8Array, from: number, n: number): boolean {
  if (key.length !== n) return false;
  for (let i = 0; i < n; i++) if (key[i] !== b[from + i]) return false;
  return true;
}

/** Splits a path into its keys (and `[]` for array elements), undoing the escapes. */
export function splitPath(path: string): string[] {
  const out: string[] = [];
  let cur = '';
  let started = false;
  for (let i = 0; i < path.length; i++) {
    const c = path[i] as string;
    if (c === '\\' && i + 1 < path.length) {
      cur += path[++i];
      started = true;
    } else if (c === '.') {
      out.push(cur);
      cur = '';
      started = false;
    } else if (c === '[' && path[i + 1] === ']') {
      if (started || cur !== '') out.push(cur);
      out.push('[]');
      cur = '';
      started = false;
      i++;
      if (path[i + 1] === '.') i++;
    } else {
      cur += c;
      started = true;
    }
  }
  if (started || cur !== '') out.push(cur);
  return out;
}

function namesOf(node: TypeNode): TypeName[] {
  const names: TypeName[] = [];
  for (let i = 0; i < TYPE_NAMES.length; i++) if (node.mask & (1 << i)) names.push(TYPE_NAMES[i] as TypeName);
  for (const s of node.extra ?? []) names.push(`binData:${s}`);
  return names.sort();
}

function markName(node: TypeNode, name: string): void {
  const bit = (TYPE_BIT as Record<string, number>)[name];
  if (bit !== undefined) node.mask |= bit;
  else if (name.startsWith('binData:')) (node.extra ??= new Set()).add(Number(name.slice(8)));
}

/** The bit of a binary value by subtype and length (`subtype` set for `binData:N`). */
export function binaryBit(subtype: number, length: number): { bit: number; subtype?: number } {
  if (subtype === 0) return { bit: TYPE_BIT.binData };
  if (subtype === 4 && length === 16) return { bit: TYPE_BIT.uuid };
  return { bit: 0, subtype };
}

/** The type of a decoded value (`promoteValues: false`; a plain number as the driver would write it). */
export function typeOfValue(v: unknown): { bit: number; subtype?: number } {
  if (v === null) return { bit: TYPE_BIT.null };
  switch (typeof v) {
    case 'undefined':
      return { bit: TYPE_BIT.undefined };
    case 'string':
      return { bit: TYPE_BIT.string };
    case 'boolean':
      return { bit: TYPE_BIT.bool };
    case 'number':
      return { bit: Number.isInteger(v) && v >= -2147483648 && v <= 2147483647 ? TYPE_BIT.int : TYPE_BIT.double };
    case 'bigint':
      return { bit: TYPE_BIT.long };
    case 'object':
      break;
    default:
      return { bit: TYPE_BIT.string };
  }
  if (Array.isArray(v)) return { bit: TYPE_BIT.array };
  if (v instanceof Date) return { bit: TYPE_BIT.date };
  if (v instanceof RegExp) return { bit: TYPE_BIT.regex };
  const o = v as BsonLike;
  switch (o._bsontype) {
    case 'ObjectId':
    case 'ObjectID':
      return { bit: TYPE_BIT.objectId };
    case 'Int32':
      return { bit: TYPE_BIT.int };
    case 'Double':
      return { bit: TYPE_BIT.double };
    case 'Long':
      return { bit: TYPE_BIT.long };
    case 'Decimal128':
      return { bit: TYPE_BIT.decimal };
    case 'Binary': {
      const b = o as unknown as { sub_type: number; position: number };
      return binaryBit(b.sub_type, b.position);
    }
    case 'Timestamp':
      return { bit: TYPE_BIT.timestamp };
    case 'BSONRegExp':
      return { bit: TYPE_BIT.regex };
    case 'Code':
      return { bit: (o as { scope?: unknown }).scope ? TYPE_BIT.javascriptWithScope : TYPE_BIT.javascript };
    case 'BSONSymbol':
    case 'Symbol':
      return { bit: TYPE_BIT.symbol };
    case 'MinKey':
      return { bit: TYPE_BIT.minKey };
    case 'MaxKey':
      return { bit: TYPE_BIT.maxKey };
    case 'DBRef':
      return { bit: TYPE_BIT.object };
    default:
      return { bit: TYPE_BIT.object };
  }
}

/** Merges the summaries of parts (or members): unknown when any of them is. */
export function mergeTypes(list: ReadonlyArray<PartTypes | undefined>, missing = 'no type summary was recorded'): PartTypes {
  const tree = new TypeTree();
  for (const t of list) {
    if (t === undefined) return unknownTypes(missing);
    if (!typesKnown(t)) return t;
    tree.merge(t);
  }
  return tree.summary();
}

/** Parses a summary as stored in a facts record or a manifest; undefined when it is not one. */
export function parsePartTypes(v: unknown): PartTypes | undefined {
  if (v === null || typeof v !== 'object') return undefined;
  const o = v as Record<string, unknown>;
  if (typeof o.unknown === 'string') return { unknown: o.unknown };
  if (o.paths === null || typeof o.paths !== 'object') return undefined;
  for (const types of Object.values(o.paths as Record<string, unknown>)) {
    if (!Array.isArray(types) || types.some((t) => typeof t !== 'string')) return undefined;
  }
  return { paths: o.paths as Record<string, TypeName[]>, mixed: Array.isArray(o.mixed) ? (o.mixed as string[]) : [], ...(o.capped ? { capped: o.capped as KnownTypes['capped'] & object } : {}) };
}
