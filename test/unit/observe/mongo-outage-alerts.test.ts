import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MongoServerSelectionError } from 'mongodb';
import { silentLogger } from '../../../src/log.js';
import { alertMongoOutages } from '../../../src/observe/mongo-outage-alerts.js';
import type { NotifyEvent } from '../../../src/observe/webhook.js';
import { eventMessage } from '../../../src/observe/webhook.js';
import { MongoOutageTracker } from '../../../src/source/mongo-outage.js';

const refused = new MongoServerSelectionError('connect ECONNREFUSED 10.0.0.1:27017', { servers: new Map() } as never);

function setup(notifyAfterMs: number) {
  let now = Date.parse('2024-01-15T10:00:00Z');
  const clock = { get: () => now, advance: (ms: number) => (now += ms) };
  const tracker = new MongoOutageTracker('db1:27017', silentLogger, clock.get);
  const sent: NotifyEvent[] = [];
  const alerts = alertMongoOutages(tracker, { notify: (e) => (sent.push(e), Promise.resolve({ sent: true, attempts: 1 })) }, notifyAfterMs, clock.get);
  return { clock, tracker, sent, alerts };
}

test('an outage shorter than the threshold sends nothing', (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const { clock, tracker, sent, alerts } = setup(60_000);
  tracker.unavailable(refused);
  clock.advance(30_000);
  t.mock.timers.tick(30_000);
  tracker.available();
  t.mock.timers.tick(60_000);
  assert.deepEqual(sent, []);
  alerts.close();
});

test('past the threshold: mongo-unavailable once, then mongo-available when MongoDB is back', (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const { clock, tracker, sent, alerts } = setup(60_000);
  tracker.unavailable(refused);
  clock.advance(59_999);
  t.mock.timers.tick(59_999);
  assert.equal(sent.length, 0);
  clock.advance(1);
  t.mock.timers.tick(1);
  tracker.unavailable(refused);
  clock.advance(60_000);
  t.mock.timers.tick(60_000);
  assert.deepEqual(sent, [
    { kind: 'mongo-unavailable', server: 'db1:27017', since: '2024-01-15T10:00:00.000Z', seconds: 60, error: 'MongoServerSelectionError: connect ECONNREFUSED 10.0.0.1:27017' },
  ]);
  clock.advance(30_000);
  tracker.available();
  assert.deepEqual(sent[1], { kind: 'mongo-available', server: 'db1:27017', since: '2024-01-15T10:00:00.000Z', seconds: 150 });
  // The next outage is a new one: alerted again past the threshold.
  tracker.unavailable(refused);
  clock.advance(60_000);
  t.mock.timers.tick(60_000);
  assert.equal(sent.length, 3);
  assert.equal(sent[2]?.kind, 'mongo-unavailable');
  alerts.close();
  tracker.available();
  assert.equal(sent.length, 3, 'closed: no more alerts');
});

test('close() cancels a pending alert', (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const { tracker, sent, alerts } = setup(1000);
  tracker.unavailable(refused);
  alerts.close();
  t.mock.timers.tick(5000);
  assert.deepEqual(sent, []);
});

test('the alert messages name the server, the duration and what capture does', () => {
  assert.equal(
    eventMessage({ kind: 'mongo-unavailable', server: 'db1:27017', since: '2024-01-15T10:00:00.000Z', seconds: 300, error: 'MongoServerSelectionError: connect ECONNREFUSED 10.0.0.1:27017' }, 'app.apilogs'),
    '[cron-log-service app.apilogs] MongoDB at db1:27017 has been unreachable for 5m (since 2024-01-15T10:00:00.000Z): ' +
      'MongoServerSelectionError: connect ECONNREFUSED 10.0.0.1:27017. Capture is waiting and resumes from its checkpoint when MongoDB is back; ' +
      'nothing is lost while the oplog still holds the checkpoint.',
  );
  assert.equal(
    eventMessage({ kind: 'mongo-available', server: 'db1:27017', since: '2024-01-15T10:00:00.000Z', seconds: 75 }),
    '[cron-log-service] MongoDB at db1:27017 is reachable again after 75s (unreachable since 2024-01-15T10:00:00.000Z); capture resumed from its checkpoint.',
  );
});
