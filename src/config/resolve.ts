/**
 * Turns layers of raw settings (defaults, .env, environment, config file, overrides) into one
 * validated, deeply frozen `Config`, collecting every problem into a single ConfigError.
 * Synchronous and side-effect free but for registering secrets with the redactor; file reading
 * lives in load.ts.
 */
import { ConnectionString } from 'mongodb-connection-string-url';

import { ConfigError } from '../errors.js';
import { redact, registerSecrets, uriPassword } from '../redact.js';
import { crossRules } from './cross-rules.js';
import type { OptionDef, Presence, Sensitivity } from './option-def.js';
import { groupPaths, optionList, optionsByPath, pathByEnv, type OptionEntry } from './option-list.js';
import type { ConfigOf, InputOf, OptionPath } from './option-types.js';
import type { OptionTable } from './options.js';
import { applyS3PresetToValues } from './s3-presets.js';
import { connectionStringSecrets, databaseFromUri } from './value-checks.js';

// ---------------------------------------------------------------------------------------------
// Types
// ---------------------------------------------------------------------------------------------

type Base = ConfigOf<OptionTable>;

/** `config.s3`: the bucket is optional here because it is only required for uploadProvider s3. */
export type S3Config = Base['s3'];
/** `config.azure`: the container is optional here because it is only required for uploadProvider azure. */
export type AzureConfig = Base['azure'];
export type LoggingConfig = Base['logging'];
export type CollectionsConfig = Base['collections'];
export type LogLevel = LoggingConfig['level'];
export type CaptureOperation = Base['captureOperations'][number];
export type CaptureMode = Base['captureMode'];

type Common = Omit<Base, 'uploadProvider' | 's3' | 'azure'> & {
  /** The database named in the path of `dbUri` (derived, not settable). */
  readonly database: string;
};

/** The validated configuration: deeply frozen, every option with a default present. */
export type Config = Common &
  (
    | { readonly uploadProvider: 's3'; readonly s3: S3Config & { readonly bucket: string }; readonly azure: AzureConfig }
    | { readonly uploadProvider: 'azure'; readonly s3: S3Config; readonly azure: AzureConfig & { readonly container: string } }
    | { readonly uploadProvider: 'file'; readonly s3: S3Config; readonly azure: AzureConfig }
  );

/**
 * A partial config as the library or CLI flags pass it: every option optional, nested like
 * Config; `undefined` and `null` mean "not set" (so `{ bucket: process.env.S3_BUCKET }` works).
 */
export type PartialConfigInput = InputOf<OptionTable>;

/** An environment: variable name → value; unset and empty values are ignored. */
export type Env = Readonly<Record<string, string | undefined>>;

/** Where a value came from; decides how problems are labelled. */
export type Source =
  | { readonly kind: 'default' }
  | { readonly kind: 'dotenv'; readonly file: string }
  | { readonly kind: 'env' }
  | { readonly kind: 'file'; readonly file: string }
  | { readonly kind: 'overrides' };

/** One source of settings, from lowest to highest precedence when passed to `resolveConfig`. */
export type Layer =
  | { readonly source: Extract<Source, { kind: 'dotenv' | 'env' }>; readonly env: Env }
  | { readonly source: Extract<Source, { kind: 'file' | 'overrides' }>; readonly values: unknown };

interface Raw {
  readonly value: unknown;
  readonly source: Source;
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

/** A short, secret-free rendering of a value for "got …" (redacted: a URI's password is masked). */
export function show(value: unknown): string {
  if (typeof value === 'string') {
    const quoted = JSON.stringify(redact(value));
    return quoted.length > 70 ? `${quoted.slice(0, 60)}…" (${value.length} characters)` : quoted;
  }
  if (value === null || typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') {
    return String(value);
  }
  if (Array.isArray(value)) {
    let json: string;
    try {
      json = redact(JSON.stringify(value));
    } catch {
      json = `an array of ${value.length}`;
    }
    return json.length > 70 ? `${json.slice(0, 60)}…]` : json;
  }
  if (typeof value === 'object') return 'an object';
  return `a ${typeof value}`;
}

function levenshtein(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = row[0] ?? 0;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = row[j] ?? 0;
      const left = row[j - 1] ?? 0;
      row[j] = Math.min(above + 1, left + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagonal = above;
    }
  }
  return row[b.length] ?? 0;
}

const knownPaths: readonly string[] = [...optionList.map((e) => e.path), ...groupPaths];

/** The option a mistyped key probably meant. */
function suggest(path: string): string | undefined {
  const lower = path.toLowerCase();
  const byEnv = pathByEnv.get(path.toUpperCase()) ?? pathByEnv.get(path.split('.').at(-1)?.toUpperCase() ?? '');
  if (byEnv !== undefined) return byEnv;
  const sameCase = knownPaths.find((p) => p.toLowerCase() === lower);
  if (sameCase !== undefined) return sameCase;
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of knownPaths) {
    const distance = levenshtein(lower, candidate.toLowerCase());
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  if (best !== undefined && bestDistance <= Math.max(2, Math.floor(path.length / 4))) return best;
  const last = lower.split('.').at(-1) ?? '';
  return knownPaths.find((p) => (p.split('.').at(-1) ?? '').toLowerCase() === last);
}

export function unknownOption(path: string, where: string): string {
  if (path === 'database') {
    return `unknown option "database"${where}: the database is derived from dbUri; expected it as the URI path, e.g. mongodb://localhost:27017/myapp`;
  }
  const hint = suggest(path);
  return `unknown option "${path}"${where}${hint === undefined ? '' : ` (did you mean "${hint}"?)`}`;
}

function describeSource(source: Source): string {
  switch (source.kind) {
    case 'file':
      return ` in config file ${source.file}`;
    case 'dotenv':
      return ` in ${source.file}`;
    default:
      return '';
  }
}

/** How a problem with `entry` is labelled: the option path, and the env var when it came from one. */
function label(entry: OptionEntry, source: Source | undefined): string {
  switch (source?.kind) {
    case 'env':
      return `${entry.option.env} (${entry.path})`;
    case 'dotenv':
      return `${entry.option.env} (${entry.path}, in ${source.file})`;
    case 'file':
      return `${entry.path} (in config file ${source.file})`;
    default:
      return entry.path;
  }
}

// ---------------------------------------------------------------------------------------------
// Environment strings → typed values
// ---------------------------------------------------------------------------------------------

const TRUE = new Set(['true', '1', 'yes']);
const FALSE = new Set(['false', '0', 'no']);

type Coerced = { readonly ok: true; readonly value: unknown } | { readonly ok: false };

function matchChoice(option: OptionDef<unknown, Presence>, value: string): string {
  return option.choices?.find((c) => c.toLowerCase() === value.toLowerCase()) ?? value;
}

function coerce(option: OptionDef<unknown, Presence>, raw: string): Coerced {
  const value = option.sensitive === 'secret' ? raw : raw.trim();
  switch (option.envKind) {
    case 'string':
      return { ok: true, value };
    case 'integer':
      // Anything numeric goes to the schema (so "1.5" is reported as "expected an integer …").
      return /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(value) ? { ok: true, value: Number(value) } : { ok: false };
    case 'boolean': {
      const lower = value.toLowerCase();
      if (TRUE.has(lower)) return { ok: true, value: true };
      if (FALSE.has(lower)) return { ok: true, value: false };
      return { ok: false };
    }
    case 'enum':
      return { ok: true, value: matchChoice(option, value) };
    case 'list':
      return {
        ok: true,
        value: value
          .split(',')
          .map((item) => item.trim())
          .filter((item) => item !== '')
          .map((item) => matchChoice(option, item)),
      };
  }
}

/**
 * Parses a string the way the option's environment variable is parsed (numbers, booleans
 * true/false/1/0/yes/no, comma lists, case-insensitive enum values), for CLI flags. Throws
 * ConfigError for an unknown path or an unparseable value; range checks happen in validation.
 */
export function coerceOptionString(path: OptionPath, raw: string): unknown {
  const entry = optionsByPath.get(path);
  if (entry === undefined) throw new ConfigError([unknownOption(path, '')]);
  const result = coerce(entry.option, raw);
  if (!result.ok) {
    const got = entry.option.sensitive === undefined ? `, got ${show(raw)}` : '';
    throw new ConfigError([`${entry.path}: expected ${entry.option.expected}${got}`]);
  }
  return result.value;
}

// ---------------------------------------------------------------------------------------------
// Resolution
// ---------------------------------------------------------------------------------------------

function collectObject(
  values: unknown,
  prefix: readonly string[],
  source: Source,
  raw: Map<string, Raw>,
  issues: string[],
): void {
  const where = describeSource(source);
  if (!isPlainObject(values)) {
    const path = prefix.join('.');
    issues.push(
      path === ''
        ? `configuration${where}: expected an object of options, got ${show(values)}`
        : `${path}${where}: expected an object with the ${path}.* options, got ${show(values)}`,
    );
    return;
  }
  for (const [key, value] of Object.entries(values)) {
    const keys = [...prefix, key];
    const path = keys.join('.');
    const entry = optionsByPath.get(path);
    if (entry !== undefined) {
      if (value !== undefined && value !== null) raw.set(path, { value, source });
    } else if (groupPaths.includes(path)) {
      if (value !== undefined && value !== null) collectObject(value, keys, source, raw, issues);
    } else {
      issues.push(unknownOption(path, where));
    }
  }
}

function collectEnv(env: Env, source: Source, raw: Map<string, Raw>): void {
  for (const entry of optionList) {
    const value = env[entry.option.env];
    if (typeof value === 'string' && value.trim() !== '') raw.set(entry.path, { value, source });
  }
}

const INVALID = Symbol('invalid');

/**
 * Checks the typed value of one option against its schema: the parsed value, or every problem,
 * each labelled `label` and ending in `, got <shown>` (never for a sensitive option).
 */
export function checkOptionValue(
  entry: OptionEntry,
  value: unknown,
  label: string,
  shown: string | undefined,
): { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly problems: readonly string[] } {
  const result = entry.option.schema.safeParse(value);
  if (result.success) return { ok: true, value: result.data };
  const messages = [...new Set(result.issues.map((issue) => issue.message))];
  return {
    ok: false,
    problems: messages.map((message) => {
      const got = entry.option.sensitive !== undefined || shown === undefined || / got /.test(message) ? '' : `, got ${shown}`;
      return `${label}: ${message}${got}`;
    }),
  };
}

/**
 * The problems the rules across options find among valid `values` (by path). A rule that reads
 * an `invalid` option is skipped: it would only repeat that problem in other words. With
 * `setHints`, each problem ends in "(set <path> or <ENV>)".
 */
export function crossRuleProblems(
  values: ReadonlyMap<string, unknown>,
  invalid: ReadonlySet<string>,
  options: { database: string | undefined; setHints: boolean },
): string[] {
  const issues: string[] = [];
  for (const rule of crossRules) {
    let readInvalid = false;
    const found: string[] = [];
    rule.check(
      (path) => {
        if (invalid.has(path)) {
          readInvalid = true;
          return INVALID;
        }
        return values.get(path);
      },
      (path, message) => {
        const entry = optionsByPath.get(path);
        const env = entry === undefined ? '' : ` or ${entry.option.env}`;
        found.push(options.setHints ? `${path}: ${message} (set ${path}${env})` : `${path}: ${message}`);
      },
      { database: options.database },
    );
    if (!readInvalid) issues.push(...found);
  }
  return issues;
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}

function setPath(target: Record<string, unknown>, keys: readonly string[], value: unknown): void {
  let node = target;
  for (const key of keys.slice(0, -1)) {
    let next = node[key] as Record<string, unknown> | undefined;
    if (next === undefined) {
      next = {};
      node[key] = next;
    }
    node = next;
  }
  const last = keys.at(-1);
  if (last !== undefined && value !== undefined) node[last] = value;
}

/**
 * Validates the layers (lowest precedence first) and builds the Config. Throws ConfigError
 * listing every problem. On success, registers the config's secrets for redaction.
 */
export function resolveConfig(layers: readonly Layer[]): Config {
  const issues: string[] = [];
  const raw = new Map<string, Raw>();
  for (const layer of layers) {
    if ('env' in layer) collectEnv(layer.env, layer.source, raw);
    else collectObject(layer.values, [], layer.source, raw, issues);
  }
  // Before anything is validated: a problem message (or whatever prints one) can then never
  // show a secret, whichever option it is about and however the value is malformed.
  for (const [path, { value }] of raw) {
    const sensitivity = optionsByPath.get(path)?.option.sensitive;
    if (sensitivity !== undefined && typeof value === 'string') registerSecrets(...secretParts(sensitivity, value));
  }

  const values = new Map<string, unknown>();
  const invalid = new Set<string>();
  for (const entry of optionList) {
    const { option } = entry;
    const given = raw.get(entry.path);
    let value: unknown;
    let shown: string | undefined;
    if (given === undefined) {
      if (option.default === undefined) {
        if (option.required) {
          issues.push(`${entry.path}: required; expected ${option.expected} (set ${entry.path} or ${option.env})`);
          invalid.add(entry.path);
        }
        continue;
      }
      value = option.default;
    } else if (given.source.kind === 'env' || given.source.kind === 'dotenv') {
      const text = given.value as string;
      shown = show(text);
      const coerced = coerce(option, text);
      if (!coerced.ok) {
        const got = option.sensitive === undefined ? `, got ${shown}` : '';
        issues.push(`${label(entry, given.source)}: expected ${option.expected}${got}`);
        invalid.add(entry.path);
        continue;
      }
      value = coerced.value;
    } else {
      value = given.value;
      shown = show(value);
    }
    const checked = checkOptionValue(entry, value, label(entry, given?.source), shown);
    if (checked.ok) {
      values.set(entry.path, checked.value);
    } else {
      invalid.add(entry.path);
      issues.push(...checked.problems);
    }
  }

  // The S3 provider's preset fills in the S3 options the user did not set (src/config/s3-presets.ts).
  applyS3PresetToValues(values, (path) => raw.has(path));

  const dbUri = values.get('dbUri');
  const database = typeof dbUri === 'string' ? databaseFromUri(dbUri) : undefined;
  issues.push(...crossRuleProblems(values, invalid, { database, setHints: true }));

  if (issues.length > 0) throw new ConfigError(issues);

  const config: Record<string, unknown> = {};
  for (const entry of optionList) setPath(config, entry.keys, values.get(entry.path));
  config.database = database;
  registerConfigSecrets(config as unknown as Config);
  return deepFreeze(config) as unknown as Config;
}

/**
 * What of a sensitive option's value is secret, in every form it may be printed in:
 * `secret` the value; `uri-password` the URI's password as written, decoded and as the URI
 * parser encodes it; `url-token` the URL's path and query (and their values) and any userinfo,
 * or the whole value when it is no URL; `identifier` nothing (it is shown masked, not hidden).
 */
function secretParts(sensitivity: Sensitivity, value: string): string[] {
  switch (sensitivity) {
    case 'secret':
      return [value, value.trim()];
    case 'uri-password': {
      const password = uriPassword(value);
      if (password === undefined) return [];
      let parsed = '';
      try {
        parsed = new ConnectionString(value).password;
      } catch {
        // Not parseable: the password as written is all there is.
      }
      return [password, safeDecode(password), parsed, safeDecode(parsed)];
    }
    case 'url-token': {
      let url: URL;
      try {
        url = new URL(value);
      } catch {
        return [value];
      }
      const tail = `${url.pathname}${url.search}`;
      return [
        ...(tail === '/' ? [] : [tail, safeDecode(tail)]),
        url.username,
        safeDecode(url.username),
        url.password,
        safeDecode(url.password),
        ...url.searchParams.values(),
      ];
    }
    case 'identifier':
      return [];
    case 'connection-string':
      return [value, ...connectionStringSecrets(value)];
  }
}

/**
 * Registers the secrets of a config with the redactor (loadConfig and parseConfig do this, and
 * register the raw values before validating them): every option the table marks sensitive.
 */
export function registerConfigSecrets(config: Pick<Config, 'dbUri' | 's3' | 'webhookUrl'> & { azure?: AzureConfig }): void {
  for (const { keys, option } of optionList) {
    if (option.sensitive === undefined) continue;
    let value: unknown = config;
    for (const key of keys) value = value !== null && typeof value === 'object' ? (value as Record<string, unknown>)[key] : undefined;
    if (typeof value === 'string') registerSecrets(...secretParts(option.sensitive, value));
  }
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/** The defaults of every option that has one, nested like Config. */
export function defaultValues(): PartialConfigInput {
  const out: Record<string, unknown> = {};
  for (const entry of optionList) setPath(out, entry.keys, entry.option.default);
  return deepFreeze(out) as PartialConfigInput;
}

/**
 * Synchronous config for the library API: `input` (highest) > `env` (default process.env) >
 * defaults. No files are read. Throws ConfigError listing every problem.
 */
export function parseConfig(input: PartialConfigInput = {}, env: Env = process.env): Config {
  return resolveConfig([
    { source: { kind: 'env' }, env },
    { source: { kind: 'overrides' }, values: input },
  ]);
}
