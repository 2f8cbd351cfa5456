/**
 * The `logs` collection: one document per operation (seal, deliver, reconcile, repair,
 * backfill, late-part: late documents of an hour found by capture by query's late pass, purge:
 * an hour's archived documents deleted from MongoDB, or why they were not) with
 * its hour, counts, bytes, key, duration, attempts, outcome and error, and one per MongoDB outage
 * `run` waited out (`mongo-outage`, recorded once it ended), and one per hour a `restore` handled
 * (restored, already present, skipped, into which collection). A record written by the
 * namespace's owner carries its lease `epoch` and is refused (FENCED) once a newer epoch holds
 * the lease (fence.ts).
 */
import type { Collection, Document } from 'mongodb';
import { redact } from '../redact.js';
import type { FenceHolder } from './fence.js';

export type Operation = 'seal' | 'deliver' | 'reconcile' | 'repair' | 'backfill' | 'late-part' | 'purge' | 'restore' | 'mongo-outage';

export interface OperationRecord {
  op: Operation;
  hour?: string;
  hourStart?: Date;
  outcome: 'ok' | 'error' | 'skipped';
  count?: number;
  bytes?: number;
  key?: string;
  durationMs?: number;
  attempts?: number;
  error?: string;
  details?: Record<string, unknown>;
}

export class OperationLog {
  constructor(
    private readonly logs: Collection<Document>,
    readonly namespace: string,
    private readonly fencing?: FenceHolder,
  ) {}

  async record(rec: OperationRecord): Promise<void> {
    await this.fencing?.check();
    await this.logs.insertOne(this.document(rec, new Date()));
  }

  /** Records several operations, each as `record` would (one `at` for all): one insert. */
  async recordMany(recs: readonly OperationRecord[]): Promise<void> {
    if (recs.length === 0) return;
    await this.fencing?.check();
    const at = new Date();
    await this.logs.insertMany(recs.map((rec) => this.document(rec, at)));
  }

  private document(rec: OperationRecord, at: Date): Document {
    const epoch = this.fencing?.epoch;
    const doc: Document = { namespace: this.namespace, at, ...rec, ...(epoch === undefined ? {} : { epoch }) };
    if (rec.error !== undefined) doc.error = redact(rec.error);
    return doc;
  }

  async recent(limit: number, filter: Document = {}): Promise<Document[]> {
    return this.logs.find({ namespace: this.namespace, ...filter }).sort({ at: -1 }).limit(limit).toArray();
  }

  async ensureIndexes(): Promise<void> {
    await this.logs.createIndex({ namespace: 1, at: -1 });
    await this.logs.createIndex({ namespace: 1, hourStart: 1, op: 1 });
  }
}
