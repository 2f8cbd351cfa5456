/** The configuration API: one option table → validated, frozen Config. */
export { loadConfig, readConfigFile, type LoadConfigOptions } from './load.js';
export {
  coerceOptionString,
  defaultValues,
  parseConfig,
  registerConfigSecrets,
  resolveConfig,
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
  type Source,
} from './resolve.js';
export {
  CAPTURE_OPERATIONS,
  crossRules,
  envNames,
  LOG_LEVELS,
  optionList,
  optionsByPath,
  optionTable,
  S3_STORAGE_CLASSES,
  type OptionDef,
  type OptionEntry,
  type OptionPath,
} from './options.js';
export { retryAttemptsProblems, s3OptionProblems } from './destination-check.js';
export { safeConfigView } from './view.js';
export { renderConfigDocs } from './docs.js';
