/**
 * The archive keys tests expect, written out by hand for UTC hours and the default key template
 * (`{prefix}/{date}/{hour}-{nextHour}{fold}{part}.ndjson.gz`), so that they check
 * src/hours/keys.ts rather than repeat it.
 */

export const HOUR = 3_600_000;

export interface HourKeyOptions {
  /** Key prefix (`outputDirectory`); default `api-logs`. */
  prefix?: string;
  /** Part suffix: `.part2`, `.rev1`, …; default none (part 1, revision 0). */
  part?: string;
  /** `.ndjson.gz` (default) or `.manifest.json`. */
  ext?: string;
}

/** The key of the UTC hour starting at `start`, e.g. `api-logs/2024-01-15/10-11.ndjson.gz`. */
export function hourKey(start: number, options: HourKeyOptions = {}): string {
  const iso = new Date(start).toISOString();
  const next = String(Number(iso.slice(11, 13)) + 1).padStart(2, '0');
  return `${options.prefix ?? 'api-logs'}/${iso.slice(0, 10)}/${iso.slice(11, 13)}-${next}${options.part ?? ''}${options.ext ?? '.ndjson.gz'}`;
}
