/**
 * Builds, from a Config and a connected client, the archive context (src/seal/context.ts: the
 * destination, the key layout, the ledger, the hour clock) and what a command holds besides it:
 * its config, the `jobs` collection (leases, checkpoints) and close().
 */
import type { Collection, Document, MongoClient } from 'mongodb';
import type { Config } from './config/index.js';
import { CronLogError } from './errors.js';
import type { Destination } from './deliver/destination.js';
import { createDestination } from './deliver/index.js';
import { FenceHolder } from './ledger/fence.js';
import { HourLedger } from './ledger/hour-states.js';
import { OperationLog } from './ledger/operation-log.js';
import { SealWatermark } from './ledger/seal-watermark.js';
import { KeyLayout, validateKeyTemplate } from './hours/keys.js';
import type { ArchiveContext } from './seal/context.js';
import type { Logger } from './log.js';
import { HourClock } from './hours/hour-clock.js';

/** The archive context of a command, with its config, the `jobs` collection and close(). */
export interface SharedContext extends ArchiveContext {
  config: Config;
  jobs: Collection<Document>;
  /** Filled by the command that takes the namespace lease (Lease's holder). */
  fencing: FenceHolder;
  /** Closes the destination: waits for its running operations to finish. */
  close(): Promise<void>;
  /** Destroys the destination: aborts its running operations (nothing is left at their keys). */
  destroy(): Promise<void>;
}

export function keyLayoutOf(config: Config): KeyLayout {
  const problems = validateKeyTemplate(config.keyTemplate);
  if (problems.length > 0) {
    throw new CronLogError('CONFIG_INVALID', `invalid configuration:\n  - keyTemplate (KEY_TEMPLATE): ${problems.join('; ')}`);
  }
  return new KeyLayout(config.keyTemplate, config.outputDirectory);
}

export function destinationOf(config: Config, log: Logger): Destination {
  if (config.uploadProvider === 'file') {
    return createDestination({ kind: 'file', directory: config.localDirectory, retryAttempts: config.retryAttempts, logger: log });
  }
  if (config.uploadProvider === 'azure') {
    return createDestination({ kind: 'azure', azure: config.azure, retryAttempts: config.retryAttempts, logger: log });
  }
  return createDestination({ kind: 's3', s3: config.s3, retryAttempts: config.retryAttempts, logger: log });
}

export function openSharedContext(config: Config, client: MongoClient, log: Logger): SharedContext {
  const keys = keyLayoutOf(config);
  const db = client.db(config.database);
  const namespace = `${config.database}.${config.collections.apiLogsCollectionName}`;
  const jobs = db.collection(config.collections.jobsCollectionName);
  const destination = destinationOf(config, log);
  const fencing = new FenceHolder();
  return {
    config,
    clock: new HourClock(config.timezone),
    collection: db.collection(config.collections.apiLogsCollectionName),
    destination,
    keys,
    jobs,
    fencing,
    ledger: new HourLedger(jobs, namespace, fencing),
    operations: new OperationLog(db.collection(config.collections.logsCollectionName), namespace, fencing),
    watermark: new SealWatermark(jobs, namespace, fencing),
    namespace,
    timestampField: config.timestampField,
    jsonMode: config.jsonMode,
    gzipLevel: config.gzipLevel,
    workDirectory: config.spoolDirectory,
    close: () => destination.close(),
    destroy: () => destination.destroy(),
  };
}
