/**
 * The webhook alerts of a MongoDB outage (src/source/mongo-outage.ts): `mongo-unavailable` once
 * an outage has lasted `notifyAfterMs` (shorter ones, such as a primary election, only show in
 * the logs, `/readyz` and the metrics), and `mongo-available` when MongoDB is back after such an
 * alert. One alert per outage; the notifier never throws.
 */
import type { MongoOutage, MongoOutageTracker } from '../source/mongo-outage.js';
import type { Notifier } from './webhook.js';

export interface MongoOutageAlerts {
  /** Stops listening and cancels a pending alert. Idempotent. */
  close(): void;
}

/** Sends the outage alerts of `tracker` through `notifier`. */
export function alertMongoOutages(
  tracker: Pick<MongoOutageTracker, 'outage' | 'subscribe'>,
  notifier: Pick<Notifier, 'notify'>,
  notifyAfterMs: number,
  now: () => number = Date.now,
): MongoOutageAlerts {
  let timer: NodeJS.Timeout | undefined;
  /** The outage an alert was sent for (its start). */
  let alerted: Date | undefined;

  const alert = (): void => {
    timer = undefined;
    const outage = tracker.outage;
    if (outage === undefined) return;
    alerted = outage.since;
    void notifier.notify({
      kind: 'mongo-unavailable',
      server: outage.server,
      since: outage.since.toISOString(),
      seconds: Math.round((now() - outage.since.getTime()) / 1000),
      error: outage.error,
    });
  };

  const unsubscribe = tracker.subscribe({
    began(outage: MongoOutage) {
      if (timer !== undefined) clearTimeout(timer);
      timer = setTimeout(alert, Math.max(0, notifyAfterMs - (now() - outage.since.getTime())));
      timer.unref();
    },
    ended(outage: MongoOutage, downMs: number) {
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
      if (alerted === undefined || alerted.getTime() !== outage.since.getTime()) return;
      alerted = undefined;
      void notifier.notify({ kind: 'mongo-available', server: outage.server, since: outage.since.toISOString(), seconds: Math.round(downMs / 1000) });
    },
  });

  return {
    close() {
      unsubscribe();
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
    },
  };
}
