/**
 * The seal's schedule: node-cron calls the run at each tick of the cron expression, one run at a
 * time. A tick while the previous run still works (a long seal: a big hour, a slow upload) is
 * skipped here, with a debug line, and the run that ends after skipping some says so in one
 * info line. node-cron's own `noOverlap` is not used: it logs "task still running, new execution
 * blocked by overlap prevention!" at warn level on every such tick (node-cron 4.6: the warning is
 * written whether or not an `execution:overlap` listener exists; 73 lines in 4 minutes with a
 * 2 s schedule), which says nothing an operator can act on.
 */
import cron from 'node-cron';
import type { ScheduledTask } from 'node-cron';
import type { Logger } from '../log.js';
import { nodeCronLogger } from '../observe/logger.js';

export interface SealScheduleOptions {
  timezone: string;
  /** The task's name in node-cron (e.g. `seal:<namespace>`). */
  name: string;
  log: Logger;
}

/** Runs `run` at each tick of `expression`, never two at once (see the header). */
export function scheduleSeal(expression: string, run: () => Promise<void>, options: SealScheduleOptions): ScheduledTask {
  const { log } = options;
  let running: { since: number; skipped: number } | undefined;
  const tick = async (): Promise<void> => {
    if (running !== undefined) {
      running.skipped++;
      log.debug('scheduled seal run skipped: the previous run is still working', { since: new Date(running.since).toISOString() });
      return;
    }
    const current = { since: Date.now(), skipped: 0 };
    running = current;
    try {
      await run();
    } finally {
      running = undefined;
      if (current.skipped > 0) {
        log.info('seal run ended; scheduled runs were skipped while it worked', { skippedRuns: current.skipped, seconds: Math.round((Date.now() - current.since) / 1000) });
      }
    }
  };
  // node-cron's other warnings (a missed run, a failed task) are our log lines, JSON under LOG_FORMAT=json.
  return cron.schedule(expression, tick, { timezone: options.timezone, name: options.name, logger: nodeCronLogger(log) });
}
