/**
 * Maps a BSON document (as deserialized by the driver) to one JSON line.
 *
 * `analytics` (default): JSON that DuckDB, Athena and jq read as is.
 *   | BSON type                  | JSON                                                   |
 *   |----------------------------|--------------------------------------------------------|
 *   | string, bool, null         | same                                                   |
 *   | int32, double              | number (NaN, Infinity, -Infinity as strings)           |
 *   | int64 (Long)               | number when |v| <= 2^53 - 1, else a decimal string      |
 *   | Decimal128                 | decimal string, e.g. "1234.50"                         |
 *   | date                       | ISO-8601 string, UTC, milliseconds: "2024-01-15T00:00:00.000Z" |
 *   | ObjectId                   | 24-character hex string                                |
 *   | binary (UUID, subtype 4)   | canonical UUID string                                  |
 *   | binary (other subtypes)    | base64 string                                          |
 *   | timestamp                  | { "t": seconds, "i": increment }                       |
 *   | regular expression         | "/pattern/options" string, options exactly as stored   |
 *   | JavaScript code            | the code as a string                                   |
 *   | DBRef                      | { "$ref", "$id", "$db"? } with $id mapped as above      |
 *   | MinKey / MaxKey            | "MinKey" / "MaxKey"                                    |
 *   | undefined (deprecated)     | null                                                   |
 * `ejson`: canonical Extended JSON v2 (lossless; restore with EJSON.parse). Requires the
 * document to be read with `promoteValues: false` so int32/double/int64 keep their types.
 *
 * Documents must be decoded with `decodeOptionsFor(mode)`: it keeps regular expressions as
 * BSONRegExp, whose options are the stored ones (`imsux`); decoded as a JavaScript RegExp they
 * would come out as `gim` (the decoder maps `s` to `g` and drops `x` and `u`), and EJSON
 * refuses to write a `g` flag.
 */
import { EJSON } from 'bson';

export type JsonMode = 'analytics' | 'ejson';

/** How the driver decodes documents for a mode (find options, change streams, BSON.deserialize). */
export type DecodeOptions = { readonly promoteValues: false; readonly bsonRegExp: true };

/**
 * The decode options every document bound for a line of `mode` is read with: regular expressions
 * as BSONRegExp (their options exactly as stored), and int32, double and int64 in their wrappers
 * (Int32, Double, Long), in both modes: ejson writes them typed, analytics writes the same
 * numbers as before (int64 beyond 2^53 as a decimal string), and the BSON type summary of the
 * spool (type-summary.ts) tells int32 from double.
 */
export function decodeOptionsFor(_mode: JsonMode): DecodeOptions {
  return { promoteValues: false, bsonRegExp: true };
}

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

type BsonLike = { _bsontype?: string } & Record<string, unknown>;

function mapNumber(n: number): number | string {
  if (Number.isFinite(n)) return n;
  return Number.isNaN(n) ? 'NaN' : n > 0 ? 'Infinity' : '-Infinity';
}

function mapBson(v: BsonLike): unknown {
  switch (v._bsontype) {
    case 'ObjectId':
    case 'ObjectID':
      return (v as unknown as { toHexString(): string }).toHexString();
    case 'Long': {
      const big = (v as unknown as { toBigInt(): bigint }).toBigInt();
      return big <= MAX_SAFE && big >= -MAX_SAFE ? Number(big) : big.toString();
    }
    case 'Int32':
    case 'Double':
      return mapNumber((v as unknown as { valueOf(): number }).valueOf());
    case 'Decimal128':
      return (v as unknown as { toString(): string }).toString();
    case 'Binary': {
      const b = v as unknown as { sub_type: number; toString(enc: string): string; toUUID(): { toHexString(dashes: boolean): string } };
      if (b.sub_type === 4) {
        try {
          return b.toUUID().toHexString(true);
        } catch {
          return b.toString('base64');
        }
      }
      return b.toString('base64');
    }
    case 'Timestamp': {
      const t = v as unknown as { t: number; i: number };
      return { t: t.t, i: t.i };
    }
    case 'BSONRegExp': {
      const r = v as unknown as { pattern: string; options: string };
      return `/${r.pattern}/${r.options}`;
    }
    case 'Code':
      return String((v as unknown as { code: unknown }).code);
    case 'DBRef': {
      const r = v as unknown as { collection: string; oid: unknown; db?: string };
      const out: Record<string, unknown> = { $ref: r.collection, $id: toAnalytics(r.oid) };
      if (r.db) out.$db = r.db;
      return out;
    }
    case 'MinKey':
      return 'MinKey';
    case 'MaxKey':
      return 'MaxKey';
    case 'BSONSymbol':
    case 'Symbol':
      return String((v as unknown as { value: unknown }).value);
    default:
      return undefined;
  }
}

/** Converts one value to its analytics JSON form (a tree of plain JSON values). */
export function toAnalytics(value: unknown): unknown {
  if (value === null || value === undefined) return null;
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value;
    case 'number':
      return mapNumber(value);
    case 'bigint':
      return value <= MAX_SAFE && value >= -MAX_SAFE ? Number(value) : value.toString();
    case 'object':
      break;
    default:
      return String(value);
  }
  if (Array.isArray(value)) return value.map(toAnalytics);
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value.toISOString();
  if (value instanceof RegExp) return `/${value.source}/${value.flags}`;
  const obj = value as BsonLike;
  if (typeof obj._bsontype === 'string') {
    const mapped = mapBson(obj);
    if (mapped !== undefined) return mapped;
  }
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(obj)) out[key] = toAnalytics(obj[key]);
  return out;
}

/**
 * True when JSON.stringify alone already gives the analytics form: only strings, booleans,
 * null, finite numbers, valid Dates, ObjectIds (whose toJSON is the hex string), Int32s and
 * finite Doubles (whose toJSON is the number), in plain objects and arrays. Most API-log documents are like this; skipping the copy through
 * toAnalytics saves an allocation per value on the capture path.
 */
export function isPlainJson(v: unknown): boolean {
  if (v === null) return true;
  switch (typeof v) {
    case 'string':
    case 'boolean':
      return true;
    case 'number':
      return Number.isFinite(v);
    case 'object':
      break;
    default:
      return false;
  }
  if (Array.isArray(v)) {
    for (const x of v) if (!isPlainJson(x)) return false;
    return true;
  }
  if (v instanceof Date) return !Number.isNaN(v.getTime());
  const t = (v as BsonLike)._bsontype;
  if (t !== undefined) return t === 'ObjectId' || t === 'Int32' || (t === 'Double' && Number.isFinite((v as unknown as { value: number }).value));
  if (Object.getPrototypeOf(v) !== Object.prototype) return false;
  const o = v as Record<string, unknown>;
  for (const k in o) if (!isPlainJson(o[k])) return false;
  return true;
}

export type LineEncoder = (doc: object) => string;

/** Returns the encoder for a mode: document → one JSON line, without the trailing newline. */
export function lineEncoder(mode: JsonMode): LineEncoder {
  if (mode === 'ejson') return (doc) => EJSON.stringify(doc, { relaxed: false });
  return (doc) => JSON.stringify(isPlainJson(doc) ? doc : toAnalytics(doc));
}
