/**
 * cron-log-service as a library: the public API, and all of it (README "Library API").
 *
 *   import { createArchiver, loadConfig } from 'cron-log-service';
 *   const config = await loadConfig({ overrides: { dbUri: 'mongodb://db:27017/app?replicaSet=rs0', s3: { bucket: 'logs' } } });
 *   await using archiver = await createArchiver(config);
 *   await archiver.start();
 *
 * What a host needs to embed the archiver (configuration, the archiver, a logger, the errors it
 * throws) and the shapes of what it reports and writes. The wiring behind it (contexts, ledger
 * collections, the hour clock, line encoders, destinations) is not exported: it may change in any
 * release. Reconcile and backfill are the CLI's `reconcile` and `backfill` commands.
 */
export { createArchiver, READY_MAX_LAG_SECONDS } from './archiver.js';
export type { Archiver, ArchiverOptions, ArchiverStats } from './archiver.js';
export { loadConfig, parseConfig, safeConfigView, envNames } from './config/index.js';
export type { Config, ConfigInput, LoadConfigOptions } from './config/index.js';
export { ConfigError, CronLogError, ExitCode, exitCodeOf, isCronLogError } from './errors.js';
export type { ErrorCode } from './errors.js';
export { validateKeyTemplate, DEFAULT_KEY_TEMPLATE } from './hours/keys.js';
export type { Manifest, ManifestPart } from './seal/manifest.js';
export type { SealReport, HourOutcome } from './seal/sealer.js';
export type { PurgeReport, PurgeRow } from './ops/purge/purge.js';
export { createLogger, silentLogger } from './observe/logger.js';
export type { CreateLoggerOptions } from './observe/logger.js';
export type { Logger, LogLevel, LogMeta } from './log.js';
export { redact, redactUri } from './redact.js';
