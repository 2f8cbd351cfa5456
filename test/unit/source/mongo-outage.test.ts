import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MongoNetworkError, MongoServerSelectionError } from 'mongodb';
import type { Logger } from '../../../src/log.js';
import type { MongoOutage } from '../../../src/source/mongo-outage.js';
import { MongoOutageTracker } from '../../../src/source/mongo-outage.js';

function recordingLog(): Logger & { lines: Array<{ level: string; message: string; meta?: Record<string, unknown> }> } {
  const lines: Array<{ level: string; message: string; meta?: Record<string, unknown> }> = [];
  const at = (level: string) => (message: string, meta?: Record<string, unknown>) => void lines.push({ level, message, ...(meta ? { meta } : {}) });
  return { lines, error: at('error'), warn: at('warn'), info: at('info'), debug: at('debug') } as never;
}

const refused = new MongoServerSelectionError('connect ECONNREFUSED 127.0.0.1:27017', { servers: new Map() } as never);

test('an outage begins at the first failure, counts failures, keeps the last error, and ends at the first success', () => {
  let now = 1_000_000;
  const log = recordingLog();
  const tracker = new MongoOutageTracker('db1:27017', log, () => now);
  const events: string[] = [];
  tracker.subscribe({ began: (o) => events.push(`began ${o.since.getTime()}`), ended: (o, ms) => events.push(`ended ${o.failures} ${ms}`) });
  assert.equal(tracker.outage, undefined);
  assert.equal(tracker.downMs(), 0);
  tracker.available();
  assert.deepEqual(events, [], 'no outage, nothing ends');

  const first = tracker.unavailable(refused, 500);
  assert.deepEqual(first, { server: 'db1:27017', since: new Date(1_000_000), error: 'MongoServerSelectionError: connect ECONNREFUSED 127.0.0.1:27017', failures: 1 });
  now += 7000;
  const second: MongoOutage = tracker.unavailable(new MongoNetworkError('connection reset'));
  assert.equal(second.since.getTime(), 1_000_000, 'the outage keeps its start');
  assert.equal(second.failures, 2);
  assert.equal(second.error, 'MongoNetworkError: connection reset');
  assert.equal(tracker.downMs(), 7000);
  assert.equal(tracker.outages, 1);

  now += 3000;
  tracker.available();
  assert.equal(tracker.outage, undefined);
  assert.equal(tracker.downMs(), 0);
  assert.deepEqual(events, ['began 1000000', 'ended 2 10000']);
  tracker.unavailable(refused);
  assert.equal(tracker.outages, 2, 'a second outage');
  assert.deepEqual(events, ['began 1000000', 'ended 2 10000', `began ${now}`]);

  assert.deepEqual(
    log.lines.map((l) => `${l.level} ${l.message}`),
    [
      'warn MongoDB is unreachable: capture waits for it (retrying with backoff) and resumes from its checkpoint when it is back',
      'debug MongoDB is still unreachable',
      'info MongoDB is reachable again: capture resumes from its checkpoint',
      'warn MongoDB is unreachable: capture waits for it (retrying with backoff) and resumes from its checkpoint when it is back',
    ],
  );
  assert.deepEqual(log.lines[0]?.meta, { server: 'db1:27017', error: 'MongoServerSelectionError: connect ECONNREFUSED 127.0.0.1:27017', retryInMs: 500 });
  assert.deepEqual(log.lines[2]?.meta, { server: 'db1:27017', downSeconds: 10, failures: 2 });
});

test('a long outage warns again at most once a minute', () => {
  let now = 0;
  const log = recordingLog();
  const tracker = new MongoOutageTracker('db1:27017', log, () => now);
  for (; now <= 180_000; now += 10_000) tracker.unavailable(refused);
  const warnings = log.lines.filter((l) => l.level === 'warn');
  assert.deepEqual(warnings.map((w) => w.meta?.downSeconds), [undefined, 60, 120, 180]);
});

test('gaveUp: MONGO_UNAVAILABLE naming the server, how long and the cause', () => {
  let now = Date.parse('2024-01-15T10:00:00Z');
  const tracker = new MongoOutageTracker('db1:27017', recordingLog(), () => now);
  tracker.unavailable(refused);
  now += 600_000;
  const err = tracker.gaveUp(refused);
  assert.equal(err.code, 'MONGO_UNAVAILABLE');
  assert.equal(err.exitCode, 3);
  assert.equal(
    err.message,
    'MongoDB at db1:27017 has been unreachable for 600s (since 2024-01-15T10:00:00.000Z), longer than mongoRetry.giveUpAfterSeconds: ' +
      'MongoServerSelectionError: connect ECONNREFUSED 127.0.0.1:27017. Stopped; the next start resumes from the last checkpoint',
  );
  assert.equal(err.cause, refused);
});

test('a listener that throws does not break the tracker', () => {
  const log = recordingLog();
  const tracker = new MongoOutageTracker('db1:27017', log);
  tracker.subscribe({
    began: () => {
      throw new Error('boom');
    },
  });
  const heard: string[] = [];
  tracker.subscribe({ began: () => heard.push('began') });
  tracker.unavailable(refused);
  assert.deepEqual(heard, ['began']);
  assert.ok(log.lines.some((l) => l.message === 'a MongoDB outage listener failed'));
});
