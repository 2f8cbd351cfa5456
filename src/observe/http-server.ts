/**
 * The observability endpoint: a small `node:http` server.
 *
 *  - `GET /metrics`: Prometheus text exposition (`text/plain; version=0.0.4`).
 *  - `GET /healthz`: 200 `{"status":"ok"}` while the process is alive (liveness).
 *  - `GET /readyz`: 200 `{"status":"ready",…}` when `ready()` says so (change stream open, capture
 *    lag under its threshold), else 503 `{"status":"not ready","reason":…}` (readiness).
 *  - routes injected by the caller (`routes`: the dashboard's page and `/api/*`, wired from the top
 *    floor, src/ops/dashboard/routes.ts): each is asked in turn and answers when it recognises the path.
 *  - anything else: 404 (405 for another method on a known path).
 *
 * `startHttpServer` resolves once listening; port 0 picks a free port. `close()` is idempotent
 * and also ends idle keep-alive connections, so it never hangs a shutdown.
 */
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

import { CronLogError } from '../errors.js';
import type { Readiness } from './metrics.js';
import { redact } from '../redact.js';

export type { Readiness };

export interface MetricsSource {
  readonly contentType: string;
  metricsText(): Promise<string>;
}

/**
 * A route the caller injects: resolves true when it answered the request (it wrote the response),
 * false when the path is not its own (the next route, then the built-in endpoints, are tried).
 */
export type HttpRoute = (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<boolean>;

export interface HttpServerOptions {
  port: number;
  /** Interface to bind; default: all interfaces (`::`, or `0.0.0.0` without IPv6). */
  host?: string;
  /** Absent: no `/metrics` (the `dashboard` command serves no metrics). */
  metrics?: MetricsSource;
  /** Readiness for `/readyz`; a throw or rejection counts as not ready. */
  ready: () => Readiness | Promise<Readiness>;
  /** Extra routes, asked before the built-in endpoints. */
  routes?: readonly HttpRoute[];
  /** What the server is for, in the message when it cannot listen (default: `/metrics (metricsPort)`). */
  purpose?: string;
}

export interface HttpServerHandle {
  readonly port: number;
  /** Base URL, e.g. `http://127.0.0.1:9464` (loopback when bound to all interfaces). */
  readonly url: string;
  /** Stops listening and closes open connections. Idempotent. */
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

const JSON_TYPE = 'application/json; charset=utf-8';

function send(res: ServerResponse, status: number, contentType: string, body: string, head: boolean, extra: Record<string, string> = {}): void {
  res.writeHead(status, {
    'content-type': contentType,
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
    ...extra,
  });
  res.end(head ? undefined : body);
}

function sendJson(res: ServerResponse, status: number, value: unknown, head: boolean, extra?: Record<string, string>): void {
  send(res, status, JSON_TYPE, `${JSON.stringify(value)}\n`, head, extra);
}

async function readiness(ready: HttpServerOptions['ready']): Promise<Readiness> {
  try {
    const r = await ready();
    return r;
  } catch (err) {
    return { ready: false, reason: `readiness check failed: ${redact((err as Error)?.message ?? String(err))}` };
  }
}

async function handle(req: IncomingMessage, res: ServerResponse, options: HttpServerOptions): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://localhost');
  for (const route of options.routes ?? []) if (await route(req, res, url)) return;
  const path = url.pathname;
  const metrics = options.metrics;
  const known = (path === '/metrics' && metrics !== undefined) || path === '/healthz' || path === '/readyz';
  if (!known) {
    sendJson(res, 404, { error: 'not found', endpoints: [...(metrics ? ['/metrics'] : []), '/healthz', '/readyz'] }, req.method === 'HEAD');
    return;
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    sendJson(res, 405, { error: 'method not allowed' }, false, { allow: 'GET, HEAD' });
    return;
  }
  const head = req.method === 'HEAD';
  if (path === '/healthz') {
    sendJson(res, 200, { status: 'ok' }, head);
  } else if (path === '/readyz') {
    const r = await readiness(options.ready);
    const { ready, reason, ...details } = r;
    if (ready) sendJson(res, 200, { status: 'ready', ...details }, head);
    else sendJson(res, 503, { status: 'not ready', reason: reason ?? 'not ready', ...details }, head);
  } else if (metrics !== undefined) {
    let text: string;
    try {
      text = await metrics.metricsText();
    } catch (err) {
      send(res, 500, 'text/plain; charset=utf-8', `metrics collection failed: ${redact((err as Error)?.message ?? String(err))}\n`, head);
      return;
    }
    send(res, 200, metrics.contentType, text, head);
  }
}

function urlHost(host: string | undefined, address: AddressInfo): string {
  const bound = host ?? address.address;
  if (bound === '::' || bound === '0.0.0.0' || bound === '') return '127.0.0.1';
  return bound.includes(':') ? `[${bound}]` : bound;
}

/** Starts the server; resolves once it listens (rejects with a CronLogError when it cannot). */
export async function startHttpServer(options: HttpServerOptions): Promise<HttpServerHandle> {
  const server = createServer((req, res) => {
    handle(req, res, options).catch((err: unknown) => {
      if (!res.headersSent) sendJson(res, 500, { error: redact((err as Error)?.message ?? String(err)) }, false);
      else res.destroy();
    });
  });
  server.requestTimeout = 30_000;
  server.headersTimeout = 10_000;
  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      reject(
        new CronLogError(
          'USAGE',
          `cannot listen on ${options.host ?? '*'}:${options.port} for ${options.purpose ?? '/metrics (metricsPort)'}: ${err.code === 'EADDRINUSE' ? 'the port is in use' : err.message}`,
          { cause: err },
        ),
      );
    };
    server.once('error', onError);
    server.listen({ port: options.port, ...(options.host !== undefined ? { host: options.host } : {}) }, () => {
      server.off('error', onError);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeIdleConnections();
      // Requests in flight (a slow scrape) get a moment, then their sockets are cut.
      const timer = setTimeout(() => server.closeAllConnections(), 1000);
      timer.unref();
    });
    return closing;
  };
  return {
    port: address.port,
    url: `http://${urlHost(options.host, address)}:${address.port}`,
    close,
    [Symbol.asyncDispose]: close,
  };
}
