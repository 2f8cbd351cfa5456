/**
 * The archive context: what sealing, rebuilding, reconciling and the operations on archived
 * hours (backfill, status) share about one watched collection: MongoDB's collection, the
 * destination and its key layout, the ledger (hour states, operation log, seal watermark), the
 * hour clock and how lines are encoded. One shape, built by src/archive-context.ts from a Config.
 */
import type { Collection, Document } from 'mongodb';
import type { Destination } from '../deliver/destination.js';
import type { HourClock } from '../hours/hour-clock.js';
import type { KeyLayout } from '../hours/keys.js';
import type { FenceHolder } from '../ledger/fence.js';
import type { HourLedger } from '../ledger/hour-states.js';
import type { OperationLog } from '../ledger/operation-log.js';
import type { SealWatermark } from '../ledger/seal-watermark.js';
import type { JsonMode } from '../spool/json-lines.js';

export interface ArchiveContext {
  /** The watched collection. */
  collection: Collection<Document>;
  /** `database.collection` of the watched collection. */
  namespace: string;
  clock: HourClock;
  destination: Destination;
  keys: KeyLayout;
  /** Hour states (sealed, delivered, verified, mismatch) in `jobs`. */
  ledger: HourLedger;
  /** The operation records in `logs`. */
  operations: OperationLog;
  /** Through which hour empty hours have been looked for. */
  watermark: SealWatermark;
  /**
   * The fence of the namespace lease once the command holds it (run, seal): the ledger's
   * writes and the manifest puts carry its epoch. Absent or empty: writes are not fenced.
   */
  fencing?: FenceHolder;
  timestampField: string;
  jsonMode: JsonMode;
  gzipLevel: number;
  /** Where temp files go (the spool directory). */
  workDirectory?: string;
}
