/**
 * Server errors as mongod reports them: a numeric `code`, its `codeName`, a message and the
 * error labels a real server would attach. Codes, names and label categories follow
 * mongodb/mongo `src/mongo/base/error_codes.yml` and `src/mongo/db/error_labels.cpp`.
 */
import type { Document } from 'bson';

/** The codes the emulator raises itself, by their mongod names. */
export const Code = {
  InternalError: 1,
  BadValue: 2,
  NoSuchKey: 4,
  FailedToParse: 9,
  Unauthorized: 13,
  TypeMismatch: 14,
  InvalidLength: 16,
  ProtocolError: 17,
  IllegalOperation: 20,
  InvalidBSON: 22,
  NamespaceNotFound: 26,
  IndexNotFound: 27,
  PathNotViable: 28,
  ConflictingUpdateOperators: 40,
  CursorNotFound: 43,
  NamespaceExists: 48,
  MaxTimeMSExpired: 50,
  DollarPrefixedFieldName: 52,
  InvalidIdField: 53,
  EmptyFieldName: 56,
  CommandNotFound: 59,
  ImmutableField: 66,
  CannotCreateIndex: 67,
  IndexAlreadyExists: 68,
  InvalidOptions: 72,
  InvalidNamespace: 73,
  NoReplicationEnabled: 76,
  IndexOptionsConflict: 85,
  IndexKeySpecsConflict: 86,
  CommandNotSupported: 115,
  DocumentValidationFailure: 121,
  CappedPositionLost: 136,
  CursorInUse: 143,
  OptionNotSupportedOnView: 157,
  CommandNotSupportedOnView: 166,
  InvalidPipelineOperator: 168,
  ViewDepthLimitExceeded: 182,
  InvalidIndexSpecificationOption: 197,
  CursorKilled: 237,
  InvalidResumeToken: 260,
  OperationNotSupportedInTransaction: 263,
  ChangeStreamFatalError: 280,
  ChangeStreamHistoryLost: 286,
  BSONObjectTooLarge: 10334,
  DuplicateKey: 11000,
  Location40415: 40415,
  Location40573: 40573,
  Location40602: 40602,
  Location40324: 40324,
  Location40647: 40647,
  Location40649: 40649,
  Location40674: 40674,
} as const;

/** codeName of every code that can reach a client (also codes a failpoint may inject). */
const codeNames = new Map<number, string>([
  [1, 'InternalError'], [2, 'BadValue'], [4, 'NoSuchKey'], [6, 'HostUnreachable'],
  [7, 'HostNotFound'], [8, 'UnknownError'], [9, 'FailedToParse'], [11, 'UserNotFound'],
  [13, 'Unauthorized'], [14, 'TypeMismatch'], [15, 'Overflow'], [16, 'InvalidLength'],
  [17, 'ProtocolError'], [18, 'AuthenticationFailed'], [20, 'IllegalOperation'],
  [22, 'InvalidBSON'], [24, 'LockTimeout'], [26, 'NamespaceNotFound'], [27, 'IndexNotFound'],
  [28, 'PathNotViable'], [29, 'NonExistentPath'], [40, 'ConflictingUpdateOperators'],
  [43, 'CursorNotFound'], [46, 'LockBusy'], [48, 'NamespaceExists'], [50, 'MaxTimeMSExpired'],
  [52, 'DollarPrefixedFieldName'], [53, 'InvalidIdField'], [56, 'EmptyFieldName'],
  [59, 'CommandNotFound'], [63, 'StaleShardVersion'], [64, 'WriteConcernTimeout'], [66, 'ImmutableField'],
  [67, 'CannotCreateIndex'], [68, 'IndexAlreadyExists'], [72, 'InvalidOptions'],
  [73, 'InvalidNamespace'], [76, 'NoReplicationEnabled'], [79, 'UnknownReplWriteConcern'],
  [85, 'IndexOptionsConflict'], [86, 'IndexKeySpecsConflict'], [89, 'NetworkTimeout'],
  [91, 'ShutdownInProgress'], [96, 'OperationFailed'], [100, 'UnsatisfiableWriteConcern'],
  [112, 'WriteConflict'], [115, 'CommandNotSupported'], [121, 'DocumentValidationFailure'],
  [125, 'CommandFailed'], [133, 'FailedToSatisfyReadPreference'],
  [134, 'ReadConcernMajorityNotAvailableYet'], [136, 'CappedPositionLost'],
  [143, 'CursorInUse'], [150, 'StaleEpoch'], [157, 'OptionNotSupportedOnView'], [166, 'CommandNotSupportedOnView'], [182, 'ViewDepthLimitExceeded'], [168, 'InvalidPipelineOperator'],
  [175, 'QueryPlanKilled'], [197, 'InvalidIndexSpecificationOption'], [189, 'PrimarySteppedDown'], [211, 'KeyNotFound'],
  [234, 'RetryChangeStream'], [237, 'CursorKilled'], [251, 'NoSuchTransaction'],
  [260, 'InvalidResumeToken'], [262, 'ExceededTimeLimit'],
  [263, 'OperationNotSupportedInTransaction'], [279, 'ClientDisconnect'],
  [280, 'ChangeStreamFatalError'], [286, 'ChangeStreamHistoryLost'], [358, 'InternalTransactionNotSupported'],
  [402, 'ResourceExhausted'], [9001, 'SocketException'], [10107, 'NotWritablePrimary'],
  [10334, 'BSONObjectTooLarge'], [11000, 'DuplicateKey'], [11600, 'InterruptedAtShutdown'],
  [11601, 'Interrupted'], [11602, 'InterruptedDueToReplStateChange'], [13388, 'StaleConfig'],
  [13435, 'NotPrimaryNoSecondaryOk'], [13436, 'NotPrimaryOrSecondary'],
  [40413, 'IDLDuplicateField'], [40414, 'IDLFailedToParse'], [40415, 'IDLUnknownField'],
  [50915, 'BackupCursorOpenConflictWithCheckpoint'],
]);

export function codeNameOf(code: number): string {
  return codeNames.get(code) ?? `Location${code}`;
}

/** error_codes.yml category RetriableError. */
const retriableCodes = new Set([
  6, 7, 89, 91, 134, 189, 262, 317, 358, 384, 402, 406, 407, 412, 453, 462, 9001, 10107, 11600,
  11602, 13435, 13436, 50915, 91331, 10045600,
]);
/** Categories NetworkError and NeedRetargettingError (StaleShardVersion, StaleEpoch, StaleConfig). */
const networkOrRetargetCodes = new Set([6, 7, 89, 317, 384, 9001, 63, 150, 13388]);
/** Category NonResumableChangeStreamError. */
const nonResumableChangeStreamCodes = new Set([280, 286]);

export function isRetriableCode(code: number): boolean {
  return retriableCodes.has(code);
}

/**
 * The labels mongod attaches to a failed command (ErrorLabelBuilder::build): RetryableWriteError
 * for retryable writes failing with a retriable code, ResumableChangeStreamError for an aggregate
 * or getMore of a change stream failing with a retriable, network or retargeting code (or
 * RetryChangeStream / FailedToSatisfyReadPreference), NonResumableChangeStreamError otherwise for
 * ChangeStreamFatalError and ChangeStreamHistoryLost.
 */
export function serverErrorLabels(input: {
  code: number;
  commandName: string;
  isRetryableWrite: boolean;
  isChangeStream: boolean;
  hasWriteConcernError: boolean;
}): string[] {
  const { code } = input;
  if (input.isRetryableWrite && retriableCodes.has(code)) return ['RetryableWriteError'];
  const resumable =
    (input.commandName === 'aggregate' || input.commandName === 'getMore') &&
    input.isChangeStream &&
    !input.hasWriteConcernError &&
    (retriableCodes.has(code) || networkOrRetargetCodes.has(code) || code === 234 || code === 133);
  if (resumable) return ['ResumableChangeStreamError'];
  if (nonResumableChangeStreamCodes.has(code)) return ['NonResumableChangeStreamError'];
  return [];
}

/** A command failure reported to the client as `{ ok: 0, errmsg, code, codeName }`. */
export class CommandError extends Error {
  readonly code: number;
  readonly codeName: string;
  /** Labels forced onto the reply (failpoint `errorLabels`); otherwise computed per command. */
  readonly labels: string[] | undefined;
  /** Extra reply fields, e.g. keyPattern/keyValue of a duplicate key error. */
  readonly extra: Document | undefined;

  constructor(code: number, message: string, options?: { labels?: string[]; extra?: Document; codeName?: string }) {
    super(message);
    this.name = 'CommandError';
    this.code = code;
    this.codeName = options?.codeName ?? codeNameOf(code);
    this.labels = options?.labels;
    this.extra = options?.extra;
  }
}

/** A malformed command document: mongod answers such input with FailedToParse or TypeMismatch. */
export function badValue(message: string): CommandError {
  return new CommandError(Code.BadValue, message);
}

export function typeMismatch(field: string, got: unknown, expected: string): CommandError {
  return new CommandError(
    Code.TypeMismatch,
    `BSON field '${field}' is the wrong type '${bsonTypeName(got)}', expected type '${expected}'`,
  );
}

/** The BSON type name mongod prints in type errors. */
export function bsonTypeName(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'missing';
  if (typeof value === 'string') return 'string';
  if (typeof value === 'boolean') return 'bool';
  if (typeof value === 'number') return Number.isInteger(value) && Math.abs(value) <= 0x7fffffff ? 'int' : 'double';
  if (typeof value === 'bigint') return 'long';
  if (Array.isArray(value)) return 'array';
  if (value instanceof Date) return 'date';
  if (value instanceof RegExp) return 'regex';
  const bsontype = (value as { _bsontype?: string })._bsontype;
  if (bsontype === 'ObjectId') return 'objectId';
  if (bsontype === 'Long') return 'long';
  if (bsontype === 'Int32') return 'int';
  if (bsontype === 'Double') return 'double';
  if (bsontype === 'Decimal128') return 'decimal';
  if (bsontype === 'Timestamp') return 'timestamp';
  if (bsontype === 'Binary') return 'binData';
  if (bsontype === 'BSONRegExp') return 'regex';
  if (bsontype === 'MinKey') return 'minKey';
  if (bsontype === 'MaxKey') return 'maxKey';
  if (bsontype === 'Code') return 'javascript';
  return 'object';
}
