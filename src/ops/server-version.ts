/**
 * `doctor`'s view of the MongoDB release it talks to: the version (buildInfo) and wire version
 * (hello), and what that release lacks that matters here. The archiver uses no aggregation
 * operator newer than MongoDB 4.0 (reconcile counts by arithmetic on `$toLong`, never
 * `$dateTrunc`), so 4.4 and later are served alike; the MongoDB Node.js driver 7 refuses servers
 * older than 4.4 (wire version 9) before any command runs.
 */
import type { Document } from 'mongodb';
import type { DoctorCheck } from './doctor-check.js';

/** The oldest release the MongoDB Node.js driver 7 connects to (its MIN_SUPPORTED_SERVER_VERSION). */
export const MIN_SERVER_VERSION = '4.4';
const MIN_WIRE_VERSION = 9;

/** [major, minor] of a version string such as '4.4.29' (NaN parts for anything else). */
function majorMinor(version: string): [number, number] {
  const [major, minor] = version.split('.').map(Number);
  return [major ?? Number.NaN, minor ?? Number.NaN];
}

/** The `server version` and `sessions` checks from buildInfo and hello replies. */
export function serverVersionChecks(buildInfo: Document, hello: Document): DoctorCheck[] {
  const version = typeof buildInfo.version === 'string' ? buildInfo.version : 'of an unknown version';
  const wire = typeof hello.maxWireVersion === 'number' ? hello.maxWireVersion : undefined;
  const what = `MongoDB ${version}${wire === undefined ? '' : ` (wire version ${wire})`}`;
  const [major, minor] = majorMinor(version);
  const checks: DoctorCheck[] = [];
  if ((wire !== undefined && wire < MIN_WIRE_VERSION) || major < 4 || (major === 4 && minor < 4)) {
    checks.push({
      name: 'server version',
      ok: false,
      message: `${what}: unsupported, the MongoDB Node.js driver 7 needs MongoDB ${MIN_SERVER_VERSION} or later`,
      hint: `upgrade the server to MongoDB ${MIN_SERVER_VERSION} or later`,
    });
  } else if (major < 5) {
    checks.push({
      name: 'server version',
      ok: true,
      message: `${what}: supported; it lacks 5.0 aggregation operators such as $dateTrunc, which the archiver does not use (reconcile counts use the portable path: arithmetic on $toLong, MongoDB 4.0+)`,
    });
  } else {
    checks.push({ name: 'server version', ok: true, message: what });
  }
  const sessions = hello.logicalSessionTimeoutMinutes;
  checks.push(
    typeof sessions === 'number'
      ? { name: 'sessions', ok: true, message: `logical sessions supported (timeout ${sessions} min)` }
      : { name: 'sessions', ok: true, message: 'no logical sessions: hello has no logicalSessionTimeoutMinutes' },
  );
  return checks;
}

/** A hint for a server the driver refused as too old, or undefined for any other error. */
export function tooOldHint(err: unknown): string | undefined {
  const message = err instanceof Error ? err.message : String(err);
  if (!/wire version \d+, but this version of the (?:Node\.js )?driver requires at least/i.test(message)) return undefined;
  return `the server is older than MongoDB ${MIN_SERVER_VERSION}, the oldest release the MongoDB Node.js driver 7 (used by cron-log-service) connects to: upgrade the server`;
}
