/**
 * The options `createDestination` takes (`s3` or `azure`, the `s3.*` or `azure.*` group of the
 * option table, and `retryAttempts`), checked by the option table's own rules: each value by its option's schema,
 * unknown keys refused, and the rules across S3 options (credentials in pairs, the KMS key only
 * with SSE-KMS, Object Lock mode and days together). So a library user who builds a destination
 * directly gets exactly the checks, and the messages, of a configuration file: every problem
 * names the option and what was expected.
 */
import { optionList, optionsByPath } from './option-list.js';
import { applyS3PresetToValues } from './s3-presets.js';
import { checkOptionValue, crossRuleProblems, isPlainObject, show, unknownOption } from './resolve.js';

const RETRY_ATTEMPTS = 'retryAttempts';

/**
 * Every problem with `s3` and `retryAttempts` as a destination receives them: unset (undefined
 * or null) options take their defaults, but for `s3.bucket` and `retryAttempts`, which are
 * required. Empty when they are valid.
 */
export function s3OptionProblems(s3: unknown, retryAttempts: unknown): string[] {
  return groupOptionProblems('s3', 'at least s3.bucket', s3, retryAttempts);
}

/**
 * Every problem with `azure` and `retryAttempts` as the Azure destination receives them: the
 * same rules as a configuration file with `uploadProvider: azure` (the container and one way to
 * reach the account are required). Empty when they are valid.
 */
export function azureOptionProblems(azure: unknown, retryAttempts: unknown): string[] {
  return groupOptionProblems('azure', 'at least azure.container and azure.connectionString or azure.account', azure, retryAttempts);
}

/** The option group `group` (the upload provider of the same name) checked as a destination receives it. */
function groupOptionProblems(group: 's3' | 'azure', needs: string, options: unknown, retryAttempts: unknown): string[] {
  if (!isPlainObject(options)) return [`${group}: expected an object with the ${group}.* options (${needs}), got ${show(options)}`];
  const problems: string[] = [];
  const given = new Map<string, unknown>([[RETRY_ATTEMPTS, retryAttempts]]);
  for (const [key, value] of Object.entries(options)) given.set(`${group}.${key}`, value);
  const known = new Set<string>();
  const values = new Map<string, unknown>([['uploadProvider', group]]);
  const invalid = new Set<string>();
  for (const entry of optionList) {
    if (!entry.path.startsWith(`${group}.`) && entry.path !== RETRY_ATTEMPTS) continue;
    known.add(entry.path);
    const value = given.get(entry.path);
    if (value === undefined || value === null) {
      if (entry.path === RETRY_ATTEMPTS) {
        problems.push(`${RETRY_ATTEMPTS}: required; expected ${entry.option.expected}`);
        invalid.add(entry.path);
      }
      continue;
    }
    const checked = checkOptionValue(entry, value, entry.path, show(value));
    if (checked.ok) {
      values.set(entry.path, checked.value);
    } else {
      invalid.add(entry.path);
      problems.push(...checked.problems);
    }
  }
  for (const path of given.keys()) {
    if (!known.has(path)) problems.push(unknownOption(path, ''));
  }
  const set = new Set(values.keys());
  applyS3PresetToValues(values, (path) => set.has(path));
  problems.push(...crossRuleProblems(values, invalid, { database: undefined, setHints: false }));
  return problems;
}

/** The problems of `retryAttempts` as a destination receives it (the file destination's is optional). */
export function retryAttemptsProblems(retryAttempts: unknown): string[] {
  const entry = optionsByPath.get(RETRY_ATTEMPTS);
  if (entry === undefined || retryAttempts === undefined || retryAttempts === null) return [];
  const checked = checkOptionValue(entry, retryAttempts, entry.path, show(retryAttempts));
  return checked.ok ? [] : [...checked.problems];
}
