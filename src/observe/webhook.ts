/**
 * Operator notifications: a JSON POST to `webhookUrl` when an hour cannot be delivered, when an
 * hour does not reconcile, when the checkpoint nears the end of the oplog window, and when
 * MongoDB stays unreachable past a threshold (and when it is back: mongo-outage-alerts.ts), and
 * when a purge pass of `run` finds an archived hour damaged (an object missing, tampered with or
 * unlisted: `purge-refused`; hours merely not ready yet send nothing).
 *
 * - One body for Slack and Discord incoming webhooks: `text` (Slack) and `content` (Discord)
 *   carry the same one-line message; `event` carries the structured event for other receivers.
 * - Every string that leaves passes through `redact` (error messages may embed URIs with
 *   passwords); logs name the webhook by its origin only (its path and query are its token).
 * - 5 s timeout per attempt; 2 retries (src/retry.ts) with exponential backoff (±20 % jitter)
 *   on network errors, timeouts, 408, 429 and 5xx; other 4xx are not retried.
 * - Identical events within 10 minutes are sent once.
 * - `notify` never throws: a failure ends as a warning in the log and `{ sent: false }`.
 */
import type { Logger } from '../log.js';
import type { SealReport } from '../seal/sealer.js';
import { redact, redactDeep, redactUri } from '../redact.js';
import { retryPolicy, withRetry } from '../retry.js';

export type NotifyEvent =
  | { kind: 'delivery-failed'; hour: string; error: string }
  | { kind: 'reconcile-mismatch'; hour: string; mongo: number; archived: number }
  | { kind: 'reconcile-failed'; error: string }
  | { kind: 'oplog-headroom'; headroomSeconds: number; windowSeconds: number }
  | { kind: 'mongo-unavailable'; server: string; since: string; seconds: number; error: string }
  | { kind: 'mongo-available'; server: string; since: string; seconds: number }
  | { kind: 'purge-refused'; hour: string; reason: string; detail: string };

export interface NotifyResult {
  sent: boolean;
  /** Why nothing was sent: `disabled` (no URL), `duplicate` (seen within the window), `failed`. */
  skipped?: 'disabled' | 'duplicate' | 'failed';
  /** HTTP attempts made. */
  attempts: number;
  /** Last HTTP status received, if any. */
  status?: number;
}

export interface Notifier {
  /** Whether a webhook URL is configured. */
  readonly enabled: boolean;
  notify(event: NotifyEvent): Promise<NotifyResult>;
}

export interface NotifierOptions {
  /** Added to the message and the payload (e.g. `myapp.apilogs`). */
  namespace?: string;
  /** Per attempt; default 5000 ms. */
  timeoutMs?: number;
  /** Retries after the first attempt; default 2. */
  retries?: number;
  /** First backoff, doubled per retry (with ±20 % jitter); default 1000 ms. */
  backoffMs?: number;
  /** Identical events within this window are sent once; default 10 minutes. */
  dedupeWindowMs?: number;
  /** Clock for dedupe (tests). */
  now?: () => number;
}

export const NOTIFY_TIMEOUT_MS = 5000;
export const NOTIFY_RETRIES = 2;
export const NOTIFY_DEDUPE_WINDOW_MS = 10 * 60_000;
/** Discord rejects `content` longer than 2000 characters. */
const MAX_MESSAGE = 1900;

/** The webhook for logs: its origin only (the path and query of webhook URLs are tokens). */
export function describeWebhook(url: string): string {
  try {
    const u = new URL(url);
    return redactUri(`${u.protocol}//${u.host}/****`);
  } catch {
    return '[invalid webhook URL]';
  }
}

function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.round(s / 60)}m`;
  return `${(s / 3600).toFixed(1)}h`;
}

/** The one-line message of an event (not yet redacted). */
export function eventMessage(event: NotifyEvent, namespace?: string): string {
  const where = namespace === undefined ? '' : ` ${namespace}`;
  switch (event.kind) {
    case 'delivery-failed':
      return (
        `[cron-log-service${where}] hour ${event.hour} could not be delivered after its retries: ${event.error}. ` +
        'It stays sealed on local disk and is retried at the next seal run.'
      );
    case 'reconcile-mismatch': {
      const diff = event.mongo - event.archived;
      return (
        `[cron-log-service${where}] hour ${event.hour} does not reconcile: MongoDB has ${event.mongo} documents, ` +
        `the archive ${event.archived} (${diff > 0 ? `${diff} missing` : `${-diff} extra`}). ` +
        `Check it with \`cron-log-service reconcile --from ${event.hour}\`; --repair rebuilds it from a query.`
      );
    }
    case 'reconcile-failed':
      return (
        `[cron-log-service${where}] the reconcile after a seal run failed: ${event.error}. The run's hours were ` +
        'delivered; they stay unverified until a reconcile succeeds (the next seal run tries again; ' +
        '`cron-log-service reconcile` checks by hand).'
      );
    case 'oplog-headroom':
      return (
        `[cron-log-service${where}] the capture checkpoint is ${formatDuration(event.headroomSeconds)} from the end of ` +
        `the oplog window (${formatDuration(event.windowSeconds)}): if capture falls further behind, the resume token ` +
        'leaves the oplog and the gap must be rebuilt from a query. Check capture lag, or enlarge the oplog.'
      );
    case 'mongo-unavailable':
      return (
        `[cron-log-service${where}] MongoDB at ${event.server} has been unreachable for ${formatDuration(event.seconds)} ` +
        `(since ${event.since}): ${event.error}. Capture is waiting and resumes from its checkpoint when MongoDB is back; ` +
        'nothing is lost while the oplog still holds the checkpoint.'
      );
    case 'mongo-available':
      return (
        `[cron-log-service${where}] MongoDB at ${event.server} is reachable again after ${formatDuration(event.seconds)} ` +
        `(unreachable since ${event.since}); capture resumed from its checkpoint.`
      );
    case 'purge-refused':
      return (
        `[cron-log-service${where}] hour ${event.hour} was not purged from MongoDB: its archive failed the proof (${event.reason}): ${event.detail}. ` +
        'Its documents stay in MongoDB. Check it with `cron-log-service reconcile --deep`.'
      );
  }
}

/** The POST body: Slack (`text`) and Discord (`content`) compatible, plus the structured event. */
export function webhookPayload(event: NotifyEvent, namespace?: string, at = new Date()): Record<string, unknown> {
  let message = redact(eventMessage(event, namespace));
  if (message.length > MAX_MESSAGE) message = `${message.slice(0, MAX_MESSAGE - 1)}…`;
  return {
    text: message,
    content: message,
    event: redactDeep({ ...event, ...(namespace === undefined ? {} : { namespace }), at: at.toISOString() }),
  };
}

/** Skip reasons of purge that mean the archive of an hour is damaged (not merely not ready). */
const DAMAGED = new Set(['manifest-unreadable', 'missing-object', 'tampered-object', 'unlisted-object', 'repeated-id']);

/** The notify events of a purge pass: hours whose archive failed the proof because it is damaged. */
export function purgeReportEvents(report: { hours: ReadonlyArray<{ hour: string; reason?: string; detail?: string }> }): NotifyEvent[] {
  return report.hours
    .filter((h) => h.reason !== undefined && DAMAGED.has(h.reason))
    .map((h) => ({ kind: 'purge-refused', hour: h.hour, reason: h.reason ?? '', detail: h.detail ?? '' }));
}

/** The notify events of a seal run: failed hours, reconcile mismatches, a failed reconcile. */
export function sealReportEvents(report: SealReport): NotifyEvent[] {
  const events: NotifyEvent[] = [];
  for (const h of report.hours) {
    if (h.status === 'failed') events.push({ kind: 'delivery-failed', hour: h.hour, error: h.error ?? 'unknown error' });
  }
  for (const r of report.reconciled) {
    if (r.status === 'mismatch') events.push({ kind: 'reconcile-mismatch', hour: r.hour, mongo: r.mongo, archived: r.archived });
  }
  if (report.reconcileError !== undefined) events.push({ kind: 'reconcile-failed', error: report.reconcileError });
  return events;
}

function retryableStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

/** An answer that is not 2xx: retried when its status may change on its own. */
class HttpStatusError extends Error {
  constructor(
    readonly status: number,
    statusText: string,
  ) {
    super(`HTTP ${status}${statusText ? ` ${statusText}` : ''}`);
  }
}

/** Any failure to get an answer (network, timeout) is retried, and so are 408, 429 and 5xx. */
function retryableWebhookError(err: unknown): boolean {
  return !(err instanceof HttpStatusError) || retryableStatus(err.status);
}

/** A stable key for "identical": the event's fields in a fixed order. */
function dedupeKey(event: NotifyEvent): string {
  return JSON.stringify(Object.entries(event).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

const disabled: Notifier = Object.freeze({
  enabled: false,
  notify: () => Promise.resolve({ sent: false, skipped: 'disabled' as const, attempts: 0 }),
});

/** A notifier posting to `webhookUrl`; without one, `notify` does nothing. */
export function createNotifier(webhookUrl: string | undefined, log: Logger, options: NotifierOptions = {}): Notifier {
  if (webhookUrl === undefined || webhookUrl === '') return disabled;
  const target = describeWebhook(webhookUrl);
  let url: string;
  const headers: Record<string, string> = { 'content-type': 'application/json', 'user-agent': 'cron-log-service' };
  try {
    // fetch refuses URLs with credentials: send `user:password@` as basic authentication.
    const parsed = new URL(webhookUrl);
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new Error('not an http(s) URL');
    if (parsed.username !== '' || parsed.password !== '') {
      const user = decodeURIComponent(parsed.username);
      const password = decodeURIComponent(parsed.password);
      headers.authorization = `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
      parsed.username = '';
      parsed.password = '';
    }
    url = parsed.href;
  } catch {
    log.warn('webhook notifications disabled: webhookUrl is not a valid http(s) URL', { webhook: target });
    return disabled;
  }
  const timeoutMs = options.timeoutMs ?? NOTIFY_TIMEOUT_MS;
  const retries = Math.max(0, Math.floor(options.retries ?? NOTIFY_RETRIES));
  const backoffMs = options.backoffMs ?? 1000;
  // Doubled per retry, ±20 %, capped at the longest delay its retries reach (so: uncapped).
  const policy = retryPolicy(retries, { baseDelayMs: backoffMs, maxDelayMs: backoffMs * 2 ** Math.min(30, Math.max(0, retries - 1)), jitter: 0.2 });
  const windowMs = options.dedupeWindowMs ?? NOTIFY_DEDUPE_WINDOW_MS;
  const now = options.now ?? Date.now;
  /** Event key → when it was (being) sent. */
  const recent = new Map<string, number>();
  /** Error text safe to log: no URL path, no secrets. */
  const clean = (text: string): string => redact(text.split(webhookUrl).join(target).split(url).join(target));

  async function post(body: string): Promise<{ ok: boolean; attempts: number; status?: number; error?: string }> {
    let status: number | undefined;
    let attempts = 0;
    try {
      await withRetry(
        async (attempt) => {
          attempts = attempt;
          const res = await fetch(url, {
            method: 'POST',
            headers,
            body,
            signal: AbortSignal.timeout(timeoutMs),
            redirect: 'error',
          });
          status = res.status;
          await res.arrayBuffer().catch(() => undefined);
          if (!res.ok) throw new HttpStatusError(res.status, res.statusText);
        },
        policy,
        { isRetryable: retryableWebhookError },
      );
      return { ok: true, attempts, ...(status !== undefined ? { status } : {}) };
    } catch (err) {
      return { ok: false, attempts, ...(status !== undefined ? { status } : {}), error: describeFailure(err) };
    }
  }

  /** One line for the log: the HTTP status, a timeout, or the network error and its code. */
  function describeFailure(err: unknown): string {
    if (err instanceof HttpStatusError) return err.message;
    const e = err as Error & { cause?: { code?: string; message?: string } };
    if (e.name === 'TimeoutError' || e.name === 'AbortError') return `no response within ${timeoutMs} ms`;
    return `${e.message}${e.cause?.code ? ` (${e.cause.code})` : e.cause?.message ? ` (${e.cause.message})` : ''}`;
  }

  return {
    enabled: true,
    async notify(event: NotifyEvent): Promise<NotifyResult> {
      try {
        const t = now();
        for (const [key, at] of recent) if (t - at >= windowMs) recent.delete(key);
        const key = dedupeKey(event);
        if (recent.has(key)) {
          log.debug('webhook notification skipped: identical event sent recently', { kind: event.kind, webhook: target });
          return { sent: false, skipped: 'duplicate', attempts: 0 };
        }
        recent.set(key, t);
        const body = JSON.stringify(webhookPayload(event, options.namespace, new Date(t)));
        const out = await post(body);
        if (out.ok) {
          log.debug('webhook notification sent', { kind: event.kind, webhook: target, attempts: out.attempts });
          return { sent: true, attempts: out.attempts, ...(out.status !== undefined ? { status: out.status } : {}) };
        }
        // Not delivered: forget it, so the next occurrence tries again.
        recent.delete(key);
        log.warn('webhook notification failed', {
          kind: event.kind,
          webhook: target,
          attempts: out.attempts,
          error: clean(out.error ?? 'unknown error'),
        });
        return { sent: false, skipped: 'failed', attempts: out.attempts, ...(out.status !== undefined ? { status: out.status } : {}) };
      } catch (err) {
        try {
          log.warn('webhook notification failed', { kind: event.kind, webhook: target, error: clean((err as Error)?.message ?? String(err)) });
        } catch {
          // never throw
        }
        return { sent: false, skipped: 'failed', attempts: 0 };
      }
    },
  };
}
