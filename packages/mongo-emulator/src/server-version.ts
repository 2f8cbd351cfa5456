/**
 * The MongoDB release the emulator plays (`--server-version`, option `serverVersion`): what it
 * reports (buildInfo and serverStatus `version`, hello's `maxWireVersion`, the
 * featureCompatibilityVersion) and the aggregation operators it refuses because that release
 * does not have them, with the errors mongod gives for an unknown name:
 *
 * - a stage: code 40324 "Unrecognized pipeline stage name: '$setWindowFields'";
 * - an expression: code 168 InvalidPipelineOperator "Unrecognized expression '$dateTrunc'";
 * - an accumulator of `$group`: code 15952 "unknown group operator '$count'".
 *
 * The versions operators were introduced in are the MongoDB manual's ("New in version …" on each
 * operator's page); the wire versions are those of the server's `wire_version.h`, as listed in
 * the drivers' wire version table.
 */
import type { Document } from 'bson';
import { Code, CommandError } from './errors.js';

/** A release the emulator can play: its version string, wire version and FCV. */
export interface ServerVersion {
  /** e.g. '4.4.29' */
  readonly version: string;
  readonly major: number;
  readonly minor: number;
  /** hello's maxWireVersion. */
  readonly wireVersion: number;
}

const RELEASES: Record<string, ServerVersion> = {
  '4.2': { version: '4.2.25', major: 4, minor: 2, wireVersion: 8 },
  '4.4': { version: '4.4.29', major: 4, minor: 4, wireVersion: 9 },
  '5.0': { version: '5.0.31', major: 5, minor: 0, wireVersion: 13 },
  '6.0': { version: '6.0.20', major: 6, minor: 0, wireVersion: 17 },
  '7.0': { version: '7.0.16', major: 7, minor: 0, wireVersion: 21 },
  '8.0': { version: '8.0.0', major: 8, minor: 0, wireVersion: 25 },
};

/** The release played when none is chosen. */
export const DEFAULT_SERVER_VERSION: ServerVersion = RELEASES['8.0']!;

/** The accepted values of `--server-version` / `serverVersion`. */
export const SERVER_VERSIONS: readonly string[] = Object.keys(RELEASES);

/** The release named `name` ('4.4', or a full '4.4.x'), or undefined when the emulator cannot play it. */
export function serverVersionOf(name: string): ServerVersion | undefined {
  const m = /^(\d+)\.(\d+)(?:\.\d+)?$/.exec(name);
  return m ? RELEASES[`${m[1]}.${m[2]}`] : undefined;
}

/** buildInfo's versionArray. */
export function versionArray(v: ServerVersion): number[] {
  const parts = v.version.split('.').map(Number);
  return [parts[0] ?? 0, parts[1] ?? 0, parts[2] ?? 0, 0];
}

/** featureCompatibilityVersion of a server of this release (its own major.minor). */
export function featureCompatibilityVersion(v: ServerVersion): string {
  return `${v.major}.${v.minor}`;
}

/** Stages newer than 4.2, by the release that introduced them. */
const STAGES: Record<string, string> = {
  $unionWith: '4.4',
  $setWindowFields: '5.0',
  $densify: '5.1',
  $documents: '5.1',
  $fill: '5.3',
  $changeStreamSplitLargeEvent: '7.0',
};

/**
 * Expressions newer than 4.2, by release. Names that are also accumulators of an older release
 * ($first, $last as array expressions in 4.4; $maxN… in 5.2) are only checked as accumulators.
 */
const EXPRESSIONS: Record<string, string> = {
  $binarySize: '4.4',
  $bsonSize: '4.4',
  $function: '4.4',
  $isNumber: '4.4',
  $replaceOne: '4.4',
  $replaceAll: '4.4',
  $dateAdd: '5.0',
  $dateDiff: '5.0',
  $dateSubtract: '5.0',
  $dateTrunc: '5.0',
  $getField: '5.0',
  $setField: '5.0',
  $unsetField: '5.0',
  $tsIncrement: '5.1',
  $tsSecond: '5.1',
  $sortArray: '5.2',
};

/** `$group` accumulators newer than 4.2, by release. */
const ACCUMULATORS: Record<string, string> = {
  $accumulator: '4.4',
  $count: '5.0',
  $top: '5.2',
  $bottom: '5.2',
  $topN: '5.2',
  $bottomN: '5.2',
  $firstN: '5.2',
  $lastN: '5.2',
  $maxN: '5.2',
  $minN: '5.2',
  $median: '7.0',
  $percentile: '7.0',
};

function lacks(v: ServerVersion, since: string | undefined): boolean {
  if (since === undefined) return false;
  const [major, minor] = since.split('.').map(Number) as [number, number];
  return v.major < major || (v.major === major && v.minor < minor);
}

/** Throws mongod's error for the first name in `value` (an expression, or a part of a stage) this release lacks. */
function checkValue(v: ServerVersion, value: unknown): void {
  if (Array.isArray(value)) {
    for (const item of value) checkValue(v, item);
    return;
  }
  if (value === null || typeof value !== 'object' || Object.getPrototypeOf(value) !== Object.prototype) return;
  for (const [key, inner] of Object.entries(value as Document)) {
    if (key === '$literal') continue;
    if (lacks(v, STAGES[key])) throw new CommandError(Code.Location40324, `Unrecognized pipeline stage name: '${key}'`);
    if (lacks(v, EXPRESSIONS[key])) throw new CommandError(Code.InvalidPipelineOperator, `Unrecognized expression '${key}'`);
    if (key === '$group') checkGroup(v, inner);
    else checkValue(v, inner);
  }
}

function checkGroup(v: ServerVersion, spec: unknown): void {
  if (spec === null || typeof spec !== 'object' || Array.isArray(spec)) return checkValue(v, spec);
  for (const [field, inner] of Object.entries(spec as Document)) {
    if (field !== '_id' && inner !== null && typeof inner === 'object' && !Array.isArray(inner)) {
      for (const [acc, arg] of Object.entries(inner as Document)) {
        if (lacks(v, ACCUMULATORS[acc])) throw new CommandError(15952, `unknown group operator '${acc}'`);
        checkValue(v, arg);
      }
    } else checkValue(v, inner);
  }
}

/**
 * Refuses a pipeline (sub-pipelines of `$lookup`, `$facet` and `$unionWith` included) that uses
 * a stage, expression or `$group` accumulator the release `v` does not have, as mongod of that
 * release does.
 */
export function checkPipelineOperators(v: ServerVersion, stages: readonly Document[]): void {
  if (v === DEFAULT_SERVER_VERSION) return;
  checkValue(v, stages);
}
