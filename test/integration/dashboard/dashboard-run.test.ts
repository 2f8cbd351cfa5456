/**
 * The dashboard on `run`'s metricsPort, over real HTTP: the page and `/api/*` next to `/metrics`;
 * `/api/status` carries the run's role and its live samples; without DASHBOARD_TOKEN only
 * loopback clients see the dashboard while `/metrics` still answers every interface (as before);
 * with the token every client needs it and `/metrics` does not; `/api/hours` lays out a DST day
 * in 23 or 25 cells; bad queries are 400 naming the parameter.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { networkInterfaces } from 'node:os';
import { archiveEnv, insertCaptured, startArchiver } from '../../helpers/archive-env.js';
import { HOUR } from '../../helpers/archive-keys.js';

const TOKEN = 'run-dashboard-token-0123456789';

/** A non-loopback IPv4 address of this host: a request to it comes from a non-loopback address. */
function externalAddress(): string | undefined {
  for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  return undefined;
}

function onAddress(url: string, address: string): string {
  return url.replace('127.0.0.1', address);
}

test('run serves the dashboard on its metrics port: loopback only without a token, /metrics unchanged', async (t) => {
  const env = await archiveEnv();
  const started = startArchiver(env.config({ metricsPort: 0 }));
  // The archiver closes before the emulator it talks to goes away (its last fenced writes need it).
  t.after(async () => {
    await (await started.catch(() => undefined))?.close();
    await env.close();
  });
  const archiver = await started;
  const base = archiver.metricsUrl!;
  await insertCaptured(env, archiver, [{ createdAt: new Date(Date.now() - 2 * HOUR), path: '/x' }]);

  const page = await fetch(`${base}/`);
  assert.equal(page.status, 200);
  assert.match(page.headers.get('content-type') ?? '', /text\/html/);
  assert.match(page.headers.get('content-security-policy') ?? '', /default-src 'none'; script-src 'self'/);
  assert.equal(page.headers.get('referrer-policy'), 'no-referrer');
  assert.match(await page.text(), /<script src="\/dashboard\.js"/);

  // The live samples of the ring buffer: the first one is taken when the server starts.
  const status = (await (await fetch(`${base}/api/status`)).json()) as {
    servedBy: string;
    role: string;
    status: { running: { command: string } | null };
    live: { samples: Array<{ at: number; spoolBytes: number }> };
  };
  assert.equal(status.servedBy, 'run');
  assert.equal(status.role, 'active');
  assert.equal(status.status.running?.command, 'run');
  assert.ok(status.live.samples.length >= 1);

  const bad = await fetch(`${base}/api/hours?from=yesterday&to=2024-01-01T00:00:00Z`);
  assert.equal(bad.status, 400);
  assert.match(((await bad.json()) as { error: string }).error, /^from: expected an ISO-8601 date-time/);
  const badHour = await fetch(`${base}/api/hour?id=2024-01-15T10:30Z`);
  assert.equal(badHour.status, 400);
  assert.match(((await badHour.json()) as { error: string }).error, /is not the start of an hour/);
  assert.equal((await fetch(`${base}/metrics`)).status, 200);

  const external = externalAddress();
  if (external === undefined) {
    t.diagnostic('no non-loopback interface on this host: the remote-client checks are not run');
    return;
  }
  const remote = await fetch(`${onAddress(base, external)}/api/hours`);
  assert.equal(remote.status, 403);
  assert.match(((await remote.json()) as { error: string }).error, /DASHBOARD_TOKEN/);
  assert.equal((await fetch(`${onAddress(base, external)}/`)).status, 403);
  assert.equal((await fetch(`${onAddress(base, external)}/metrics`)).status, 200, '/metrics answers every interface as before');
});

test('with DASHBOARD_TOKEN every client needs it, /metrics does not; a DST day has 25 or 23 cells', async (t) => {
  const env = await archiveEnv();
  const started = startArchiver(env.config({ metricsPort: 0, dashboardToken: TOKEN, timezone: 'Europe/Berlin' }));
  // The archiver closes before the emulator it talks to goes away (its last fenced writes need it).
  t.after(async () => {
    await (await started.catch(() => undefined))?.close();
    await env.close();
  });
  const archiver = await started;
  const base = archiver.metricsUrl!;
  const auth = { authorization: `Bearer ${TOKEN}` };
  assert.equal((await fetch(`${base}/api/status`)).status, 401);
  assert.equal((await fetch(`${base}/`)).status, 401);
  assert.equal((await fetch(`${base}/api/status`, { headers: auth })).status, 200);
  assert.equal((await fetch(`${base}/api/status?token=${TOKEN}`)).status, 200);
  assert.equal((await fetch(`${base}/dashboard.js`)).status, 200, 'the script holds no data');
  assert.equal((await fetch(`${base}/metrics`)).status, 200);
  const external = externalAddress();
  if (external !== undefined) {
    assert.equal((await fetch(`${onAddress(base, external)}/api/status`)).status, 401);
    assert.equal((await fetch(`${onAddress(base, external)}/api/status`, { headers: auth })).status, 200);
  }

  const days = async (from: string, to: string): Promise<Array<{ date: string; hours: Array<{ hour: string; fold: number; state: string }> }>> => {
    const res = await fetch(`${base}/api/hours?from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}`, { headers: auth });
    assert.equal(res.status, 200);
    const body = (await res.json()) as { timezone: string; days: Array<{ date: string; hours: Array<{ hour: string; fold: number; state: string }> }> };
    assert.equal(body.timezone, 'Europe/Berlin');
    return body.days;
  };
  const autumn = await days('2024-10-26T00:00:00+02:00', '2024-10-28T00:00:00+01:00');
  assert.deepEqual(autumn.map((d) => [d.date, d.hours.length]), [['2024-10-26', 24], ['2024-10-27', 25]]);
  assert.deepEqual(autumn[1]!.hours.filter((h) => h.hour === '02').map((h) => h.fold), [0, 1]);
  assert.ok(autumn[1]!.hours.every((h) => h.state === 'not-archived'));
  const spring = await days('2024-03-31T00:00:00+01:00', '2024-04-01T00:00:00+02:00');
  assert.deepEqual(spring.map((d) => [d.date, d.hours.length]), [['2024-03-31', 23]]);
  assert.ok(!spring[0]!.hours.some((h) => h.hour === '02'));

  // The default range: the last 14 local days, today up to the hour that is open now.
  const recent = (await (await fetch(`${base}/api/hours`, { headers: auth })).json()) as { days: Array<{ hours: Array<{ state: string }> }> };
  assert.equal(recent.days.length, 14);
  assert.equal(recent.days[13]!.hours.at(-1)!.state, 'open');
});
