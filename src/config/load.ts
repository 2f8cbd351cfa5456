/**
 * loadConfig: gathers the configuration sources and resolves them into one validated Config.
 *
 * Precedence, highest first: overrides (library config object / CLI flags) > config file
 * (--config: .json, or .js/.mjs/.cjs with a default export) > environment > .env file > defaults.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { extname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

import { parse as parseDotenv } from 'dotenv';

import { ConfigError } from '../errors.js';
import { redact } from '../redact.js';
import { resolveConfig, type Config, type Env, type Layer, type PartialConfigInput } from './resolve.js';

export {
  parseConfig,
  type CaptureOperation,
  type CollectionsConfig,
  type Config,
  type Env,
  type LoggingConfig,
  type LogLevel,
  type PartialConfigInput,
  type PartialConfigInput as ConfigInput,
  type S3Config,
} from './resolve.js';

export interface LoadConfigOptions {
  /**
   * Highest precedence: the library's config object or CLI flags; `undefined`/`null` = not set.
   * A plain record is accepted too (flags built at run time): it is validated like any source.
   */
  readonly overrides?: PartialConfigInput | Readonly<Record<string, unknown>>;
  /** A config file (--config): `.json`, or `.js`/`.mjs`/`.cjs` whose default export is the object (or a function returning it). */
  readonly configFile?: string;
  /** The environment; default `process.env`. Never modified. */
  readonly env?: Env;
  /**
   * A dotenv file: default `.env` in `cwd` when it exists; a path (must exist); `false` for none.
   * Parsed with dotenv.parse: process.env is never modified.
   */
  readonly envFile?: string | false;
  /** Directory that relative `configFile`/`envFile` paths resolve against; default process.cwd(). */
  readonly cwd?: string;
}

const SCRIPT_EXTENSIONS = new Set(['.js', '.mjs', '.cjs']);

function isMissing(err: unknown): boolean {
  return (err as { code?: unknown }).code === 'ENOENT' || (err as { code?: unknown }).code === 'ENOTDIR';
}

/**
 * A JSON.parse error without the excerpt of the file V8 may quote (it may hold a secret), with
 * "at position N" turned into a line and column.
 */
function jsonProblem(message: string, text: string): string {
  const withoutExcerpt = message.replace(/,?\s*(\.\.\.)?".*"(\.\.\.)? is not valid JSON$/s, '');
  const position = /\s*in JSON at position (\d+)(\s*\(line \d+ column \d+\))?$/.exec(withoutExcerpt);
  if (position === null) return withoutExcerpt;
  const offset = Number(position[1]);
  const before = text.slice(0, offset).split('\n');
  const line = before.length;
  const column = (before.at(-1)?.length ?? 0) + 1;
  return `${withoutExcerpt.slice(0, position.index)} at line ${line}, column ${column}`;
}

/** Reads a config file: the parsed JSON or the module's default export (awaited if a function). */
export async function readConfigFile(file: string, cwd: string = process.cwd()): Promise<unknown> {
  const absolute = resolve(cwd, file);
  const ext = extname(absolute).toLowerCase();
  if (ext !== '.json' && !SCRIPT_EXTENSIONS.has(ext)) {
    throw new ConfigError([`config file ${file}: unsupported extension "${ext}"; expected .json, .js, .mjs or .cjs`]);
  }
  if (!existsSync(absolute)) throw new ConfigError([`config file ${file}: not found (looked for ${absolute})`]);

  if (ext === '.json') {
    let text: string;
    try {
      text = await readFile(absolute, 'utf8');
    } catch (err) {
      throw new ConfigError([`config file ${file}: cannot be read (${(err as Error).message})`]);
    }
    const body = text.replace(/^\uFEFF/, '');
    try {
      return JSON.parse(body) as unknown;
    } catch (err) {
      throw new ConfigError([`config file ${file}: invalid JSON (${jsonProblem((err as Error).message, body)})`]);
    }
  }

  let mod: { default?: unknown };
  try {
    mod = (await import(pathToFileURL(absolute).href)) as { default?: unknown };
  } catch (err) {
    throw new ConfigError([`config file ${file}: failed to load (${redact(String((err as Error).message ?? err))})`]);
  }
  if (mod.default === undefined) {
    throw new ConfigError([`config file ${file}: expected a default export (export default { … } or module.exports = { … })`]);
  }
  const exported = typeof mod.default === 'function' ? await (mod.default as () => unknown)() : mod.default;
  return exported;
}

async function readEnvFile(envFile: string | false | undefined, cwd: string): Promise<{ file: string; env: Env } | undefined> {
  if (envFile === false) return undefined;
  const name = envFile ?? '.env';
  const absolute = resolve(cwd, name);
  try {
    return { file: name, env: parseDotenv(await readFile(absolute, 'utf8')) };
  } catch (err) {
    if (isMissing(err) && envFile === undefined) return undefined;
    const why = isMissing(err) ? `not found (looked for ${absolute})` : `cannot be read (${(err as Error).message})`;
    throw new ConfigError([`env file ${name}: ${why}`]);
  }
}

/**
 * Loads, validates and freezes the configuration. Throws ConfigError (exit code 2) listing every
 * problem at once. Registers the config's secrets with the redactor.
 */
export async function loadConfig(options: LoadConfigOptions = {}): Promise<Config> {
  const cwd = options.cwd ?? process.cwd();
  const layers: Layer[] = [];
  const dotenv = await readEnvFile(options.envFile, cwd);
  if (dotenv !== undefined) layers.push({ source: { kind: 'dotenv', file: dotenv.file }, env: dotenv.env });
  layers.push({ source: { kind: 'env' }, env: options.env ?? process.env });
  if (options.configFile !== undefined) {
    layers.push({ source: { kind: 'file', file: options.configFile }, values: await readConfigFile(options.configFile, cwd) });
  }
  if (options.overrides !== undefined) layers.push({ source: { kind: 'overrides' }, values: options.overrides });
  return resolveConfig(layers);
}
