/**
 * Durations as people write them for retention: a whole number and a unit, `30d`, `12h`,
 * `90m`, `2w` (s, m, h, d, w), read by `PURGE_AFTER` and `purge --older-than`.
 */

const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

export const DURATION_EXPECTED = 'a duration such as "30d", "12h", "90m" or "2w" (a whole number and one of s, m, h, d, w)';

/** The duration in ms, or undefined when `text` is not one (see the header). */
export function parseDuration(text: string): number | undefined {
  const m = /^\s*(\d+)\s*([smhdw])\s*$/i.exec(text);
  if (!m) return undefined;
  const ms = Number(m[1]) * (UNIT_MS[(m[2] as string).toLowerCase()] as number);
  return Number.isSafeInteger(ms) && ms > 0 ? ms : undefined;
}

/** An option check: a problem message unless `text` is a positive duration. */
export function checkDuration(text: string): string | undefined {
  return parseDuration(text) === undefined ? `expected ${DURATION_EXPECTED}, got "${text}"` : undefined;
}
