/**
 * The seal's schedule (src/ops/seal-schedule.ts) with a real node-cron task ticking every second
 * and a run that takes 1.5 s: the ticks meanwhile are skipped (never two runs at once) with a
 * debug line each and one info line when the run ends; no warn line (node-cron's noOverlap
 * wrote "task still running, new execution blocked by overlap prevention!" at each tick).
 */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import type { LogMeta, Logger } from '../../../src/log.js';
import { scheduleSeal } from '../../../src/ops/seal-schedule.js';

interface Line {
  level: string;
  message: string;
  meta?: LogMeta;
}

function recordingLogger(lines: Line[]): Logger {
  const at = (level: string) => (message: string, meta?: LogMeta): void => void lines.push({ level, message, ...(meta ? { meta } : {}) });
  const log: Logger = { error: at('error'), warn: at('warn'), info: at('info'), debug: at('debug'), child: () => log };
  return log;
}

test('a tick while the seal still runs is skipped: a debug line each, one summary, no node-cron warning', async () => {
  const lines: Line[] = [];
  let runs = 0;
  let active = 0;
  let maxActive = 0;
  let ended!: () => void;
  const firstEnded = new Promise<void>((resolve) => (ended = resolve));
  const task = scheduleSeal(
    '* * * * * *',
    async () => {
      runs++;
      active++;
      maxActive = Math.max(maxActive, active);
      await sleep(runs === 1 ? 1500 : 0);
      active--;
      if (runs === 1) ended();
    },
    { timezone: 'UTC', name: 'seal:test', log: recordingLogger(lines) },
  );
  try {
    await firstEnded;
    await sleep(50);
  } finally {
    await task.destroy();
  }
  assert.equal(maxActive, 1, 'never two runs at once');
  assert.deepEqual(lines.filter((l) => l.level === 'warn' || l.level === 'error'), []);
  const skipped = lines.filter((l) => l.level === 'debug' && l.message.startsWith('scheduled seal run skipped'));
  const summaries = lines.filter((l) => l.level === 'info');
  assert.ok(skipped.length >= 1, JSON.stringify(lines));
  assert.equal(summaries.length, 1, JSON.stringify(lines));
  assert.equal(summaries[0]?.meta?.skippedRuns, skipped.length);
});
