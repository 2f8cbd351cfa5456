/**
 * Where a restore writes: the watched collection itself (the default) or `--into db.collection`;
 * and the guard that keeps it out of the watched collection while a `run` holds the namespace
 * lease unless forced: its capture would read every restored document back as a new insert of
 * its hour, and the seal would read the hour's archive to drop them (src/seal/already-archived.ts:
 * nothing is archived twice, but a restore into production while it runs should be meant).
 */
import type { Collection, Document, MongoClient } from 'mongodb';
import { CronLogError } from '../../errors.js';
import { describeLeaseHolder, readLeaseHolder } from '../../ledger/lease-holder.js';

export interface RestoreTarget {
  collection: Collection<Document>;
  namespace: string;
  /** Whether it is the watched (source) collection. */
  isSource: boolean;
}

/** Resolves `--into` (`db.collection`, or `collection` in the configured database). */
export function restoreTarget(client: MongoClient, database: string, collection: string, into: string | undefined): RestoreTarget {
  const source = `${database}.${collection}`;
  if (into === undefined) return { collection: client.db(database).collection(collection), namespace: source, isSource: true };
  const dot = into.indexOf('.');
  const db = dot < 0 ? database : into.slice(0, dot);
  const coll = dot < 0 ? into : into.slice(dot + 1);
  if (db === '' || coll === '' || /[/\\. "$]/.test(db) || coll.includes('$')) {
    throw new CronLogError('USAGE', `--into: expected db.collection (or a collection name of ${database}), got "${into}"`);
  }
  const namespace = `${db}.${coll}`;
  return { collection: client.db(db).collection(coll), namespace, isSource: namespace === source };
}

/**
 * Refuses to restore into the watched collection while a `run` holds its lease (LEASE_HELD),
 * unless `force`. Returns the holder that was overridden, if any.
 */
export async function checkSourceFree(jobs: Collection<Document>, namespace: string, target: RestoreTarget, force: boolean): Promise<string | undefined> {
  if (!target.isSource) return undefined;
  const holder = await readLeaseHolder(jobs, namespace);
  if (holder === undefined || holder.command !== 'run' || holder.expiresAt.getTime() <= Date.now()) return undefined;
  const who = describeLeaseHolder(holder);
  if (force) return who;
  throw new CronLogError(
    'LEASE_HELD',
    `refusing to restore into ${namespace}: ${who} holds it; its capture would read every restored document back (the seal then drops those the archive holds, so nothing is archived twice). ` +
      'Restore into another collection with --into db.collection, stop the run first, or pass --force',
  );
}
