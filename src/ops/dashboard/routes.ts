/**
 * The dashboard's HTTP routes, injected into the observability server (src/observe/http-server.ts)
 * by `run` (on `metricsPort`) and by the `dashboard` command:
 *
 *   GET /                  the page (static/dashboard/index.html)
 *   GET /dashboard.js|.css its script and style (no data; served without the token)
 *   GET /api/hours         the archive calendar: ?days=N (default 14) or ?from=&to= (ISO-8601)
 *   GET /api/hour?id=      the drill-down of one hour (manifest, verdict, operations, preview)
 *   GET /api/status        the "Now" panel (status report, next seal, live samples in `run`)
 *
 * Access: with a token (`dashboardToken`, DASHBOARD_TOKEN) the page and `/api/*` need it, as
 * `Authorization: Bearer <token>` or `?token=<token>` (nothing is stored: the page keeps it in
 * memory and takes it out of the address bar); a request without it gets 401 and, for the page, a
 * form asking for it. Without a token only loopback clients are served (403 for others), so a
 * `metricsPort` bound to every interface for Prometheus does not show the archive to the network.
 *
 * Every response carries a strict Content-Security-Policy (scripts and styles from this server
 * only, nothing inline, no frames), `nosniff` and `no-referrer` (a `?token=` never leaks).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { MongoClient } from 'mongodb';
import { isCronLogError } from '../../errors.js';
import type { Logger } from '../../log.js';
import type { HttpRoute } from '../../observe/http-server.js';
import { redact } from '../../redact.js';
import { calendar, calendarRange } from './calendar.js';
import type { DashboardContext } from './context.js';
import { hourDetail, slotOfId } from './hour-detail.js';
import type { LiveFigures } from './now.js';
import { dashboardStatus } from './now.js';

export const CONTENT_SECURITY_POLICY =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
  "form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

const SECURITY_HEADERS: Record<string, string> = {
  'content-security-policy': CONTENT_SECURITY_POLICY,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cache-control': 'no-store',
};

/** The static files of the page: static/dashboard/ of the package (next to src/ and dist/). */
const ASSETS: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/index.html': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/dashboard.js': { file: 'dashboard.js', type: 'text/javascript; charset=utf-8' },
  '/dashboard.css': { file: 'dashboard.css', type: 'text/css; charset=utf-8' },
};
const PUBLIC_ASSETS = new Set(['/dashboard.js', '/dashboard.css']);
const ASSET_DIR = new URL('../../../static/dashboard/', import.meta.url);

const assetCache = new Map<string, Buffer>();
async function asset(file: string): Promise<Buffer> {
  let body = assetCache.get(file);
  if (body === undefined) {
    body = await readFile(new URL(file, ASSET_DIR));
    assetCache.set(file, body);
  }
  return body;
}

const LOGIN_PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>cron-log-service dashboard: token required</title><link rel="stylesheet" href="/dashboard.css"></head>
<body><main class="login"><h1>cron-log-service dashboard</h1>
<p>This dashboard needs its token (DASHBOARD_TOKEN).</p>
<form method="get" action="/"><label for="token">Token</label>
<input id="token" name="token" type="password" autocomplete="off" required autofocus>
<button type="submit">Open</button></form></main></body></html>
`;

export interface DashboardRoutesOptions {
  ctx: DashboardContext;
  client: MongoClient;
  /** DASHBOARD_TOKEN: when set, required by the page and the API. */
  token?: string | undefined;
  /** `run`'s live figures (role, samples, next scheduled seal); absent in the `dashboard` command. */
  live?: () => LiveFigures;
  log?: Logger;
}

function send(res: ServerResponse, status: number, type: string, body: string | Buffer, head: boolean, extra: Record<string, string> = {}): void {
  res.writeHead(status, { ...SECURITY_HEADERS, 'content-type': type, 'content-length': Buffer.byteLength(body), ...extra });
  res.end(head ? undefined : body);
}

function sendJson(res: ServerResponse, status: number, value: unknown, head: boolean, extra?: Record<string, string>): void {
  send(res, status, 'application/json; charset=utf-8', `${JSON.stringify(value)}\n`, head, extra);
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

/** The token a request presents: its bearer token, else `?token=`. */
function presentedToken(req: IncomingMessage, url: URL): string | undefined {
  const auth = req.headers.authorization;
  const m = typeof auth === 'string' ? /^Bearer\s+(.+)$/i.exec(auth.trim()) : null;
  return m?.[1] ?? url.searchParams.get('token') ?? undefined;
}

export function isLoopback(address: string | undefined): boolean {
  if (address === undefined) return false;
  return address === '::1' || address.startsWith('127.') || address.startsWith('::ffff:127.');
}

export function dashboardRoutes(options: DashboardRoutesOptions): HttpRoute {
  const { ctx, client } = options;
  const expected = options.token ? digest(options.token) : undefined;
  const authorized = (req: IncomingMessage, url: URL): 'ok' | 'unauthorized' | 'forbidden' => {
    if (expected === undefined) return isLoopback(req.socket.remoteAddress) ? 'ok' : 'forbidden';
    const given = presentedToken(req, url);
    return given !== undefined && timingSafeEqual(digest(given), expected) ? 'ok' : 'unauthorized';
  };

  return async (req, res, url) => {
    const path = url.pathname;
    const isAsset = Object.hasOwn(ASSETS, path);
    if (!isAsset && !path.startsWith('/api/')) return false;
    const head = req.method === 'HEAD';
    if (req.method !== 'GET' && !head) {
      sendJson(res, 405, { error: 'method not allowed' }, false, { allow: 'GET, HEAD' });
      return true;
    }
    if (!PUBLIC_ASSETS.has(path)) {
      const access = authorized(req, url);
      if (access === 'forbidden') {
        sendJson(res, 403, { error: 'the dashboard answers only on this host (loopback) unless DASHBOARD_TOKEN is set; set it and send it as a bearer token or ?token=' }, head);
        return true;
      }
      if (access === 'unauthorized') {
        const challenge = { 'www-authenticate': 'Bearer realm="cron-log-service dashboard"' };
        if (isAsset) send(res, 401, 'text/html; charset=utf-8', LOGIN_PAGE, head, challenge);
        else sendJson(res, 401, { error: 'this dashboard needs its token (DASHBOARD_TOKEN) as "Authorization: Bearer <token>" or ?token=' }, head, challenge);
        return true;
      }
    }
    const asset_ = ASSETS[path];
    if (asset_ !== undefined) {
      send(res, 200, asset_.type, await asset(asset_.file), head);
      return true;
    }
    try {
      const now = Date.now();
      if (path === '/api/hours') {
        const range = calendarRange(ctx, { from: url.searchParams.get('from'), to: url.searchParams.get('to'), days: url.searchParams.get('days') }, now);
        sendJson(res, 200, await calendar(ctx, range, now), head);
      } else if (path === '/api/hour') {
        const slot = slotOfId(ctx, url.searchParams.get('id') ?? '');
        sendJson(res, 200, await hourDetail(ctx, slot, now), head);
      } else if (path === '/api/status') {
        sendJson(res, 200, await dashboardStatus(ctx, client, options.live?.(), now), head);
      } else {
        sendJson(res, 404, { error: 'not found', endpoints: ['/api/hours', '/api/hour', '/api/status'] }, head);
      }
    } catch (err) {
      if (isCronLogError(err) && err.code === 'USAGE') {
        sendJson(res, 400, { error: redact(err.message) }, head);
      } else {
        const message = redact((err as Error)?.message ?? String(err));
        options.log?.warn('dashboard request failed', { path, error: message });
        sendJson(res, 500, { error: message }, head);
      }
    }
    return true;
  };
}
