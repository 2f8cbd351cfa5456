import { after, afterEach, before, beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

import { clearRegisteredSecrets, registerSecrets } from '../../../src/redact.js';
import type { Logger, LogMeta } from '../../../src/log.js';
import type { NotifyEvent } from '../../../src/observe/webhook.js';
import { createNotifier, eventMessage, purgeReportEvents, sealReportEvents } from '../../../src/observe/webhook.js';

interface Received {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

/** A real local webhook receiver: answers each request with the next queued behaviour. */
type Behaviour = number | 'hang';
let receiver: Server;
let base: string;
let received: Received[] = [];
let script: Behaviour[] = [];
const hanging: ServerResponse[] = [];

before(async () => {
  receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      const next = script.shift() ?? 200;
      if (next === 'hang') {
        hanging.push(res);
        return;
      }
      res.writeHead(next, { 'content-type': 'text/plain' });
      res.end(next === 200 ? 'ok' : 'nope');
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
});

after(async () => {
  for (const res of hanging) res.destroy();
  receiver.closeAllConnections();
  await new Promise((resolve) => receiver.close(resolve));
});

beforeEach(() => {
  received = [];
  script = [];
  clearRegisteredSecrets();
});

afterEach(() => clearRegisteredSecrets());

/** A log that records what it is given, serialized as it would be written. */
function memoryLog(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const log = {
    lines,
    error: (message: string, meta?: LogMeta) => void lines.push(`error ${message} ${JSON.stringify(meta ?? {})}`),
    warn: (message: string, meta?: LogMeta) => void lines.push(`warn ${message} ${JSON.stringify(meta ?? {})}`),
    info: (message: string, meta?: LogMeta) => void lines.push(`info ${message} ${JSON.stringify(meta ?? {})}`),
    debug: (message: string, meta?: LogMeta) => void lines.push(`debug ${message} ${JSON.stringify(meta ?? {})}`),
    child: () => log,
  };
  return log;
}

const HOOK_PATH = '/services/T0001/B0002/hookTokenXyz123';

function payloadOf(r: Received | undefined): { text: string; content: string; event: Record<string, unknown> } {
  assert.ok(r, 'a request was received');
  return JSON.parse(r.body) as { text: string; content: string; event: Record<string, unknown> };
}

test('POSTs a Slack- and Discord-compatible JSON body with the structured event', async () => {
  const log = memoryLog();
  const notifier = createNotifier(`${base}${HOOK_PATH}`, log, { namespace: 'myapp.apilogs', backoffMs: 10 });
  assert.equal(notifier.enabled, true);
  const result = await notifier.notify({ kind: 'reconcile-mismatch', hour: '2024-01-15T00', mongo: 120, archived: 118 });
  assert.deepEqual(result, { sent: true, attempts: 1, status: 200 });
  assert.equal(received.length, 1);
  const [req] = received;
  assert.equal(req?.method, 'POST');
  assert.equal(req?.url, HOOK_PATH);
  assert.match(String(req?.headers['content-type']), /^application\/json/);
  const body = payloadOf(req);
  assert.equal(typeof body.text, 'string');
  assert.equal(body.content, body.text);
  assert.match(body.text, /myapp\.apilogs/);
  assert.match(body.text, /hour 2024-01-15T00 does not reconcile: MongoDB has 120 documents, the archive 118 \(2 missing\)/);
  assert.deepEqual({ ...body.event, at: 'T' }, {
    kind: 'reconcile-mismatch',
    hour: '2024-01-15T00',
    mongo: 120,
    archived: 118,
    namespace: 'myapp.apilogs',
    at: 'T',
  });
  assert.match(String(body.event.at), /^\d{4}-\d{2}-\d{2}T/);
});

test('the payload never carries a password or a registered secret from an error message', async () => {
  registerSecrets('AKIAsecretValue99');
  const notifier = createNotifier(`${base}${HOOK_PATH}`, memoryLog(), { backoffMs: 10 });
  await notifier.notify({
    kind: 'delivery-failed',
    hour: '2024-01-15T03',
    error: 'lookup via mongodb://archiver:s3cr3tPassw0rd@db1:27017/app failed; key AKIAsecretValue99 rejected',
  });
  const [req] = received;
  assert.ok(req);
  assert.doesNotMatch(req.body, /s3cr3tPassw0rd/);
  assert.doesNotMatch(req.body, /AKIAsecretValue99/);
  const body = payloadOf(req);
  assert.match(body.text, /mongodb:\/\/archiver:\*\*\*\*@db1:27017/);
  assert.match(String(body.event.error), /archiver:\*\*\*\*@/);
  assert.match(body.text, /could not be delivered after its retries/);
});

test('retries after a 500 and succeeds', async () => {
  script = [500, 200];
  const notifier = createNotifier(`${base}${HOOK_PATH}`, memoryLog(), { backoffMs: 10 });
  const result = await notifier.notify({ kind: 'oplog-headroom', headroomSeconds: 1800, windowSeconds: 86_400 });
  assert.deepEqual(result, { sent: true, attempts: 2, status: 200 });
  assert.equal(received.length, 2);
  assert.equal(received[0]?.body, received[1]?.body, 'the same body is re-sent');
  assert.match(payloadOf(received[0]).text, /30m from the end of the oplog window \(24\.0h\)/);
});

test('gives up after 2 retries without throwing; the warning names the webhook by origin only', async () => {
  script = [503, 502, 500, 200];
  const log = memoryLog();
  const notifier = createNotifier(`${base}${HOOK_PATH}`, log, { backoffMs: 10 });
  const result = await notifier.notify({ kind: 'delivery-failed', hour: '2024-01-15T04', error: 'S3 unreachable' });
  assert.deepEqual(result, { sent: false, skipped: 'failed', attempts: 3, status: 500 });
  assert.equal(received.length, 3);
  const warning = log.lines.find((l) => l.startsWith('warn '));
  assert.ok(warning, 'a warning was logged');
  assert.match(warning, /webhook notification failed/);
  assert.match(warning, /HTTP 500/);
  assert.match(warning, new RegExp(`${base.replace(/[.]/g, '\\.')}/\\*\\*\\*\\*`));
  for (const line of log.lines) assert.doesNotMatch(line, /hookTokenXyz123|T0001/);
});

test('a 4xx other than 408/429 is not retried', async () => {
  script = [400];
  const notifier = createNotifier(`${base}${HOOK_PATH}`, memoryLog(), { backoffMs: 10 });
  const result = await notifier.notify({ kind: 'delivery-failed', hour: '2024-01-15T05', error: 'x' });
  assert.deepEqual(result, { sent: false, skipped: 'failed', attempts: 1, status: 400 });
  assert.equal(received.length, 1);
});

test('a receiver that does not answer times out per attempt; notify still resolves', async () => {
  script = ['hang', 'hang'];
  const log = memoryLog();
  const notifier = createNotifier(`${base}${HOOK_PATH}`, log, { backoffMs: 10, timeoutMs: 150, retries: 1 });
  const started = Date.now();
  const result = await notifier.notify({ kind: 'delivery-failed', hour: '2024-01-15T06', error: 'x' });
  assert.equal(result.sent, false);
  assert.equal(result.attempts, 2);
  assert.equal(received.length, 2);
  assert.ok(Date.now() - started < 5000);
  assert.match(log.lines.join('\n'), /no response within 150 ms/);
});

test('an unreachable webhook never throws and logs no URL path', async () => {
  const closed = createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const port = (closed.address() as AddressInfo).port;
  await new Promise((resolve) => closed.close(resolve));
  const log = memoryLog();
  const url = `http://127.0.0.1:${port}${HOOK_PATH}?token=abc123`;
  const notifier = createNotifier(url, log, { backoffMs: 5 });
  const result = await notifier.notify({ kind: 'delivery-failed', hour: '2024-01-15T07', error: 'x' });
  assert.equal(result.sent, false);
  assert.equal(result.attempts, 3);
  const text = log.lines.join('\n');
  assert.match(text, /ECONNREFUSED/);
  assert.doesNotMatch(text, /hookTokenXyz123|abc123/);
});

test('credentials in the URL are sent as basic authentication, never logged', async () => {
  script = [500, 500, 500];
  const log = memoryLog();
  const notifier = createNotifier(base.replace('http://', 'http://hook:pa55word@') + HOOK_PATH, log, { backoffMs: 10 });
  await notifier.notify({ kind: 'delivery-failed', hour: '2024-01-15T09', error: 'x' });
  assert.equal(received.length, 3);
  assert.equal(received[0]?.headers.authorization, `Basic ${Buffer.from('hook:pa55word').toString('base64')}`);
  assert.equal(received[0]?.url, HOOK_PATH);
  assert.ok(log.lines.length > 0);
  assert.doesNotMatch(log.lines.join('\n'), /pa55word|hookTokenXyz123/);
});

test('an invalid URL disables notifications with a warning instead of throwing', async () => {
  const log = memoryLog();
  const notifier = createNotifier('ftp://example.com/hook', log);
  assert.equal(notifier.enabled, false);
  assert.equal((await notifier.notify({ kind: 'delivery-failed', hour: 'h', error: 'x' })).sent, false);
  assert.match(log.lines.join('\n'), /not a valid http\(s\) URL/);
});

test('identical events within the window are sent once; a different event or a later one is sent', async () => {
  let now = Date.parse('2024-01-15T10:00:00Z');
  const notifier = createNotifier(`${base}${HOOK_PATH}`, memoryLog(), { backoffMs: 10, now: () => now });
  const event: NotifyEvent = { kind: 'reconcile-mismatch', hour: '2024-01-15T00', mongo: 5, archived: 4 };
  assert.equal((await notifier.notify(event)).sent, true);
  now += 9 * 60_000;
  // Same fields in another order are the same event.
  assert.deepEqual(await notifier.notify({ archived: 4, mongo: 5, hour: '2024-01-15T00', kind: 'reconcile-mismatch' }), {
    sent: false,
    skipped: 'duplicate',
    attempts: 0,
  });
  assert.equal((await notifier.notify({ ...event, hour: '2024-01-15T01' })).sent, true);
  assert.equal((await notifier.notify({ ...event, archived: 3 })).sent, true);
  assert.equal(received.length, 3);
  now += 60_000; // 10 minutes after the first
  assert.equal((await notifier.notify(event)).sent, true);
  assert.equal(received.length, 4);
});

test('a notification that could not be sent is not remembered: the next identical event tries again', async () => {
  script = [400, 200];
  const notifier = createNotifier(`${base}${HOOK_PATH}`, memoryLog(), { backoffMs: 10 });
  const event: NotifyEvent = { kind: 'delivery-failed', hour: '2024-01-15T08', error: 'x' };
  assert.equal((await notifier.notify(event)).sent, false);
  assert.equal((await notifier.notify(event)).sent, true);
  assert.equal(received.length, 2);
});

test('without a webhook URL, notify does nothing', async () => {
  const notifier = createNotifier(undefined, memoryLog());
  assert.equal(notifier.enabled, false);
  assert.deepEqual(await notifier.notify({ kind: 'delivery-failed', hour: 'h', error: 'x' }), { sent: false, skipped: 'disabled', attempts: 0 });
  assert.equal(received.length, 0);
});

test('sealReportEvents: failed hours and mismatches of a seal report', () => {
  assert.deepEqual(
    sealReportEvents({
      dueBefore: 0,
      hours: [
        { hour: 'h1', start: 0, count: 3, status: 'delivered', key: 'k' },
        { hour: 'h2', start: 0, count: 0, status: 'failed', error: 'AccessDenied' },
      ],
      reconciled: [
        { hour: 'h0', mongo: 3, archived: 3, status: 'ok' },
        { hour: 'h-1', mongo: 4, archived: 3, status: 'mismatch' },
      ],
      failed: 1,
    }),
    [
      { kind: 'delivery-failed', hour: 'h2', error: 'AccessDenied' },
      { kind: 'reconcile-mismatch', hour: 'h-1', mongo: 4, archived: 3 },
    ],
  );
  // A reconcile that could not run: one event of its own, the hours' outcomes unchanged.
  const failedReconcile = sealReportEvents({
    dueBefore: 0,
    hours: [{ hour: 'h1', start: 0, count: 3, status: 'delivered', key: 'k' }],
    reconciled: [],
    reconcileError: "MongoServerError InvalidPipelineOperator (code 168): Unrecognized expression '$dateTrunc'",
    failed: 0,
  });
  assert.deepEqual(failedReconcile, [{ kind: 'reconcile-failed', error: "MongoServerError InvalidPipelineOperator (code 168): Unrecognized expression '$dateTrunc'" }]);
  assert.match(eventMessage(failedReconcile[0]!), /reconcile after a seal run failed: .*\$dateTrunc'\. The run's hours were delivered/);
});

test('a purge pass sends purge-refused for hours whose archive is damaged, nothing for hours merely not ready', async () => {
  const events = purgeReportEvents({
    hours: [
      { hour: '2024-01-15T00:00+00:00' },
      { hour: '2024-01-15T01:00+00:00', reason: 'tampered-object', detail: 'api-logs/2024-01-15/01-02.ndjson.gz sha256 ab… differs from the manifest\'s cd…' },
      { hour: '2024-01-15T02:00+00:00', reason: 'not-delivered', detail: 'the hour is sealed but not delivered' },
      { hour: '2024-01-15T03:00+00:00', reason: 'missing-object', detail: 'api-logs/2024-01-15/03-04.ndjson.gz is listed in the manifest but absent' },
      { hour: '2024-01-15T04:00+00:00', reason: 'source-not-archived', detail: 'MongoDB holds 1 document(s) of the hour the archive lacks' },
    ],
  });
  assert.deepEqual(events.map((e) => [e.kind, 'hour' in e ? e.hour : '']), [
    ['purge-refused', '2024-01-15T01:00+00:00'],
    ['purge-refused', '2024-01-15T03:00+00:00'],
  ]);
  const notifier = createNotifier(`${base}${HOOK_PATH}`, memoryLog(), { namespace: 'myapp.apilogs', backoffMs: 10 });
  await notifier.notify(events[0] as NotifyEvent);
  const body = payloadOf(received[0]);
  assert.match(body.text, /hour 2024-01-15T01:00\+00:00 was not purged from MongoDB: its archive failed the proof \(tampered-object\).*stay in MongoDB/);
  assert.equal(body.event.kind, 'purge-refused');
  assert.match(eventMessage(events[1] as NotifyEvent), /missing-object/);
});
