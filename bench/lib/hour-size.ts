/**
 * The `--hour-size` flag of bench/run.ts: the largest hour (documents) a size-aware benchmark
 * builds, e.g. 100k, 1m, 10m (case-insensitive; any whole number with an optional k or m suffix,
 * such as 3m for an intermediate run).
 */

/** The documents of an `--hour-size` value; throws naming what is expected otherwise. */
export function parseHourSize(value: string): number {
  const m = /^(\d+)([km]?)$/i.exec(value.trim());
  const n = m ? Number(m[1]) * (m[2]?.toLowerCase() === 'm' ? 1_000_000 : m[2]?.toLowerCase() === 'k' ? 1_000 : 1) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < 1_000) throw new Error(`--hour-size expects a size such as 100k, 1m or 10m (at least 1k), got ${JSON.stringify(value)}`);
  return n;
}
