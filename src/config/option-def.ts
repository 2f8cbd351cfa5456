/**
 * What an option is (its type, default, env variable, docs, sensitivity, value schema) and the
 * builders the option table (options.ts) declares its options with.
 */
import { booleanValue, integerIn, listOfValues, nonEmptyString, oneOfValues } from './value-schema.js';
import type { Check, ValueSchema } from './value-schema.js';

export type { Check } from './value-schema.js';

/** How an option's value is hidden when config is printed or a value is reported. */
export type Sensitivity =
  /** Never shown: replaced by `****`. */
  | 'secret'
  /** A URI whose password is replaced by `****`. */
  | 'uri-password'
  /** A URL whose path and query (which carry the token) are replaced by `****`. */
  | 'url-token'
  /** An identifier shown masked but for its last 4 characters, like `aws configure list`. */
  | 'identifier'
  /** An Azure Storage connection string whose AccountKey and SharedAccessSignature are replaced by `****`. */
  | 'connection-string';

/** How a string from the environment (or .env) is turned into the option's type. */
export type EnvKind = 'string' | 'integer' | 'boolean' | 'enum' | 'list';

/** 'always': the option always has a value in Config (default or required); else optional. */
export type Presence = 'always' | 'optional';

export interface OptionDef<T = unknown, P extends Presence = Presence> {
  readonly kind: 'option';
  /** Environment variable name. */
  readonly env: string;
  /** Short type for docs, e.g. `integer 1–9`, `"s3" | "file"`. */
  readonly type: string;
  /** What a valid value is, used in error messages: `expected ${expected}`. */
  readonly expected: string;
  /** Documentation (Markdown). */
  readonly doc: string;
  readonly default: T | undefined;
  readonly presence: P;
  /** Required with no default (an error when missing). */
  readonly required: boolean;
  /** Validates a typed value; every issue message reads as `expected …` or a specific problem. */
  readonly schema: ValueSchema<T>;
  readonly envKind: EnvKind;
  /** Allowed values of an enum or list option. */
  readonly choices?: readonly string[];
  readonly sensitive?: Sensitivity;
  /** An example value for docs. */
  readonly example?: string;
  /** Docs: when an option without default is required (checked by a cross rule). */
  readonly requiredWhen?: string;
}

/** A nested group of options (a plain object in the config). */
export interface OptionTree {
  readonly [key: string]: OptionDef<unknown, Presence> | OptionTree;
}

export function isOptionDef(node: OptionDef<unknown, Presence> | OptionTree): node is OptionDef<unknown, Presence> {
  return (node as { kind?: unknown }).kind === 'option';
}

interface Common {
  env: string;
  doc: string;
  sensitive?: Sensitivity;
  example?: string;
  /** Docs: when an option without default is required (checked by a cross rule). */
  requiredWhen?: string;
  /** Docs: short type, when the derived one is too long. */
  type?: string;
}

export function def<T, P extends Presence>(
  spec: Common & {
    type: string;
    expected: string;
    schema: ValueSchema<T>;
    envKind: EnvKind;
    default?: T;
    required?: boolean;
    choices?: readonly string[];
  },
): OptionDef<T, P> {
  const required = spec.required === true;
  const presence = (spec.default !== undefined || required ? 'always' : 'optional') as P;
  return {
    kind: 'option',
    env: spec.env,
    type: spec.type,
    expected: spec.expected,
    doc: spec.doc,
    default: spec.default,
    presence,
    required,
    schema: spec.schema,
    envKind: spec.envKind,
    ...(spec.choices === undefined ? {} : { choices: spec.choices }),
    ...(spec.sensitive === undefined ? {} : { sensitive: spec.sensitive }),
    ...(spec.example === undefined ? {} : { example: spec.example }),
    ...(spec.requiredWhen === undefined ? {} : { requiredWhen: spec.requiredWhen }),
  };
}

interface TextSpec extends Common {
  expected: string;
  checks?: readonly Check<string>[];
}

export function text(spec: TextSpec & { default: string }): OptionDef<string, 'always'>;
export function text(spec: TextSpec & { required: true }): OptionDef<string, 'always'>;
export function text(spec: TextSpec): OptionDef<string, 'optional'>;
export function text(spec: TextSpec & { default?: string; required?: boolean }): OptionDef<string, Presence> {
  const expected = spec.expected;
  return def({ ...spec, type: spec.type ?? 'string', schema: nonEmptyString(expected, spec.checks ?? []), envKind: 'string' });
}

interface IntSpec extends Common {
  min: number;
  max?: number;
  unit?: string;
}

export function integer(spec: IntSpec & { default: number }): OptionDef<number, 'always'>;
export function integer(spec: IntSpec): OptionDef<number, 'optional'>;
export function integer(spec: IntSpec & { default?: number }): OptionDef<number, Presence> {
  const unit = spec.unit === undefined ? '' : ` (${spec.unit})`;
  const expected =
    spec.max === undefined
      ? `an integer >= ${spec.min}${unit}`
      : `an integer from ${spec.min} to ${spec.max}${unit}`;
  const error = `expected ${expected}`;
  const schema = integerIn(spec.min, spec.max, error);
  const type = spec.max === undefined ? `integer ≥ ${spec.min}` : `integer ${spec.min}–${spec.max}`;
  return def({ ...spec, type: spec.type ?? (spec.unit === undefined ? type : `${type} (${spec.unit})`), expected, schema, envKind: 'integer' });
}

export function boolean(spec: Common & { default: boolean }): OptionDef<boolean, 'always'> {
  const expected = 'true or false (env: true/false, 1/0, yes/no)';
  return def({ ...spec, type: 'boolean', expected, schema: booleanValue(`expected ${expected}`), envKind: 'boolean' });
}

export function quoteList(values: readonly string[]): string {
  const quoted = values.map((v) => `"${v}"`);
  return quoted.length <= 2 ? quoted.join(' or ') : `${quoted.slice(0, -1).join(', ')} or ${quoted.at(-1) ?? ''}`;
}

export function oneOf<const V extends readonly [string, ...string[]]>(
  values: V,
  spec: Common & { default: V[number] },
): OptionDef<V[number], 'always'>;
export function oneOf<const V extends readonly [string, ...string[]]>(values: V, spec: Common): OptionDef<V[number], 'optional'>;
export function oneOf<const V extends readonly [string, ...string[]]>(
  values: V,
  spec: Common & { default?: V[number] },
): OptionDef<V[number], Presence> {
  const expected = `one of ${quoteList(values)}`;
  const schema: ValueSchema<V[number]> = oneOfValues(values, `expected ${expected}`);
  const type = spec.type ?? values.map((v) => `\`${v}\``).join(' | ');
  return def({ ...spec, type, expected, schema, envKind: 'enum', choices: values });
}

export function listOf<const V extends readonly [string, ...string[]]>(
  values: V,
  spec: Common & { default: readonly V[number][] },
): OptionDef<readonly V[number][], 'always'> {
  const expected = `a non-empty list of ${quoteList(values)}`;
  const error = `expected ${expected}`;
  const schema: ValueSchema<readonly V[number][]> = listOfValues(values, error);
  return def({
    ...spec,
    type: `list of ${values.map((v) => `\`${v}\``).join(', ')}`,
    expected,
    schema,
    envKind: 'list',
    choices: values,
  });
}
