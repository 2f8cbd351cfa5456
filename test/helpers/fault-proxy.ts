/**
 * A real HTTP proxy (127.0.0.1, port 0) in front of an S3 server that injects faults by rule and
 * records every request. The destination under test points its endpoint at the proxy.
 *
 *   const proxy = await startFaultProxy(s3.endpoint);
 *   proxy.rule({ op: 'UploadPart', times: 2, fault: { type: 'error', status: 503 } });
 *   ... put ...
 *   proxy.count('UploadPart')              // requests seen
 *   proxy.requests.filter(r => r.fault)    // the ones that were faulted
 *
 * Faults:
 *  - error:          read the request, answer `status` with an S3-style XML error body
 *                    (Code/Message/RequestId), nothing forwarded;
 *  - reset:          wait for the first bytes of the request body (or none, when there is no
 *                    body), then reset the TCP connection (RST), nothing forwarded;
 *  - stall:          stop reading the request for `ms`, then forward it if the client is still
 *                    connected (a client with a shorter socket timeout gives up first);
 *  - reset-response: forward the request and let the server act on it, then reset the
 *                    connection instead of answering (the client never learns the outcome);
 *  - answer-headers: forward the request and answer what the server answered, with `headers`
 *                    set on the response (e.g. an ETag or a checksum another S3 would send);
 *  - corrupt:        flip one byte of the body in transit, then hand it on: the emulated
 *                    store's digest check (below) or the server (e.g. Azurite's Content-MD5
 *                    check of a block) gets it damaged. PutObject / UploadPart: the byte `at`
 *                    (default: the middle); any other request: its first byte.
 *
 * Store emulation (`proxy.emulate(STORE_PROFILES.r2)`, test/helpers/store-emulation.ts): the
 * proxy answers as another S3-compatible store does: refuses headers it does not take, checks
 * bodies against Content-MD5 / x-amz-checksum-*, gives multipart objects that store's ETags.
 * Rules are tried in order; a rule matches the requests of its `op`s for which `when` holds,
 * lets the first `skip` of them through, then faults the next `times` (default: all).
 */
import { createHash, type Hash } from 'node:crypto';
import { Agent, createServer, request as httpRequest, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { crc32c } from '../../src/deliver/checksum.js';
import { MultipartEtags, refuseBody, refuseHeaders, type StoreEmulation, type StoreRefusal } from './store-emulation.js';

export type S3Op =
  | 'CreateMultipartUpload'
  | 'UploadPart'
  | 'CompleteMultipartUpload'
  | 'AbortMultipartUpload'
  | 'ListMultipartUploads'
  | 'PutObject'
  | 'CopyObject'
  | 'GetObject'
  | 'HeadObject'
  | 'DeleteObject'
  | 'ListObjectsV2'
  | 'ListObjects'
  | 'HeadBucket'
  | 'CreateBucket'
  | 'Other';

export type Fault =
  | { type: 'error'; status: number; code?: string; message?: string }
  | { type: 'reset' }
  | { type: 'stall'; ms: number }
  | { type: 'reset-response' }
  | { type: 'answer-headers'; headers: Record<string, string> }
  | { type: 'corrupt'; at?: number };

export interface RequestRecord {
  seq: number;
  op: S3Op;
  method: string;
  url: string;
  key: string | undefined;
  query: Record<string, string>;
  headers: IncomingHttpHeaders;
  /** Request body bytes the proxy received. */
  bodyBytes: number;
  /** Base64 SHA-256 and CRC32C of the received body (PutObject and UploadPart only). */
  bodySha256?: string;
  bodyCrc32c?: string;
  /** Status sent to the client (undefined when the connection was reset). */
  status?: number;
  fault?: Fault['type'];
}

export interface FaultRule {
  op?: S3Op | S3Op[];
  when?: (req: RequestRecord) => boolean;
  /** Let this many matching requests through before faulting. Default 0. */
  skip?: number;
  /** Fault at most this many matching requests. Default: every one. */
  times?: number;
  fault: Fault;
}

export interface RuleHandle {
  /** Requests that matched the rule. */
  readonly matched: number;
  /** Requests the rule faulted. */
  readonly faulted: number;
  remove(): void;
}

export interface FaultProxy {
  endpoint: string;
  readonly requests: readonly RequestRecord[];
  rule(rule: FaultRule): RuleHandle;
  clearRules(): void;
  /** Number of requests of `op` seen (optionally only those for which `when` holds). */
  count(op: S3Op, when?: (r: RequestRecord) => boolean): number;
  /** Forgets the recorded requests (rules stay). */
  clearLog(): void;
  /** Answer as this store does from now on (undefined: as the server itself). */
  emulate(store: StoreEmulation | undefined): void;
  close(): Promise<void>;
}

export function classify(method: string, url: URL, headers: IncomingHttpHeaders): { op: S3Op; key: string | undefined } {
  const parts = url.pathname.split('/').filter((_, i) => i > 0);
  const bucket = parts[0];
  const key = parts.length > 1 ? decodeURIComponent(parts.slice(1).join('/')) : undefined;
  const q = url.searchParams;
  if (bucket === undefined || bucket === '') return { op: 'Other', key };
  if (key === undefined || key === '') {
    if (method === 'GET' && q.has('uploads')) return { op: 'ListMultipartUploads', key: undefined };
    if (method === 'GET' && q.get('list-type') === '2') return { op: 'ListObjectsV2', key: undefined };
    if (method === 'GET') return { op: 'ListObjects', key: undefined };
    if (method === 'HEAD') return { op: 'HeadBucket', key: undefined };
    if (method === 'PUT') return { op: 'CreateBucket', key: undefined };
    return { op: 'Other', key: undefined };
  }
  if (method === 'POST' && q.has('uploads')) return { op: 'CreateMultipartUpload', key };
  if (method === 'POST' && q.has('uploadId')) return { op: 'CompleteMultipartUpload', key };
  if (method === 'PUT' && q.has('uploadId')) return { op: 'UploadPart', key };
  if (method === 'DELETE' && q.has('uploadId')) return { op: 'AbortMultipartUpload', key };
  if (method === 'PUT') return { op: headers['x-amz-copy-source'] !== undefined ? 'CopyObject' : 'PutObject', key };
  if (method === 'GET') return { op: 'GetObject', key };
  if (method === 'HEAD') return { op: 'HeadObject', key };
  if (method === 'DELETE') return { op: 'DeleteObject', key };
  return { op: 'Other', key };
}

const DEFAULT_ERROR_CODES: Record<number, string> = {
  400: 'BadRequest',
  403: 'AccessDenied',
  404: 'NoSuchKey',
  500: 'InternalError',
  503: 'ServiceUnavailable',
};

function xmlEscape(s: string): string {
  return s.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);
}

function resetSocket(socket: Socket): void {
  if (typeof socket.resetAndDestroy === 'function') socket.resetAndDestroy();
  else socket.destroy();
}

interface ActiveRule {
  rule: FaultRule;
  matched: number;
  faulted: number;
  removed: boolean;
}

export async function startFaultProxy(upstream: string): Promise<FaultProxy> {
  const target = new URL(upstream);
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  const requests: RequestRecord[] = [];
  let rules: ActiveRule[] = [];
  let seq = 0;
  const sockets = new Set<Socket>();
  let store: StoreEmulation | undefined;
  const etags = new MultipartEtags();

  /** Answers an S3-style XML error once the request body has been read; nothing is forwarded. */
  const answerError = (req: IncomingMessage, res: ServerResponse, rec: RequestRecord, e: StoreRefusal, readBody = true): void => {
    const send = (): void => {
      const body =
        req.method === 'HEAD'
          ? ''
          : `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${xmlEscape(e.code)}</Code><Message>${xmlEscape(e.message)}</Message><RequestId>fault-proxy-${rec.seq}</RequestId></Error>`;
      rec.status = e.status;
      res.writeHead(e.status, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body), 'x-amz-request-id': `fault-proxy-${rec.seq}` });
      res.end(body);
    };
    if (!readBody) return send();
    req.on('data', (c: Buffer) => {
      rec.bodyBytes += c.length;
    });
    req.on('end', send);
  };

  /** Forwards `body` (already read) with the request's headers; `onAnswer` may rewrite the answer. */
  const forwardBuffered = (
    req: IncomingMessage,
    res: ServerResponse,
    rec: RequestRecord,
    body: Buffer,
    onAnswer?: (status: number, answer: Buffer) => { headers?: Record<string, string>; body?: Buffer },
  ): void => {
    const up = httpRequest({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers, agent }, (ures) => {
      const chunks: Buffer[] = [];
      ures.on('data', (c: Buffer) => chunks.push(c));
      ures.on('end', () => {
        const status = ures.statusCode ?? 502;
        let answer: Buffer = Buffer.concat(chunks);
        const change = onAnswer?.(status, answer) ?? {};
        if (change.body !== undefined) answer = change.body;
        rec.status = status;
        const headers: IncomingHttpHeaders = { ...ures.headers, ...change.headers, 'content-length': String(answer.length) };
        delete headers['transfer-encoding'];
        res.writeHead(status, headers);
        res.end(answer);
      });
    });
    up.on('error', () => req.socket.destroy());
    up.end(body);
  };

  /** A PutObject / UploadPart read whole: damaged if `corrupt`, checked as the store checks it, then forwarded. */
  const handleBody = (req: IncomingMessage, res: ServerResponse, rec: RequestRecord, corrupt: { at?: number } | undefined): void => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      rec.bodyBytes = body.length;
      if (corrupt !== undefined && body.length > 0) {
        const at = Math.min(corrupt.at ?? Math.floor(body.length / 2), body.length - 1);
        body[at] = (body[at] as number) ^ 0xff;
      }
      rec.bodySha256 = createHash('sha256').update(body).digest('base64');
      const crc = Buffer.alloc(4);
      crc.writeUInt32BE(crc32c(body));
      rec.bodyCrc32c = crc.toString('base64');
      const refused = store?.verifyDigests === true ? refuseBody(req.headers, body) : undefined;
      if (refused !== undefined) return answerError(req, res, rec, refused, false);
      const emulation = store;
      forwardBuffered(req, res, rec, body, (status) => {
        if (status >= 300 || emulation?.multipartEtag === undefined || rec.key === undefined) return {};
        if (rec.op === 'UploadPart') etags.part(rec.query.uploadId ?? '', Number(rec.query.partNumber), body);
        else etags.replaced(rec.key);
        return {};
      });
    });
  };

  /** CompleteMultipartUpload: the object's ETag as the store makes it, in the answer and from now on. */
  const handleComplete = (req: IncomingMessage, res: ServerResponse, rec: RequestRecord, mode: NonNullable<StoreEmulation['multipartEtag']>): void => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      rec.bodyBytes = body.length;
      forwardBuffered(req, res, rec, body, (status, answer) => {
        const text = answer.toString('utf8');
        if (status >= 300 || rec.key === undefined || !text.includes('<CompleteMultipartUploadResult')) return {};
        const etag = etags.complete(mode, rec.key, rec.query.uploadId ?? '');
        return { body: Buffer.from(text.replace(/<ETag>[^<]*<\/ETag>/, `<ETag>${xmlEscape(etag)}</ETag>`)) };
      });
    });
  };

  const pickFault = (rec: RequestRecord): Fault | undefined => {
    for (const r of rules) {
      if (r.removed) continue;
      const ops = r.rule.op === undefined ? undefined : Array.isArray(r.rule.op) ? r.rule.op : [r.rule.op];
      if (ops !== undefined && !ops.includes(rec.op)) continue;
      if (r.rule.when !== undefined && !r.rule.when(rec)) continue;
      r.matched++;
      if (r.matched <= (r.rule.skip ?? 0)) continue;
      if (r.faulted >= (r.rule.times ?? Infinity)) continue;
      r.faulted++;
      return r.rule.fault;
    }
    return undefined;
  };

  const forward = (
    req: IncomingMessage,
    res: ServerResponse,
    rec: RequestRecord,
    dropResponse: boolean,
    hashes: { sha?: Hash; crc: number },
    answerHeaders: Record<string, string> = {},
    corrupt = false,
  ): void => {
    const up = httpRequest(
      { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers, agent },
      (ures) => {
        if (dropResponse) {
          ures.resume();
          ures.on('end', () => resetSocket(req.socket));
          return;
        }
        rec.status = ures.statusCode;
        res.writeHead(ures.statusCode ?? 502, { ...ures.headers, ...answerHeaders });
        ures.pipe(res);
      },
    );
    up.on('error', () => req.socket.destroy());
    req.on('data', (c: Buffer) => {
      rec.bodyBytes += c.length;
      hashes.sha?.update(c);
      if (hashes.sha !== undefined) hashes.crc = crc32c(c, hashes.crc);
    });
    req.on('end', () => {
      if (hashes.sha !== undefined) {
        rec.bodySha256 = hashes.sha.digest('base64');
        const b = Buffer.alloc(4);
        b.writeUInt32BE(hashes.crc);
        rec.bodyCrc32c = b.toString('base64');
      }
    });
    req.on('close', () => {
      if (!req.complete) up.destroy();
    });
    if (!corrupt) {
      req.pipe(up);
      return;
    }
    let flipped = false;
    req.on('data', (c: Buffer) => {
      if (!flipped && c.length > 0) {
        flipped = true;
        const copy = Buffer.from(c);
        copy[0] = (copy[0] ?? 0) ^ 0xff;
        up.write(copy);
      } else {
        up.write(c);
      }
    });
    req.on('end', () => up.end());
  };

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://proxy');
    const { op, key } = classify(req.method ?? 'GET', url, req.headers);
    const rec: RequestRecord = {
      seq: ++seq,
      op,
      method: req.method ?? 'GET',
      url: req.url ?? '/',
      key,
      query: Object.fromEntries(url.searchParams),
      headers: req.headers,
      bodyBytes: 0,
    };
    requests.push(rec);
    const hashes = { ...(op === 'PutObject' || op === 'UploadPart' ? { sha: createHash('sha256') } : {}), crc: 0 };
    const fault = pickFault(rec);
    if (fault !== undefined) rec.fault = fault.type;
    if (store !== undefined && (fault === undefined || fault.type === 'corrupt')) {
      const refused = refuseHeaders(store, req.headers);
      if (refused !== undefined) return answerError(req, res, rec, refused);
    }
    const withBody = op === 'PutObject' || op === 'UploadPart';
    if (withBody && (fault?.type === 'corrupt' || (fault === undefined && store !== undefined))) {
      return handleBody(req, res, rec, fault?.type === 'corrupt' ? fault : undefined);
    }
    if (fault === undefined && store?.multipartEtag !== undefined) {
      if (op === 'CompleteMultipartUpload') return handleComplete(req, res, rec, store.multipartEtag);
      const etag = key !== undefined && (op === 'HeadObject' || op === 'GetObject') ? etags.etagOf(key) : undefined;
      if (etag !== undefined) return forward(req, res, rec, false, hashes, { etag });
    }
    if (fault === undefined) return forward(req, res, rec, false, hashes);
    switch (fault.type) {
      case 'error': {
        const code = fault.code ?? DEFAULT_ERROR_CODES[fault.status] ?? 'InternalError';
        return answerError(req, res, rec, { status: fault.status, code, message: fault.message ?? `fault injected by the test proxy (${code})` });
      }
      case 'reset': {
        const hasBody = Number(req.headers['content-length'] ?? '0') > 0 || req.headers['transfer-encoding'] !== undefined;
        if (!hasBody) return resetSocket(req.socket);
        req.once('data', (c: Buffer) => {
          rec.bodyBytes += c.length;
          req.pause();
          resetSocket(req.socket);
        });
        return;
      }
      case 'stall': {
        req.pause();
        const timer = setTimeout(() => {
          if (req.socket.destroyed) return;
          forward(req, res, rec, false, hashes);
        }, fault.ms);
        req.socket.once('close', () => clearTimeout(timer));
        return;
      }
      case 'reset-response':
        return forward(req, res, rec, true, hashes);
      case 'answer-headers':
        return forward(req, res, rec, false, hashes, fault.headers);
      case 'corrupt':
        return forward(req, res, rec, false, hashes, {}, true);
    }
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('fault proxy: no TCP address');

  let closed: Promise<void> | undefined;
  return {
    endpoint: `http://127.0.0.1:${address.port}`,
    requests,
    rule(rule) {
      const active: ActiveRule = { rule, matched: 0, faulted: 0, removed: false };
      rules.push(active);
      return {
        get matched() {
          return active.matched;
        },
        get faulted() {
          return active.faulted;
        },
        remove() {
          active.removed = true;
        },
      };
    },
    clearRules() {
      rules = [];
    },
    count(op, when) {
      return requests.filter((r) => r.op === op && (when === undefined || when(r))).length;
    },
    clearLog() {
      requests.length = 0;
    },
    emulate(profile) {
      store = profile;
    },
    close() {
      closed ??= new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        agent.destroy();
        server.close(() => resolve());
      });
      return closed;
    },
  };
}
