/** Types derived from the option table: the validated `Config` shape, the input shape, option paths. */
import type { OptionDef, Presence } from './option-def.js';
import type { OptionTable } from './options.js';

type Simplify<T> = { [K in keyof T]: T[K] } & {};
type AnyDef = OptionDef<unknown, Presence>;
type ValueOf<N> = N extends OptionDef<infer T, Presence> ? T : never;

/** The validated config shape of an option (sub)tree: options with a default are always set. */
export type ConfigOf<N> = Simplify<
  {
    readonly [K in keyof N as N[K] extends OptionDef<unknown, 'optional'> ? never : K]: N[K] extends AnyDef
      ? ValueOf<N[K]>
      : ConfigOf<N[K]>;
  } & {
    readonly [K in keyof N as N[K] extends OptionDef<unknown, 'optional'> ? K : never]?: ValueOf<N[K]>;
  }
>;

/** What a caller may pass for an option (sub)tree: everything optional, `undefined`/`null` = not set. */
export type InputOf<N> = {
  [K in keyof N]?: (N[K] extends AnyDef ? ValueOf<N[K]> : InputOf<N[K]>) | null | undefined;
};

/** Paths of all options, e.g. "s3.bucket". */
export type OptionPath<N = OptionTable, Prefix extends string = ''> = {
  [K in keyof N & string]: N[K] extends AnyDef ? `${Prefix}${K}` : OptionPath<N[K], `${Prefix}${K}.`>;
}[keyof N & string];
