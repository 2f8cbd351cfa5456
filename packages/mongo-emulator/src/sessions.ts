/**
 * Logical sessions. The emulator keeps no transaction state (transactions are refused), but
 * it remembers the replies of retryable writes by (lsid, txnNumber), so a write the driver
 * retries after a network error is answered from memory instead of being applied twice.
 */
import type { Document } from 'bson';

const RETRYABLE_COMMANDS = new Set(['insert', 'update', 'delete', 'findAndModify', 'findandmodify']);
const MAX_REMEMBERED = 10_000;

/** Hex of `lsid.id`, the session's UUID. */
export function sessionIdOf(cmd: Document): string | undefined {
  const lsid = cmd.lsid as Document | undefined;
  const id = lsid?.id as { buffer?: Uint8Array } | undefined;
  if (!id?.buffer) return undefined;
  return Buffer.from(id.buffer).toString('hex');
}

export function isRetryableWrite(name: string, cmd: Document): boolean {
  return RETRYABLE_COMMANDS.has(name) && cmd.txnNumber !== undefined && cmd.autocommit === undefined;
}

export class RetryableWrites {
  readonly #replies = new Map<string, Document>();

  static key(lsid: string, cmd: Document): string {
    return `${lsid}:${String(cmd.txnNumber)}`;
  }

  get(key: string): Document | undefined {
    return this.#replies.get(key);
  }

  remember(key: string, reply: Document): void {
    this.#replies.set(key, reply);
    if (this.#replies.size > MAX_REMEMBERED) {
      const oldest = this.#replies.keys().next().value;
      if (oldest !== undefined) this.#replies.delete(oldest);
    }
  }

  /** Forgets the writes of ended sessions. */
  endSessions(lsids: Set<string>): void {
    for (const key of [...this.#replies.keys()]) {
      if (lsids.has(key.slice(0, key.indexOf(':')))) this.#replies.delete(key);
    }
  }
}
