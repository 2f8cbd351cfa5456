/**
 * `doctor`: checks, each with a one-line verdict and a hint, that the configuration and the
 * environment can work: MongoDB reachable, its version and sessions (server-version.ts), a
 * replica set, the collection and its timestamp
 * index, the oplog window, the destination (put/get/delete of a probe object), the spool
 * directory, the clock, and the Node.js version (22 or later recommended).
 */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import type { Document, MongoClient } from 'mongodb';
import type { Config } from '../config/index.js';
import type { Destination } from '../deliver/destination.js';
import { redact, redactUri } from '../redact.js';
import { captureModeFor } from '../source/capture-mode.js';
import { oplogWindow } from '../source/oplog-window.js';
import type { DoctorCheck } from './doctor-check.js';
import { serverVersionChecks, tooOldHint } from './server-version.js';

export type { DoctorCheck } from './doctor-check.js';

/** Thresholds of the checks (documented in README). */
export const DOCTOR_LIMITS = {
  /** The oplog must keep at least this many hours (an hour, the seal grace, and a margin). */
  minOplogWindowSeconds: (config: Config) => 2 * (3600 + config.sealGraceSeconds),
  minFreeBytes: 256 * 1024 * 1024,
  maxClockSkewSeconds: 30,
} as const;

export async function checkMongo(config: Config, client: MongoClient): Promise<DoctorCheck[]> {
  const checks: DoctorCheck[] = [];
  const db = client.db(config.database);
  const admin = db.admin();
  // MongoDB before 4.4.2 (and 4.2.10) answers only the legacy isMaster.
  const hello: Document = await admin.command({ hello: 1 }).catch(() => admin.command({ isMaster: 1 }));
  checks.push(...serverVersionChecks(await admin.command({ buildInfo: 1 }), hello));
  const replicated = typeof hello.setName === 'string' || hello.msg === 'isdbgrid';
  const capture = captureModeFor(config.captureMode, client.options, hello);
  checks.push(
    replicated
      ? { name: 'replica set', ok: true, message: hello.setName ? `replica set "${String(hello.setName)}", change streams available` : 'sharded cluster (mongos), change streams available' }
      : capture.mode === 'query'
        ? { name: 'replica set', ok: true, message: `a standalone server: no change streams, \`run\` captures by query (captureMode ${config.captureMode}; README, "Standalone servers: capture by query")` }
        : {
            name: 'replica set',
            ok: false,
            message: 'a standalone server: change streams are not available, and captureMode is "change-stream"',
            hint: 'set captureMode to "auto" or "query" (CAPTURE_MODE) to capture by query, or run MongoDB as a replica set (a one-member set is enough: start mongod with --replSet rs0 and run rs.initiate())',
          },
  );
  const name = config.collections.apiLogsCollectionName;
  const colls = await db.listCollections({ name }, { nameOnly: true }).toArray();
  if (colls.length === 0) {
    checks.push({ name: 'collection', ok: false, message: `collection ${config.database}.${name} does not exist`, hint: 'check DB_URI (its path is the database) and API_LOGS_COLLECTION' });
  } else {
    checks.push({ name: 'collection', ok: true, message: `collection ${config.database}.${name} exists` });
    const indexes = await db.collection(name).listIndexes().toArray();
    const has = indexes.some((ix) => Object.keys(ix.key ?? {})[0] === config.timestampField);
    checks.push(
      has
        ? { name: 'timestamp index', ok: true, message: `an index starts with ${config.timestampField}` }
        : {
            name: 'timestamp index',
            ok: false,
            message: `no index on ${config.timestampField}: reconcile, backfill and repair scan the whole collection`,
            hint: `db.${name}.createIndex({ ${config.timestampField}: 1 })`,
          },
    );
  }
  if (replicated) {
    try {
      const w = await oplogWindow(client);
      const need = DOCTOR_LIMITS.minOplogWindowSeconds(config);
      if (!w) checks.push({ name: 'oplog window', ok: false, message: 'the oplog is empty or unreadable' });
      else if (!w.full) {
        checks.push({
          name: 'oplog window',
          ok: true,
          message: `the oplog is ${Math.round((w.usedFraction ?? 0) * 100)}% full: nothing has fallen off yet (window so far ${(w.seconds / 3600).toFixed(2)} h; needed: ${(need / 3600).toFixed(1)} h)`,
        });
      } else if (w.seconds >= need) checks.push({ name: 'oplog window', ok: true, message: `the oplog keeps ${(w.seconds / 3600).toFixed(1)} h (needed: ${(need / 3600).toFixed(1)} h)` });
      else {
        checks.push({
          name: 'oplog window',
          ok: false,
          message: `the oplog keeps only ${(w.seconds / 3600).toFixed(2)} h; an archiver stopped longer than that needs a repair from a query`,
          hint: `grow the oplog to at least ${(need / 3600).toFixed(1)} h (replSetResizeOplog with minRetentionHours)`,
        });
      }
    } catch (err) {
      checks.push({ name: 'oplog window', ok: false, message: `cannot read local.oplog.rs: ${redact((err as Error).message)}`, hint: 'grant the archiver user read on the local database (clusterMonitor role)' });
    }
  }
  const localTime = hello.localTime instanceof Date ? hello.localTime.getTime() : undefined;
  if (localTime !== undefined) {
    const skew = Math.round((Date.now() - localTime) / 1000);
    checks.push(
      Math.abs(skew) <= DOCTOR_LIMITS.maxClockSkewSeconds
        ? { name: 'clock', ok: true, message: `clock skew against the server: ${skew}s` }
        : { name: 'clock', ok: false, message: `this host's clock is ${skew}s off the MongoDB server's`, hint: 'synchronise clocks (NTP): hours are cut by time' },
    );
  }
  return checks;
}

export async function checkDestination(config: Config, destination: Destination): Promise<DoctorCheck[]> {
  const result = await destination.probe(config.outputDirectory);
  return result.steps.map((s) => ({
    name: `destination ${s.name}`,
    ok: s.status !== 'failed',
    message: s.message,
    ...(s.status === 'failed' && (s.hint !== undefined || s.reason) ? { hint: s.hint ?? `reason: ${s.reason}` } : {}),
  }));
}

export async function checkSpool(config: Config): Promise<DoctorCheck> {
  const dir = config.spoolDirectory;
  try {
    await fs.mkdir(dir, { recursive: true });
    const probe = join(dir, `.doctor-${randomBytes(4).toString('hex')}`);
    const fh = await fs.open(probe, 'w');
    await fh.write('probe');
    await fh.sync();
    await fh.close();
    await fs.rm(probe); // doctor's own probe file, not a spool file
    const st = await fs.statfs(dir);
    const free = st.bavail * st.bsize;
    if (free < DOCTOR_LIMITS.minFreeBytes) {
      return { name: 'spool directory', ok: false, message: `${dir} has only ${(free / 1048576).toFixed(0)} MiB free`, hint: 'free space or move SPOOL_DIRECTORY: capture stops when the disk is full' };
    }
    return { name: 'spool directory', ok: true, message: `${dir} is writable, ${(free / 1073741824).toFixed(1)} GiB free` };
  } catch (err) {
    return { name: 'spool directory', ok: false, message: `${dir} is not writable: ${(err as Error).message}`, hint: 'create it and give the archiver user write access, or set SPOOL_DIRECTORY' };
  }
}

/** The Node.js major version recommended: AWS SDK for JavaScript releases after January 2027 require it. */
export const RECOMMENDED_NODE_MAJOR = 22;

/** Advice to move to Node.js 22 or later, or undefined when this version is one. */
export function nodeVersionAdvice(version: string = process.version): string | undefined {
  const major = Number(/^v?(\d+)\./.exec(version)?.[1]);
  if (!(major < RECOMMENDED_NODE_MAJOR)) return undefined;
  return `Node.js ${version} works; Node.js ${RECOMMENDED_NODE_MAJOR} or later is recommended (AWS SDK for JavaScript releases after the first week of January 2027 require it)`;
}

/** The Node.js version: always ok (>= 20.19 runs), with the advice to move to 22 when older. */
export function checkNode(version: string = process.version): DoctorCheck {
  return { name: 'node', ok: true, message: nodeVersionAdvice(version) ?? `Node.js ${version}` };
}

export function mongoUnreachable(config: Config, err: unknown): DoctorCheck {
  return {
    name: 'mongodb',
    ok: false,
    message: `cannot reach MongoDB at ${redactUri(config.dbUri)}: ${redact((err as Error).message)}`,
    hint: tooOldHint(err) ?? 'check the host and port in DB_URI, the network, and the credentials (authentication errors name the user)',
  };
}
