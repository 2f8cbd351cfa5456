/**
 * Canonical keys of BSON values: equal values (in MongoDB's sense: 1, 1.0 and Long(1) are equal)
 * get the same string. Used for `_id` lookups, unique index keys and `distinct`. Also what counts
 * as a plain (sub)document, as opposed to a BSON value object, a date or an array.
 */
import type { Document } from 'bson';

/** A plain object (prototype Object.prototype or null): a (sub)document, not a BSON value or a date. */
export function isPlainObject(v: unknown): v is Document {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null;
}

export function keyOf(value: unknown): string {
  switch (typeof value) {
    case 'string':
      return `s${value}`;
    case 'number':
      return Number.isNaN(value) ? 'nNaN' : `n${value === 0 ? 0 : value}`;
    case 'bigint':
      return `n${value}`;
    case 'boolean':
      return value ? 'T' : 'F';
    case 'undefined':
      return 'u';
    default:
      break;
  }
  if (value === null) return 'z';
  if (value instanceof Date) return `d${value.getTime()}`;
  if (Array.isArray(value)) return `[${value.map(keyOf).join(',')}]`;
  if (value instanceof RegExp) return `r/${value.source}/${value.flags}`;
  const bsontype = (value as { _bsontype?: string })._bsontype;
  switch (bsontype) {
    case 'ObjectId':
      return `o${(value as { toHexString(): string }).toHexString()}`;
    case 'Long': {
      const v = value as { toBigInt(): bigint };
      const big = v.toBigInt();
      return `n${big >= BigInt(Number.MIN_SAFE_INTEGER) && big <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(big) : big}`;
    }
    case 'Int32':
    case 'Double':
      return `n${(value as { valueOf(): number }).valueOf()}`;
    case 'Decimal128':
      return `n${normalizeDecimal((value as { toString(): string }).toString())}`;
    case 'Timestamp':
      return `t${(value as { toString(): string }).toString()}`;
    case 'Binary': {
      const b = value as { sub_type: number; buffer: Uint8Array };
      return `b${b.sub_type}:${Buffer.from(b.buffer).toString('hex')}`;
    }
    case 'BSONRegExp': {
      const r = value as { pattern: string; options: string };
      return `r/${r.pattern}/${r.options}`;
    }
    case 'MinKey':
      return '<min>';
    case 'MaxKey':
      return '<max>';
    case 'Code':
      return `c${(value as { code: string }).code}`;
    default:
      break;
  }
  if (value instanceof Uint8Array) return `b0:${Buffer.from(value).toString('hex')}`;
  const doc = value as Document;
  const parts: string[] = [];
  for (const k of Object.keys(doc)) parts.push(`${JSON.stringify(k)}:${keyOf(doc[k])}`);
  return `{${parts.join(',')}}`;
}

function normalizeDecimal(s: string): string {
  const n = Number(s);
  return Number.isFinite(n) && String(n) === s.replace(/\.0+$/, '') ? String(n) : s;
}

/** MongoDB equality of two values. */
export function valuesEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  return keyOf(a) === keyOf(b);
}

/**
 * A value in the notation mongod uses in messages, e.g. duplicate key errors:
 * `{ _id: ObjectId('...') }`, `{ name: "x" }`.
 */
export function formatValue(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean') return String(value);
  if (value instanceof Date) return `new Date(${value.getTime()})`;
  if (Array.isArray(value)) return `[ ${value.map(formatValue).join(', ')} ]`;
  const bsontype = (value as { _bsontype?: string })._bsontype;
  if (bsontype === 'ObjectId') return `ObjectId('${(value as { toHexString(): string }).toHexString()}')`;
  if (bsontype === 'Long' || bsontype === 'Int32' || bsontype === 'Double' || bsontype === 'Decimal128') {
    return String(value);
  }
  if (bsontype === 'Timestamp') return String(value);
  if (bsontype === 'Binary') {
    const b = value as { sub_type: number; buffer: Uint8Array };
    return `BinData(${b.sub_type}, ${Buffer.from(b.buffer).toString('hex').toUpperCase()})`;
  }
  if (bsontype) return String(value);
  const doc = value as Document;
  const keys = Object.keys(doc);
  if (keys.length === 0) return '{}';
  return `{ ${keys.map((k) => `${k}: ${formatValue(doc[k])}`).join(', ')} }`;
}
