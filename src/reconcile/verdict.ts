/**
 * The verdict on an hour: the one rule by which both the seal run's reconcile of recent hours
 * (recent-hours.ts, from counts alone) and the `reconcile` command (reconcile.ts, from counts and
 * what it found in the archive) decide an hour's status, and which statuses pass.
 *
 *   not-archived       the hour has no manifest (it was never sealed);
 *   missing            an object the manifest lists is absent;
 *   mismatch           the archive disagrees with itself (an unreadable manifest, an object of
 *                      another size or digest, undecodable, a repeated `_id`, an object at the
 *                      hour's keys the manifest does not list), or MongoDB holds documents the
 *                      archive lacks: more of them than the archive, or, when `_id`s were
 *                      compared, any `_id` the archive does not hold;
 *   ok                 MongoDB holds as many documents of the hour as the archive (also an hour
 *                      that was purged and then restored into the source);
 *   purged             `purge` deleted the hour's documents from MongoDB after proving them
 *                      archived (src/ops/purge/): MongoDB holds fewer than the archive (none, or
 *                      documents written to the hour later and archived as a late part), and,
 *                      when `_id`s were compared, none the archive lacks. Also an hour whose
 *                      purge was interrupted (a rerun of `purge` finishes it);
 *   expired-at-source  MongoDB holds fewer, and a TTL index on the timestamp field has had time
 *                      to delete every document of the hour (the hour ended at least the TTL
 *                      before `now`);
 *   deleted-at-source  MongoDB holds fewer for another reason (the application deleted them, a
 *                      TTL index is part-way through the hour, the collection was dropped): the
 *                      archive keeps what it archived.
 *
 * The archive holding more than MongoDB is never a loss, so `purged` and the two `…-at-source`
 * statuses pass.
 * From counts alone, though, an hour where documents were both deleted and added can look like
 * deleted-at-source: comparing `_id`s (`reconcile --deep`, `--repair`) tells it apart.
 */
import type { HourSlot } from '../hours/hour-clock.js';

export type HourStatus = 'ok' | 'purged' | 'expired-at-source' | 'deleted-at-source' | 'mismatch' | 'missing' | 'not-archived';

export interface HourFindings {
  /** The hour judged (its end decides whether a TTL index has expired all of it). */
  slot: Pick<HourSlot, 'end'>;
  /** Documents of the hour in MongoDB. */
  mongo: number;
  /** Documents of the hour in the archive (its manifest's count); null when it has no manifest. */
  archived: number | null;
  /** expireAfterSeconds of a TTL index on the timestamp field; undefined without one. */
  ttlSeconds: number | undefined;
  /** The instant of the judgement (epoch ms). */
  now: number;
  /** An object the manifest lists is absent. */
  absent?: boolean;
  /** The archive disagrees with itself (see `mismatch` above). */
  inconsistent?: boolean;
  /** MongoDB documents of the hour whose `_id` the archive lacks, when `_id`s were compared. */
  lacking?: number;
  /** `purge` deleted (or began to delete) the hour's documents from MongoDB (its ledger record says so). */
  purged?: boolean;
}

/** Whether a TTL index has had time to delete every document of the hour by `now`. */
export function expiredAtSource(slot: Pick<HourSlot, 'end'>, ttlSeconds: number | undefined, now: number): boolean {
  return ttlSeconds !== undefined && slot.end <= now - ttlSeconds * 1000;
}

export function hourVerdict({ slot, mongo, archived, ttlSeconds, now, absent, inconsistent, lacking, purged }: HourFindings): HourStatus {
  if (archived === null) return inconsistent ? 'mismatch' : 'not-archived';
  if (absent) return 'missing';
  if (inconsistent || (lacking ?? 0) > 0 || mongo > archived) return 'mismatch';
  if (mongo === archived) return 'ok';
  if (purged) return 'purged';
  return expiredAtSource(slot, ttlSeconds, now) ? 'expired-at-source' : 'deleted-at-source';
}

/** Whether an hour of this status is archived completely as far as reconcile can tell (exit code 0). */
export function passes(status: HourStatus): boolean {
  return status === 'ok' || status === 'purged' || status === 'expired-at-source' || status === 'deleted-at-source';
}

/**
 * Whether `reconcile --repair` looks at an hour of this status: every status but ok and
 * expired-at-source. A deleted-at-source or purged hour is looked at too (its `_id`s are
 * compared with MongoDB's, and what the archive lacks is added); when it lacks nothing it is
 * left as it is.
 */
export function repairable(status: HourStatus): boolean {
  return status !== 'ok' && status !== 'expired-at-source';
}
