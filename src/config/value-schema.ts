/**
 * The value checks of the option table's five kinds of option (src/config/option-def.ts): a
 * non-empty string with refinements, an integer in a range, a boolean, one of a list of strings,
 * a non-empty list of them. Each `safeParse` answers the parsed value or the problem messages.
 *
 * Why not zod (which this replaced, same messages): these five shapes are all the option table
 * needs, and zod was the largest module `run` loaded for them — about 750 KB of the bundled
 * command and ~110 CPU-ms of a restarted `run` before its change stream opened (zod's module
 * and building ~100 schemas; `node --cpu-prof` of the startup benchmark's child, load ~12).
 */

/** A problem found in a value: its message reads `expected …` or names the specific problem. */
export interface ValueIssue {
  readonly message: string;
}

export type ParseResult<T> = { readonly success: true; readonly data: T } | { readonly success: false; readonly issues: readonly ValueIssue[] };

/** Checks a typed value of one option. */
export interface ValueSchema<T> {
  safeParse(value: unknown): ParseResult<T>;
}

/** A refinement: returns a problem message, or undefined when the value is fine. */
export type Check<T> = (value: T) => string | undefined;

function fail<T>(...messages: string[]): ParseResult<T> {
  return { success: false, issues: messages.map((message) => ({ message })) };
}

/**
 * A non-empty string: not a string → `expected …`; empty → `expected …, not an empty string`.
 * The refinements then run in order on any string (the empty one too); the first problem one
 * finds is reported (after the empty-string problem, if any).
 */
export function nonEmptyString(expected: string, checks: readonly Check<string>[]): ValueSchema<string> {
  return {
    safeParse(value) {
      if (typeof value !== 'string') return fail(`expected ${expected}`);
      const problems: string[] = value.length === 0 ? [`expected ${expected}, not an empty string`] : [];
      for (const check of checks) {
        const problem = check(value);
        if (problem !== undefined) {
          problems.push(problem);
          break;
        }
      }
      return problems.length === 0 ? { success: true, data: value } : fail(...problems);
    },
  };
}

/** A safe integer from `min` (to `max`); anything else: `error`. */
export function integerIn(min: number, max: number | undefined, error: string): ValueSchema<number> {
  return {
    safeParse(value) {
      const ok = typeof value === 'number' && Number.isSafeInteger(value) && value >= min && (max === undefined || value <= max);
      return ok ? { success: true, data: value } : fail(error);
    },
  };
}

/** true or false; anything else: `error`. */
export function booleanValue(error: string): ValueSchema<boolean> {
  return {
    safeParse(value) {
      return typeof value === 'boolean' ? { success: true, data: value } : fail(error);
    },
  };
}

/** One of `values`; anything else: `error`. */
export function oneOfValues<V extends string>(values: readonly V[], error: string): ValueSchema<V> {
  const allowed = new Set<string>(values);
  return {
    safeParse(value) {
      return typeof value === 'string' && allowed.has(value) ? { success: true, data: value as V } : fail(error);
    },
  };
}

/** A non-empty array of `values`, answered without repeats (first occurrence order); anything else: `error`. */
export function listOfValues<V extends string>(values: readonly V[], error: string): ValueSchema<readonly V[]> {
  const allowed = new Set<string>(values);
  return {
    safeParse(value) {
      const ok = Array.isArray(value) && value.length > 0 && value.every((v) => typeof v === 'string' && allowed.has(v));
      return ok ? { success: true, data: [...new Set(value as V[])] } : fail(error);
    },
  };
}
