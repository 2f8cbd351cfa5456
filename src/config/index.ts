/** The configuration API: one option table → validated, frozen Config. */
export { loadConfig, readConfigFile, type LoadConfigOptions } from './load.js';
export {
  coerceOptionString,
  defaultValues,
  parseConfig,
  registerConfigSecrets,
  resolveConfig,
  type CaptureMode,
  type CaptureOperation,
  type CollectionsConfig,
  type Config,
  type Env,
  type Layer,
  type LoggingConfig,
  type LogLevel,
  type PartialConfigInput,
  type PartialConfigInput as ConfigInput,
  type S3Config,
  type AzureConfig,
  type Source,
} from './resolve.js';
export { CAPTURE_OPERATIONS, LOG_LEVELS, optionTable, S3_STORAGE_CLASSES } from './options.js';
export { crossRules } from './cross-rules.js';
export {
  S3_CHECKSUM_ALGORITHMS,
  S3_PRESETS,
  S3_PROVIDERS,
  s3Preset,
  withS3Preset,
  type S3ChecksumAlgorithm,
  type S3Preset,
  type S3Provider,
} from './s3-presets.js';
export type { OptionDef } from './option-def.js';
export { envNames, optionList, optionsByPath, type OptionEntry } from './option-list.js';
export type { OptionPath } from './option-types.js';
export { azureOptionProblems, retryAttemptsProblems, s3OptionProblems } from './destination-check.js';
export { parseConnectionString } from './value-checks.js';
export { safeConfigView } from './view.js';
export { renderConfigDocs } from './docs.js';
