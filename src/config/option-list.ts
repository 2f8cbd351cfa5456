/** Flat views of the option table: every option in order, by path, by environment variable. */
import { isOptionDef, type OptionDef, type OptionTree, type Presence } from './option-def.js';
import { optionTable } from './options.js';
import type { OptionPath } from './option-types.js';

export interface OptionEntry {
  /** Dotted path, e.g. "s3.bucket". */
  readonly path: OptionPath;
  readonly keys: readonly string[];
  readonly option: OptionDef<unknown, Presence>;
}

function flatten(tree: OptionTree, prefix: readonly string[]): OptionEntry[] {
  const out: OptionEntry[] = [];
  for (const [key, node] of Object.entries(tree)) {
    const keys = [...prefix, key];
    if (isOptionDef(node)) out.push({ path: keys.join('.') as OptionPath, keys, option: node });
    else out.push(...flatten(node, keys));
  }
  return out;
}

/** Every option in table order. */
export const optionList: readonly OptionEntry[] = Object.freeze(flatten(optionTable, []));

/** Option by dotted path. */
export const optionsByPath: ReadonlyMap<string, OptionEntry> = new Map(optionList.map((e) => [e.path, e]));

/** Option path by environment variable name. */
export const pathByEnv: ReadonlyMap<string, OptionPath> = new Map(optionList.map((e) => [e.option.env, e.path]));

/** Environment variable name of every option. */
export const envNames = Object.freeze(Object.fromEntries(optionList.map((e) => [e.path, e.option.env]))) as Readonly<
  Record<OptionPath, string>
>;

/** Dotted paths of the option groups ("collections", "s3", "logging"). */
export const groupPaths: readonly string[] = Object.freeze(
  [...new Set(optionList.flatMap((e) => e.keys.slice(0, -1).map((_, i) => e.keys.slice(0, i + 1).join('.'))))],
);
