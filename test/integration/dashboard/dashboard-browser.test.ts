/**
 * The dashboard in real headless Chromium (test/helpers/browser.ts), served by the `dashboard`
 * command (a child process) over an archive made by the archiver (the emulator, the file
 * destination, a few hours, one with a late part added by a repair): the calendar shows, cell by cell, the states `reconcile --json`
 * reports; the drill-down shows the manifest; a document with `<script>` in a field is shown as
 * text and runs nothing; a tampered object turns its cell to `mismatch` after a reconcile; the
 * token is enforced; the calendar is keyboard-navigable; the command writes nothing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFile, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { archiveEnv, insertCaptured, startArchiver, waitFor } from '../../helpers/archive-env.js';
import { HOUR, hourKey } from '../../helpers/archive-keys.js';
import { runCli, startCli } from '../../helpers/archiver-process.js';
import { launchBrowser } from '../../helpers/browser.js';

const TOKEN = 'dashboard-test-token-0123456789';
const SCRIPT = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">';

interface Row {
  hour: string;
  status: string;
  mongo: number;
  archived: number | null;
}

async function reconcileJson(env: Record<string, string>, from: number, to: number): Promise<Row[]> {
  const r = await runCli(['reconcile', '--no-env-file', '--json', '--from', new Date(from).toISOString(), '--to', new Date(to).toISOString()], env);
  assert.ok(r.code === 0 || r.code === 1, `reconcile exits 0 or 1:\n${r.stderr.slice(-2000)}`);
  return JSON.parse(r.stdout) as Row[];
}

/** The state each calendar cell of the page shows, by hour id, once the calendar is drawn. */
async function cellStates(page: Page): Promise<Map<string, { state: string; label: string; glyph: string }>> {
  await page.waitForSelector('#calendar button.cell');
  const cells = await page.$$eval('#calendar button.cell', (bs) =>
    bs.map((b) => ({ id: b.getAttribute('data-id') ?? '', state: b.getAttribute('data-state') ?? '', label: b.getAttribute('aria-label') ?? '', glyph: b.textContent ?? '' })),
  );
  return new Map(cells.map((c) => [c.id, c]));
}

test('the dashboard shows the archive as reconcile sees it, drills down, escapes documents and enforces its token', async (t) => {
  const env = await archiveEnv();
  t.after(() => env.close());
  const now = Date.now();
  const current = Math.floor(now / HOUR) * HOUR;
  const hours = [current - 3 * HOUR, current - 2 * HOUR, current - HOUR];
  // Two hours with documents (the older holds the <script> document), one hour without any.
  const archiver = await startArchiver(env.config());
  try {
    const docs = [
      ...Array.from({ length: 5 }, (_, i) => ({ createdAt: new Date(hours[0]! + 60_000 * (i + 1)), path: `/a/${i}`, status: 200 })),
      { createdAt: new Date(hours[0]! + 30 * 60_000), path: SCRIPT, userAgent: SCRIPT, status: 500 },
      ...Array.from({ length: 4 }, (_, i) => ({ createdAt: new Date(hours[2]! + 60_000 * (i + 1)), path: `/b/${i}`, status: 201 })),
    ];
    await insertCaptured(env, archiver, docs);
    const report = await archiver.sealNow();
    assert.equal(report.failed, 0);
  } finally {
    await archiver.close();
  }
  const vars = env.env({ DASHBOARD_TOKEN: TOKEN, LOG_LEVEL: 'warn' });
  // A document written late for the first hour: the repair adds it as a second (late) part.
  await env.client.db(env.db).collection('apilogs').insertOne({ createdAt: new Date(hours[0]! + 50 * 60_000), path: '/late', status: 200 });
  const repair = await runCli(['reconcile', '--no-env-file', '--repair', '--from', new Date(hours[0]!).toISOString(), '--to', new Date(hours[1]!).toISOString()], vars);
  assert.equal(repair.code, 0, repair.stderr.slice(-2000));
  const rows = await reconcileJson(vars, hours[0]!, current);
  assert.equal(rows.length, 3);
  assert.equal(rows[0]!.status, 'ok');
  assert.equal(rows[0]!.archived, 7);

  const server = startCli(['dashboard', '--no-env-file', '--port', '0', '--json'], vars);
  t.after(async () => {
    server.child.kill('SIGTERM');
    await server.exited;
  });
  await server.waitFor('"url"', 60_000);
  await waitFor(() => server.output().stdout.trimEnd().endsWith('}'), 10_000, 'the JSON line');
  const { url } = JSON.parse(server.output().stdout) as { url: string };
  assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/$/);

  // The token: 401 without it (the page offers a form), 401 with a wrong one, 200 with it.
  const bare = await fetch(url);
  assert.equal(bare.status, 401);
  assert.match(await bare.text(), /name="token"/);
  assert.equal((await fetch(`${url}api/hours`)).status, 401);
  assert.equal((await fetch(`${url}api/hours`, { headers: { authorization: 'Bearer wrong-token-wrong-token' } })).status, 401);
  const ok = await fetch(`${url}api/hours`, { headers: { authorization: `Bearer ${TOKEN}` } });
  assert.equal(ok.status, 200);
  assert.match(ok.headers.get('content-security-policy') ?? '', /script-src 'self'/);

  // Read-only: what the dashboard serves changes nothing in jobs or logs.
  const db = env.client.db(env.db);
  const snapshot = async (): Promise<string> =>
    JSON.stringify([await db.collection('jobs').find().sort({ _id: 1 }).toArray(), await db.collection('logs').countDocuments()]);
  const before = await snapshot();

  const browser = await launchBrowser();
  t.after(() => browser.close());
  const page = await browser.context.newPage();
  const denied = await page.goto(url);
  assert.equal(denied?.status(), 401);
  assert.equal(await page.locator('input[name="token"]').count(), 1);
  // The form sends the token as ?token=; the page keeps it in memory and out of the address bar.
  await page.fill('input[name="token"]', TOKEN);
  await Promise.all([page.waitForURL((u) => u.pathname === '/' && !u.search.includes('token')), page.click('button[type="submit"]')]);

  // Cell by cell, the states reconcile --json reported, each with its label (not colour alone).
  let cells = await cellStates(page);
  for (const row of rows) {
    const cell = cells.get(row.hour);
    assert.ok(cell, `a cell for ${row.hour}`);
    assert.equal(cell.state, row.status, `cell ${row.hour}`);
    assert.ok(cell.glyph.trim().length > 0, `cell ${row.hour} has a glyph`);
    // Counts as reconcile gave them (an hour without a manifest has none archived).
    if (row.archived === null) assert.doesNotMatch(cell.label, /archived \d/, `cell ${row.hour}`);
    else assert.match(cell.label, new RegExp(`archived ${row.archived}, MongoDB ${row.mongo}`), `cell ${row.hour}`);
  }
  t.diagnostic(`reconcile: ${rows.map((r) => `${r.hour} ${r.status} ${r.archived}/${r.mongo}`).join('; ')}`);
  assert.match(cells.get(rows[0]!.hour)!.label, /verified, archived 7, MongoDB 7, 1 late part\(s\)/);
  assert.ok(await page.locator(`#calendar button.late[data-id="${rows[0]!.hour}"]`).count(), 'the late part is marked');
  assert.equal(await page.locator('#calendar button.late').count(), 1);
  const legend = await page.locator('#legend').textContent();
  for (const label of ['verified', 'mismatch', 'missing', 'not archived', 'sealed, awaiting delivery', 'open (capturing)', 'purged']) assert.ok(legend?.includes(label), `legend: ${label}`);

  // The drill-down of the first hour: its manifest, verdict, operations and first lines.
  const manifest = JSON.parse(await readFile(join(env.archiveDirectory, hourKey(hours[0]!, { ext: '.manifest.json' })), 'utf8')) as {
    parts: Array<{ key: string; sha256: string; count: number }>;
  };
  assert.equal(manifest.parts.length, 2);
  await page.click(`#calendar button[data-id="${rows[0]!.hour}"]`);
  await page.waitForSelector('#manifest-parts');
  const parts = await page.locator('#manifest-parts').textContent();
  assert.ok(parts?.includes(manifest.parts[0]!.key));
  for (const p of manifest.parts) assert.ok(parts?.includes(p.key) && parts.includes(p.sha256), `the drill-down lists ${p.key}`);
  assert.equal(await page.locator('#manifest-parts tbody tr', { hasText: 'late part' }).count(), 1);
  assert.match((await page.locator('#detail-facts').textContent()) ?? '', /ok: MongoDB 7, archive 7/);
  assert.match((await page.locator('#operations').textContent()) ?? '', /repair/);
  // The <script> document is shown as text, and nothing of it ran or became markup.
  const preview = (await page.locator('#preview').textContent()) ?? '';
  assert.ok(preview.includes('<script>window.__pwned = 1</script>'), 'the preview shows the document as text');
  assert.equal(await page.evaluate(() => typeof (globalThis as Record<string, unknown>).__pwned), 'undefined');
  assert.equal(await page.locator('#detail script, #detail img').count(), 0);

  // Keyboard: the focused cell moves with the arrow keys and Enter opens the hour. A row is a
  // day (the newest on top): the next hour is to the right, or, when the first hour is the last
  // of its day (a test run from 02:00 to 02:59 UTC), the first cell of the row above.
  await page.focus(`#calendar button[data-id="${rows[0]!.hour}"]`);
  if (rows[0]!.hour.slice(0, 10) === rows[1]!.hour.slice(0, 10)) {
    await page.keyboard.press('ArrowRight');
  } else {
    await page.keyboard.press('ArrowUp');
    await page.keyboard.press('Home');
  }
  await page.keyboard.press('Enter');
  await page.locator('#detail-title', { hasText: `Hour ${rows[1]!.hour}` }).waitFor();

  assert.equal(await snapshot(), before, 'the dashboard wrote nothing');

  // A tampered object: the next reconcile says mismatch, and so does its cell.
  await appendFile(join(env.archiveDirectory, hourKey(hours[2]!)), Buffer.from('tampered'));
  const again = await reconcileJson(vars, hours[0]!, current);
  assert.equal(again[2]!.status, 'mismatch');
  await page.click('#refresh');
  await page.waitForSelector(`#calendar button[data-id="${again[2]!.hour}"][data-state="mismatch"]`);
  cells = await cellStates(page);
  for (const row of again) assert.equal(cells.get(row.hour)?.state, row.status, `cell ${row.hour} after tampering`);

  // A phone-wide window still draws the calendar and the panel.
  await page.setViewportSize({ width: 390, height: 800 });
  assert.ok(await page.locator('#calendar button.cell').first().isVisible());
  assert.ok(await page.locator('#now-figures').isVisible());

  server.child.kill('SIGTERM');
  assert.equal((await server.exited).code, 0, 'the dashboard command stops cleanly on SIGTERM');
});
