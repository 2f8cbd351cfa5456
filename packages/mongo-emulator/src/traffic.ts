/**
 * Realistic API-log documents for the demo, the tests and the benchmarks: methods, paths,
 * statuses, latencies, user agents, about 400 bytes each. Deterministic for a given seed.
 */
import { ObjectId } from 'bson';

const METHODS = ['GET', 'GET', 'GET', 'GET', 'POST', 'POST', 'PUT', 'PATCH', 'DELETE'] as const;
const PATHS = [
  '/api/v1/users/:id',
  '/api/v1/users',
  '/api/v1/orders',
  '/api/v1/orders/:id',
  '/api/v1/orders/:id/items',
  '/api/v1/products',
  '/api/v1/products/:id',
  '/api/v1/cart',
  '/api/v1/checkout',
  '/api/v1/auth/login',
  '/api/v1/auth/refresh',
  '/api/v1/search',
  '/healthz',
] as const;
const AGENTS = [
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36',
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15',
  'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148',
  'okhttp/4.12.0',
  'python-requests/2.32.3',
  'curl/8.8.0',
] as const;

/** A small fast PRNG (mulberry32) so generated traffic is reproducible. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function pick<T>(r: () => number, items: readonly T[]): T {
  return items[Math.floor(r() * items.length)] as T;
}

function status(r: () => number, method: string): number {
  const x = r();
  if (x < 0.82) return method === 'POST' ? 201 : 200;
  if (x < 0.88) return 304;
  if (x < 0.93) return 400;
  if (x < 0.96) return 401;
  if (x < 0.985) return 404;
  return r() < 0.5 ? 500 : 503;
}

export interface ApiLogDocument {
  _id: ObjectId;
  createdAt: Date;
  method: string;
  path: string;
  route: string;
  status: number;
  latencyMs: number;
  requestBytes: number;
  responseBytes: number;
  userAgent: string;
  ip: string;
  requestId: string;
  userId: string | null;
  service: string;
}

/** One API-log document at `createdAt`. */
export function apiLog(r: () => number, createdAt: Date): ApiLogDocument {
  const method = pick(r, METHODS);
  const route = pick(r, PATHS);
  const id = Math.floor(r() * 100_000);
  const s = status(r, method);
  const slow = r() < 0.02;
  return {
    _id: new ObjectId(),
    createdAt,
    method,
    path: route.replace(':id', String(id)),
    route,
    status: s,
    latencyMs: Math.round((slow ? 800 + r() * 4000 : 5 + r() * r() * 300) * 10) / 10,
    requestBytes: method === 'GET' ? 0 : Math.floor(100 + r() * 4000),
    responseBytes: Math.floor(200 + r() * 20_000),
    userAgent: pick(r, AGENTS),
    ip: `10.${Math.floor(r() * 256)}.${Math.floor(r() * 256)}.${Math.floor(r() * 256)}`,
    requestId: `req_${Math.floor(r() * 2 ** 52).toString(36)}${Math.floor(r() * 2 ** 30).toString(36)}`,
    userId: r() < 0.15 ? null : `user_${Math.floor(r() * 50_000)}`,
    service: 'storefront-api',
  };
}

/** `count` documents with createdAt spread uniformly over [from, to). */
export function apiLogsBetween(r: () => number, count: number, from: number, to: number): ApiLogDocument[] {
  const out: ApiLogDocument[] = [];
  for (let i = 0; i < count; i++) out.push(apiLog(r, new Date(from + Math.floor(r() * (to - from)))));
  return out;
}
