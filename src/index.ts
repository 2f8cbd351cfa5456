/**
 * cron-log-service as a library.
 *
 *   import { createArchiver, loadConfig } from 'cron-log-service';
 *   const config = await loadConfig({ overrides: { dbUri: 'mongodb://db:27017/app?replicaSet=rs0', s3: { bucket: 'logs' } } });
 *   await using archiver = await createArchiver(config);
 *   await archiver.start();
 */
export { createArchiver, READY_MAX_LAG_SECONDS } from './archiver.js';
export type { Archiver, ArchiverOptions, ArchiverStats } from './archiver.js';
export { loadConfig, parseConfig, safeConfigView, optionList, envNames } from './config/index.js';
export type { Config, ConfigInput, LoadConfigOptions } from './config/index.js';
export { ConfigError, CronLogError, ExitCode, exitCodeOf, isCronLogError } from './errors.js';
export type { ErrorCode } from './errors.js';
export { createDestination } from './deliver/index.js';
export type { Destination, ObjectInfo, PutInput, PutResult, ProbeResult } from './deliver/destination.js';
export { KeyLayout, validateKeyTemplate, DEFAULT_KEY_TEMPLATE } from './hours/keys.js';
export type { Manifest, ManifestPart } from './seal/manifest.js';
export type { SealReport, HourOutcome } from './seal/sealer.js';
export { reconcileRange } from './reconcile/reconcile.js';
export type { ReconcileRow, ReconcileStatus, ReconcileOptions } from './reconcile/reconcile.js';
export { backfill } from './ops/backfill.js';
export type { BackfillOptions, BackfillReport } from './ops/backfill.js';
export { openSharedContext } from './archive-context.js';
export type { SharedContext } from './archive-context.js';
export { createLogger } from './observe/logger.js';
export type { Logger } from './observe/logger.js';
export { redact, redactUri } from './redact.js';
export { HourClock } from './hours/hour-clock.js';
export type { HourSlot } from './hours/hour-clock.js';
export { lineEncoder, toAnalytics } from './spool/json-lines.js';
export type { JsonMode } from './spool/json-lines.js';
