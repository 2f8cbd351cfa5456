/**
 * The verdict on an hour's counts: the one rule by which both the seal run's reconcile of recent
 * hours (recent-hours.ts) and the `reconcile` command (reconcile.ts) judge whether MongoDB and
 * the archive agree on an hour.
 *
 *   ok                 MongoDB holds as many documents of the hour as the archive;
 *   expired-at-source  MongoDB holds fewer, and a TTL index on the timestamp field has had time
 *                      to delete every document of the hour (the hour ended at least the TTL
 *                      before `now`): the archive holding more is expected;
 *   mismatch           any other difference (fewer without such a TTL, or more in MongoDB).
 */
import type { HourSlot } from '../hours/hour-clock.js';

export type CountVerdict = 'ok' | 'expired-at-source' | 'mismatch';

export interface HourCounts {
  /** The hour judged (its end decides whether a TTL index has expired all of it). */
  slot: Pick<HourSlot, 'end'>;
  /** Documents of the hour in MongoDB. */
  mongo: number;
  /** Documents of the hour in the archive. */
  archived: number;
  /** expireAfterSeconds of a TTL index on the timestamp field; undefined without one. */
  ttlSeconds: number | undefined;
  /** The instant of the judgement (epoch ms). */
  now: number;
}

/** Whether a TTL index has had time to delete every document of the hour by `now`. */
export function expiredAtSource(slot: Pick<HourSlot, 'end'>, ttlSeconds: number | undefined, now: number): boolean {
  return ttlSeconds !== undefined && slot.end <= now - ttlSeconds * 1000;
}

export function countVerdict({ slot, mongo, archived, ttlSeconds, now }: HourCounts): CountVerdict {
  if (mongo === archived) return 'ok';
  return mongo < archived && expiredAtSource(slot, ttlSeconds, now) ? 'expired-at-source' : 'mismatch';
}
