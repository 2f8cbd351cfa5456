/**
 * Secret redaction for everything that leaves the process as text: log lines, error messages,
 * printed configuration. Three layers, applied by `redact`:
 *
 * 1. every value handed to `registerSecrets` (the configuration registers the S3 secret key, the
 *    session token, the Azure account key and connection string (and its AccountKey and SAS),
 *    the database and endpoint passwords and the webhook URL's path and query, before it
 *    validates them), also in its percent-encoded form;
 * 2. the password of any `scheme://user:password@host` URI (mongodb, mongodb+srv, http(s), …), and
 *    a bare `https://token@host` userinfo;
 * 3. well-known credential shapes: `Bearer …`/`Basic …`, AWS `Signature=…`, Azure
 *    `SharedKey account:signature` and a connection string's `AccountKey=…` and
 *    `SharedAccessSignature=…`, and query parameters such as `X-Amz-Signature`,
 *    `X-Amz-Security-Token`, `sig`, `access_token`, `token`, `password`.
 *
 * `redact` is the one path every printed value takes (log lines, command output, error messages).
 * `redactUri` is `redact` for a value known to be one URI (a configured DB_URI, an endpoint): it
 * also masks a password free text cannot delimit (one holding spaces, `@`, `/`, …). `redactDeep`
 * applies `redact` to every string inside a value (log metadata, errors with their stack and
 * cause chain) and masks values under secret-looking keys (`password`, `secretAccessKey`,
 * `authorization`, …). This module has no dependencies on the rest of the project so that
 * anything may import it.
 */

/** What replaces a secret. */
export const MASK = '****';

/** Registered values shorter than this are ignored: masking "ab" everywhere would garble logs. */
export const MIN_SECRET_LENGTH = 4;

const secrets = new Set<string>();
let secretsPattern: RegExp | undefined;

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function rebuildPattern(): void {
  // Longest first, so that a secret containing another one is masked whole.
  const sorted = [...secrets].sort((a, b) => b.length - a.length);
  secretsPattern = sorted.length === 0 ? undefined : new RegExp(sorted.map(escapeRegExp).join('|'), 'g');
}

/**
 * Registers values that `redact` replaces wherever they appear (process-wide). `undefined`,
 * `null`, empty and very short values (< MIN_SECRET_LENGTH characters) are ignored; the
 * percent-encoded form of a value is registered too.
 */
export function registerSecrets(...values: readonly (string | null | undefined)[]): void {
  let changed = false;
  for (const value of values) {
    if (typeof value !== 'string' || value.length < MIN_SECRET_LENGTH) continue;
    for (const form of new Set([value, encodeURIComponent(value)])) {
      if (!secrets.has(form)) {
        secrets.add(form);
        changed = true;
      }
    }
  }
  if (changed) rebuildPattern();
}

/** Forgets every registered secret (for tests, and for a library host that reloads config). */
export function clearRegisteredSecrets(): void {
  secrets.clear();
  secretsPattern = undefined;
}

/** Number of registered secret forms (a value and its percent-encoded form count apart). */
export function registeredSecretCount(): number {
  return secrets.size;
}

// scheme://user:password@ — the password may contain ':' and '@' (the last '@' before the
// host wins), never whitespace, '/', '?' or '#'.
const URI_PASSWORD = /\b([a-z][a-z0-9+.-]*:\/\/)([^\s:@/?#]*):([^\s/?#]*)@/gi;
// https://token@host — a lone userinfo in an http(s) URL is almost always a token.
const HTTP_USER_TOKEN = /\b(https?:\/\/)([^\s:@/?#]+)@/gi;
const SENSITIVE_QUERY =
  /([?&](?:x-amz-signature|x-amz-security-token|x-amz-credential|access_token|refresh_token|id_token|token|sig|signature|password|passwd|secret|client_secret|api_key|apikey)=)[^&\s#"'<>]+/gi;
const AUTH_SCHEME = /\b(Bearer|Basic)(\s+)([A-Za-z0-9._~+/-]+=*)/g;
const AWS_SIGNATURE = /\b(Signature=)[0-9a-f]{16,}/g;
// Azure: `Authorization: SharedKey account:base64sig`, and a connection string's secrets (up to the next `;`).
const AZURE_SHARED_KEY = /\b(SharedKey(?:Lite)?\s+[A-Za-z0-9-]+:)[A-Za-z0-9+/]+=*/g;
const AZURE_CONNECTION_SECRET = /\b(AccountKey=|SharedAccessSignature=)[^;\s"'<>]+/gi;

function maskUriPasswords(text: string): string {
  return text
    .replace(URI_PASSWORD, (_m, scheme: string, user: string, password: string) =>
      password === '' ? `${scheme}${user}:@` : `${scheme}${user}:${MASK}@`,
    )
    .replace(HTTP_USER_TOKEN, (_m, scheme: string) => `${scheme}${MASK}@`);
}

const URI_SCHEME = /^\s*[a-z][a-z0-9+.-]*:\/\//i;

/**
 * The parts of a value that is one URI: what precedes the userinfo (`scheme://`), the user, the
 * password (undefined without a `:`), and the rest from the `@` on; undefined without userinfo.
 * The userinfo ends at the last `@` before the query, so a password may hold anything a mistyped
 * or unencoded one holds: spaces, `:`, `@`, `/`, `%`.
 */
function splitUserinfo(uri: string): { head: string; user: string; password: string | undefined; rest: string } | undefined {
  const scheme = URI_SCHEME.exec(uri);
  if (scheme === null) return undefined;
  const start = scheme[0].length;
  const query = uri.indexOf('?', start);
  const at = uri.lastIndexOf('@', (query < 0 ? uri.length : query) - 1);
  if (at < start) return undefined;
  const userinfo = uri.slice(start, at);
  const colon = userinfo.indexOf(':');
  return {
    head: uri.slice(0, start),
    user: colon < 0 ? userinfo : userinfo.slice(0, colon),
    password: colon < 0 ? undefined : userinfo.slice(colon + 1),
    rest: uri.slice(at),
  };
}

/** The password of a value that is one URI, as written (maybe percent-encoded); undefined when none. */
export function uriPassword(uri: string): string | undefined {
  const password = splitUserinfo(uri)?.password;
  return password === undefined || password === '' ? undefined : password;
}

/**
 * `redact` for a value known to be one URI (mongodb://, mongodb+srv://, http(s):// or any other
 * `scheme://user:password@` form): its password is replaced by `****` whatever it holds, then
 * everything `redact` masks is masked. A URI without credentials is returned unchanged.
 */
export function redactUri(uri: string): string {
  const parts = splitUserinfo(uri);
  const masked =
    parts === undefined || parts.password === undefined || parts.password === ''
      ? uri
      : `${parts.head}${parts.user}:${MASK}${parts.rest}`;
  return redact(masked);
}

/**
 * A credential rather than an English word ("Basic setup", "Bearer tokens."): at least 8
 * characters with a digit, one of + / = _ ~, two dots (a JWT) or mixed case.
 */
function looksLikeToken(token: string): boolean {
  return (
    token.length >= 8 &&
    (/[0-9+/=_~]/.test(token) || /\..*\./.test(token) || /[a-z].*[A-Z]|[A-Z].*[a-z]/.test(token.slice(1)))
  );
}

/** `text` with every registered secret, URI password and credential-shaped token masked. */
export function redact(text: string): string {
  let out = secretsPattern === undefined ? text : text.replace(secretsPattern, MASK);
  out = maskUriPasswords(out);
  out = out.replace(SENSITIVE_QUERY, `$1${MASK}`);
  out = out.replace(AUTH_SCHEME, (m, scheme: string, space: string, token: string) => {
    const bare = token.replace(/\.+$/, '');
    return looksLikeToken(bare) ? `${scheme}${space}${MASK}${token.slice(bare.length)}` : m;
  });
  out = out.replace(AWS_SIGNATURE, `$1${MASK}`);
  out = out.replace(AZURE_SHARED_KEY, `$1${MASK}`);
  out = out.replace(AZURE_CONNECTION_SECRET, `$1${MASK}`);
  return out;
}

/** Keys whose values are masked by `redactDeep` whatever they hold. */
export const SECRET_KEY =
  /passw(or)?d|^pwd$|^token$|secret|authorization|cookie|api[-_]?key|private[-_]?key|(session|security|access|refresh|auth|bearer|id)[-_]?token|credentials?$/i;

const MAX_DEPTH = 12;
const MAX_ARRAY = 1000;

/** A redacted, JSON-friendly copy of an Error: name, message, code, stack, cause chain. */
export interface RedactedError {
  name: string;
  message: string;
  stack?: string;
  cause?: unknown;
  errors?: unknown[];
  [key: string]: unknown;
}

/**
 * A deep copy of `value` safe to log or serialize: strings are `redact`ed, values under
 * secret-looking keys become `****` (when set), Errors become plain `RedactedError` objects
 * (message, stack, code and other own properties, `cause` and AggregateError `errors`, all
 * redacted), cycles become "[Circular]", Maps/Sets become objects/arrays, bigints strings, and
 * objects with `toJSON` (Dates, ObjectIds, …) are serialized through it.
 */
export function redactDeep(value: unknown): unknown {
  return walk(value, 0, new WeakSet());
}

function walk(value: unknown, depth: number, seen: WeakSet<object>): unknown {
  if (typeof value === 'string') return redact(value);
  if (typeof value === 'bigint') return value.toString();
  if (typeof value === 'symbol') return value.toString();
  if (typeof value === 'function') return `[Function ${value.name || 'anonymous'}]`;
  if (value === null || typeof value !== 'object') return value;
  if (seen.has(value)) return '[Circular]';
  if (depth >= MAX_DEPTH) return '[Truncated]';
  seen.add(value);
  try {
    if (value instanceof Error) return walkError(value, depth, seen);
    if (value instanceof Date) return Number.isNaN(value.getTime()) ? 'Invalid Date' : value.toISOString();
    if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer) {
      return `[${value.constructor.name} ${value.byteLength} bytes]`;
    }
    if (Array.isArray(value)) {
      const out = value.slice(0, MAX_ARRAY).map((item) => walk(item, depth + 1, seen));
      if (value.length > MAX_ARRAY) out.push(`[${value.length - MAX_ARRAY} more]`);
      return out;
    }
    if (value instanceof Map) {
      const out: Record<string, unknown> = {};
      for (const [k, v] of value) out[String(k)] = walkEntry(String(k), v, depth, seen);
      return out;
    }
    if (value instanceof Set) return [...value].map((item) => walk(item, depth + 1, seen));
    const toJSON = (value as { toJSON?: unknown }).toJSON;
    if (typeof toJSON === 'function') return walk(toJSON.call(value), depth + 1, seen);
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = walkEntry(k, v, depth, seen);
    return out;
  } finally {
    seen.delete(value);
  }
}

function walkEntry(key: string, value: unknown, depth: number, seen: WeakSet<object>): unknown {
  if (SECRET_KEY.test(key) && value !== undefined && value !== null && value !== '') {
    // Keep the shape of a nested credentials object visible, mask its leaves.
    return typeof value === 'object' && !Array.isArray(value) && !(value instanceof Error)
      ? maskLeaves(value as object, depth + 1, seen)
      : MASK;
  }
  return walk(value, depth + 1, seen);
}

function maskLeaves(value: object, depth: number, seen: WeakSet<object>): unknown {
  if (seen.has(value)) return '[Circular]';
  if (depth >= MAX_DEPTH) return '[Truncated]';
  seen.add(value);
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    out[k] = v !== null && typeof v === 'object' ? maskLeaves(v as object, depth + 1, seen) : v === undefined ? v : MASK;
  }
  seen.delete(value);
  return out;
}

function walkError(err: Error, depth: number, seen: WeakSet<object>): RedactedError {
  const out: RedactedError = { name: redact(String(err.name)), message: redact(String(err.message)) };
  for (const [k, v] of Object.entries(err)) {
    if (k === 'name' || k === 'message' || k === 'stack' || k === 'cause' || k === 'errors') continue;
    out[k] = walkEntry(k, v, depth, seen);
  }
  if (typeof err.stack === 'string') out.stack = redact(err.stack);
  if (err.cause !== undefined) out.cause = walk(err.cause, depth + 1, seen);
  const errors = (err as { errors?: unknown }).errors;
  if (Array.isArray(errors)) out.errors = errors.map((e) => walk(e, depth + 1, seen));
  return out;
}
