/**
 * Repair from a query: reads every document of the watched collection whose timestamp falls at
 * or after an hour start (or, lacking a date in the timestamp field, whose ObjectId time does),
 * and appends those not archived yet. Streams through a cursor: bounded memory but for the set
 * of archived ids of the repaired hours.
 */
import type { Collection, Document } from 'mongodb';
import type { JsonMode } from '../spool/json-lines.js';
import { readGzipLines } from '../spool/gzip-members.js';
import type { Spool } from '../spool/spool.js';
import { join } from 'node:path';
import { spoolFileName } from '../spool/spool-files.js';
import type { IdKey } from '../spool/document-ids.js';
import { timeRangeFilters } from '../hours/time-filter.js';
import { idKeyOfLine } from '../spool/document-ids.js';

/** The `_id` keys of every line archived in the spool's open files of hours >= fromHour. */
export async function collectArchivedIds(spool: Spool, fromHour: number): Promise<Set<IdKey>> {
  const ids = new Set<IdKey>();
  for (const f of spool.openFiles()) {
    if (f.hour < fromHour || f.offset === 0) continue;
    for await (const line of readGzipLines(join(spool.layout.open, spoolFileName(f)), f.offset)) ids.add(idKeyOfLine(line));
  }
  return ids;
}

export interface RepairQuery {
  collection: Collection<Document>;
  fromMs: number;
  timestampField: string;
  ids: Set<IdKey>;
  idKey: (id: unknown) => IdKey;
  jsonMode: JsonMode;
  onDocument: (doc: Record<string, unknown>) => void;
  shouldPause: () => boolean;
  flush: () => Promise<void>;
}

/** Returns how many documents were written. Adds their ids to `ids`. */
export async function repairFromQuery(q: RepairQuery): Promise<number> {
  const filters = timeRangeFilters(q.timestampField, q.fromMs);
  const types = q.jsonMode === 'ejson' ? { promoteValues: false } : { promoteLongs: false };
  // One query: each clause of the $or is served by an index on a real server.
  const cursor = q.collection.find({ $or: [filters.byField, filters.byObjectId] }, { batchSize: 1000, ...types });
  let written = 0;
  try {
    for await (const doc of cursor) {
      const key = q.idKey(doc._id);
      if (q.ids.has(key)) continue;
      q.ids.add(key);
      q.onDocument(doc);
      written++;
      if (q.shouldPause()) await q.flush();
    }
  } finally {
    await cursor.close();
  }
  return written;
}
