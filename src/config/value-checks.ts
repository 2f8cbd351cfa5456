/**
 * The checks of single option values the table uses: MongoDB URIs and names, bucket names,
 * URLs, key prefixes, paths, field paths, time zones, cron expressions. Each returns a problem
 * that says what was expected, or undefined.
 */
import { MongoClient } from 'mongodb';
import { ConnectionString } from 'mongodb-connection-string-url';
import { validateDetailed } from 'node-cron';

import { isValidZone } from '../hours/hour-clock.js';
import { redact } from '../redact.js';
import type { Check } from './option-def.js';

export const DB_URI_EXAMPLE = 'mongodb://localhost:27017/myapp';

/** The database name in a MongoDB URI's path, percent-decoded; undefined when there is none. */
export function databaseFromUri(uri: string): string | undefined {
  try {
    const path = new ConnectionString(uri).pathname.replace(/^\//, '');
    return path === '' ? undefined : decodeURIComponent(path);
  } catch {
    return undefined;
  }
}

export function checkDbUri(uri: string): string | undefined {
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(uri)?.[1];
  if (scheme === undefined) {
    return `expected a mongodb:// or mongodb+srv:// connection string, e.g. ${DB_URI_EXAMPLE}`;
  }
  if (scheme !== 'mongodb' && scheme !== 'mongodb+srv') {
    return `expected a mongodb:// or mongodb+srv:// connection string, got a ${scheme}:// URI`;
  }
  let parsed: ConnectionString;
  try {
    parsed = new ConnectionString(uri);
  } catch (err) {
    return `not a valid MongoDB connection string (${redact((err as Error).message)}); expected e.g. ${DB_URI_EXAMPLE}, with a user name and password percent-encoded (@ as %40, : as %3A, / as %2F, % as %25)`;
  }
  for (const host of parsed.hosts) {
    const problem = hostProblem(host);
    if (problem !== undefined) return problem;
  }
  for (const [name, value] of parsed.searchParams) {
    if (value.trim() === '') return `the URI option "${name}" has no value: expected "${name}=<value>", or no "${name}" option`;
  }
  const path = parsed.pathname.replace(/^\//, '');
  if (path === '') {
    return `the URI names no database: expected the database as the URI's path, e.g. ${DB_URI_EXAMPLE} (add "/<database>" after the host list)`;
  }
  let db: string;
  try {
    db = decodeURIComponent(path);
  } catch {
    return 'the database name in the URI path is not valid percent-encoding';
  }
  const problem = databaseNameProblem(db);
  if (problem !== undefined) return `database "${db}" in the URI path ${problem}`;
  return driverProblem(uri);
}

/** A problem with one `host[:port]` of the host list: the port must be a number from 1 to 65535. */
function hostProblem(host: string): string | undefined {
  const close = host.startsWith('[') ? host.indexOf(']') : -1;
  const colon = host.indexOf(':', close + 1);
  if (colon < 0) return undefined;
  const port = host.slice(colon + 1);
  const name = host.slice(0, colon);
  if (/^\d{1,5}$/.test(port) && Number(port) >= 1 && Number(port) <= 65535) return undefined;
  return `the port "${port}" of host "${name}" in the URI: expected a number from 1 to 65535, e.g. ${name}:27017`;
}

/**
 * What the driver's own parser (run by `new MongoClient`, which connects nothing) rejects: an
 * unknown or malformed URI option, a bad read preference, … — so that no connection string
 * passes validation and fails when the archiver connects.
 */
function driverProblem(uri: string): string | undefined {
  try {
    new MongoClient(uri);
    return undefined;
  } catch (err) {
    const message = redact((err as Error).message);
    return `the MongoDB driver cannot use this connection string: ${message}; expected the options documented at https://www.mongodb.com/docs/manual/reference/connection-string-options/`;
  }
}

export function databaseNameProblem(db: string): string | undefined {
  if (/[/\\. "$*<>:|?\0]/.test(db)) return 'is not a valid database name: expected no / \\ . space " $ * < > : | ? characters';
  if (Buffer.byteLength(db) > 63) return 'is not a valid database name: expected at most 63 bytes';
  if (['admin', 'local', 'config'].includes(db)) {
    return 'is a system database: change streams cannot watch it; expected the application database';
  }
  return undefined;
}

export const COLLECTION_EXPECTED = 'a MongoDB collection name (no "$" or NUL, not starting with "system.", at most 120 bytes)';

export function checkCollection(name: string): string | undefined {
  if (name.includes('$') || name.includes('\0') || name.startsWith('system.') || Buffer.byteLength(name) > 120) {
    return `expected ${COLLECTION_EXPECTED}`;
  }
  return undefined;
}

export const BUCKET_EXPECTED =
  'an S3 bucket name: 3–63 characters of lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit';

export function checkBucket(name: string): string | undefined {
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(name)) return `expected ${BUCKET_EXPECTED}`;
  if (name.includes('..')) return `expected ${BUCKET_EXPECTED}, without two adjacent dots`;
  if (/^\d+\.\d+\.\d+\.\d+$/.test(name)) return `expected ${BUCKET_EXPECTED}, not formatted as an IP address`;
  if (/^(xn--|sthree-|amzn-s3-demo-)/.test(name) || /(-s3alias|--ol-s3|\.mrap|--x-s3|--table-s3)$/.test(name)) {
    return `expected ${BUCKET_EXPECTED}, without a prefix or suffix reserved by AWS`;
  }
  return undefined;
}

export const CONTAINER_EXPECTED =
  'an Azure container name: 3–63 characters of lowercase letters, digits and single hyphens, starting and ending with a letter or digit';

export function checkContainer(name: string): string | undefined {
  if (!/^[a-z0-9](?:[a-z0-9]|-(?!-)){1,61}[a-z0-9]$/.test(name)) return `expected ${CONTAINER_EXPECTED}`;
  return undefined;
}

/**
 * The `key=value` settings of an Azure Storage connection string (`;`-separated; keys as
 * written, values may contain `=`), or undefined when it is not one.
 */
export function parseConnectionString(value: string): Map<string, string> | undefined {
  const settings = new Map<string, string>();
  for (const part of value.split(';')) {
    if (part.trim() === '') continue;
    const eq = part.indexOf('=');
    if (eq <= 0) return undefined;
    settings.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
  }
  return settings.size === 0 ? undefined : settings;
}

/** The secret values of a connection string: its account key, its SAS and the SAS's signature. */
export function connectionStringSecrets(value: string): string[] {
  const settings = parseConnectionString(value);
  if (settings === undefined) return [];
  const sas = settings.get('SharedAccessSignature');
  const sig = sas === undefined ? undefined : new URLSearchParams(sas.replace(/^\?/, '')).get('sig');
  return [settings.get('AccountKey'), sas, sig ?? undefined].filter((v): v is string => v !== undefined && v !== '');
}

/** The connection string with its secrets replaced by `mask`. */
export function maskConnectionString(value: string, mask: string): string {
  const settings = parseConnectionString(value);
  if (settings === undefined) return mask;
  return [...settings].map(([k, v]) => `${k}=${k === 'AccountKey' || k === 'SharedAccessSignature' ? mask : v}`).join(';');
}

export function checkConnectionString(value: string): string | undefined {
  const settings = parseConnectionString(value);
  if (settings === undefined) return 'expected an Azure Storage connection string: "Name=value" settings separated by ";"';
  if (settings.get('UseDevelopmentStorage') === 'true') return undefined;
  const hasKey = settings.has('AccountName') && settings.has('AccountKey');
  const hasSas = settings.has('SharedAccessSignature') && settings.has('BlobEndpoint');
  if (!hasKey && !hasSas) {
    return 'expected an Azure Storage connection string with AccountName and AccountKey, or BlobEndpoint and SharedAccessSignature';
  }
  return undefined;
}

export function checkHttpUrl(what: string, allowCredentials: boolean): Check<string> {
  return (value) => {
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      return `expected ${what}`;
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return `expected ${what}, got a ${url.protocol}// URL`;
    if (!allowCredentials && (url.username !== '' || url.password !== '')) {
      return `expected ${what} without user:password (credentials go in s3.accessKeyId/s3.secretAccessKey)`;
    }
    return undefined;
  };
}

export function checkPrefix(prefix: string): string | undefined {
  const expected =
    'a key prefix such as "api-logs" or "prod/api-logs": no leading or trailing "/", no empty, "." or ".." segments, no backslash or control characters, at most 512 characters';
  if (prefix.startsWith('/') || prefix.endsWith('/') || prefix.length > 512) return `expected ${expected}`;
  // eslint-disable-next-line no-control-regex
  if (/[\\\u0000-\u001f\u007f]/.test(prefix)) return `expected ${expected}`;
  if (prefix.split('/').some((segment) => segment === '' || segment === '.' || segment === '..')) {
    return `expected ${expected}`;
  }
  return undefined;
}

export function checkPath(value: string): string | undefined {
  return value.includes('\0') ? 'expected a file system path without NUL characters' : undefined;
}

export function checkFieldPath(value: string): string | undefined {
  if (value.includes('$') || value.includes('\0') || value.split('.').some((segment) => segment === '')) {
    return 'expected a document field path such as "createdAt" or "meta.time": no "$", no empty segments';
  }
  return undefined;
}

/** "UTC" (the default) without asking Intl: its first time-zone formatter costs ~40 ms of start-up. */
export function checkTimezone(zone: string): string | undefined {
  return isValidZone(zone) ? undefined : 'expected an IANA time zone name such as "UTC" or "Europe/Berlin"';
}

export function checkCron(expression: string): string | undefined {
  const result = validateDetailed(expression);
  if (result.valid) return undefined;
  const why = result.errors.map((e) => (e.field === 'expression' ? e.message : `${e.field}: ${e.message}`)).join('; ');
  return `invalid cron expression (${why}); expected 5 fields "minute hour day-of-month month day-of-week" or 6 with seconds first, e.g. "5 * * * *"`;
}

export function checkNoWhitespace(what: string): Check<string> {
  return (value) => (/\s/.test(value) ? `expected ${what} without whitespace` : undefined);
}
