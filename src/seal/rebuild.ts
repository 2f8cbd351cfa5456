/**
 * Rebuilds one hour from a query: every document whose timestamp (or, lacking a date there,
 * ObjectId time) falls in the hour, in a stable order, into a temp gzip NDJSON file that is
 * delivered as a new revision of the hour; the manifest is then replaced (atomically: one put)
 * to list only that revision. Older objects stay in place, unreferenced. Used by backfill and
 * by reconcile --repair. Streams: bounded memory whatever the hour's size.
 */
import { createWriteStream, promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import type { Collection, Document } from 'mongodb';
import type { Destination } from '../deliver/destination.js';
import { timeRangeFilter } from '../source/time-filter.js';
import type { HourLedger } from '../ledger/hour-states.js';
import type { Operation, OperationLog } from '../ledger/operation-log.js';
import type { KeyLayout } from './keys.js';
import type { Manifest, ManifestPart } from './manifest.js';
import { parseManifest, writeManifest } from './manifest.js';
import { scanSpoolFile } from './scan.js';
import type { JsonMode } from '../spool/json-lines.js';
import { lineEncoder } from '../spool/json-lines.js';
import type { HourSlot } from '../time/hours.js';

export interface ArchiveContext {
  collection: Collection<Document>;
  destination: Destination;
  keys: KeyLayout;
  ledger: HourLedger;
  operations: OperationLog;
  namespace: string;
  timestampField: string;
  jsonMode: JsonMode;
  gzipLevel: number;
  /** Where temp files go (the spool directory). */
  workDirectory?: string;
}

/** Reads the hour's manifest from the destination; undefined when there is none. */
export async function readManifest(destination: Destination, key: string): Promise<Manifest | undefined> {
  if (!(await destination.head(key))) return undefined;
  const chunks: Buffer[] = [];
  for await (const chunk of await destination.get(key)) chunks.push(Buffer.from(chunk as Buffer));
  return parseManifest(Buffer.concat(chunks).toString('utf8'), key);
}

export interface RebuildResult {
  hour: string;
  count: number;
  key: string;
  revision: number;
}

export async function rebuildHour(ctx: ArchiveContext, slot: HourSlot, op: Operation): Promise<RebuildResult> {
  const t0 = Date.now();
  const manifestKey = ctx.keys.manifestKey(slot);
  const previous = await readManifest(ctx.destination, manifestKey).catch(() => undefined);
  const record = await ctx.ledger.get(slot);
  const revisions = [...(previous?.parts ?? []), ...(record?.parts ?? [])].map((p) => p.revision);
  const revision = revisions.length === 0 ? 0 : Math.max(...revisions) + 1;
  const dir = ctx.workDirectory ?? tmpdir();
  await fs.mkdir(dir, { recursive: true });
  const tmp = join(dir, `rebuild-${slot.start}-${process.pid}-${Date.now()}.ndjson.gz`);
  const types = ctx.jsonMode === 'ejson' ? { promoteValues: false } : { promoteLongs: false };
  const encode = lineEncoder(ctx.jsonMode);
  const cursor = ctx.collection.find(timeRangeFilter(ctx.timestampField, slot.start, slot.end), { ...types, batchSize: 1000 }).sort({ [ctx.timestampField]: 1, _id: 1 });
  try {
    // Lines go to gzip in chunks of ~1000: one write per line costs more than the encoding.
    async function* lines(): AsyncGenerator<string> {
      let chunk: string[] = [];
      for await (const doc of cursor) {
        chunk.push(encode(doc));
        if (chunk.length >= 1000) {
          yield `${chunk.join('\n')}\n`;
          chunk = [];
        }
      }
      if (chunk.length > 0) yield `${chunk.join('\n')}\n`;
    }
    await pipeline(Readable.from(lines()), createGzip({ level: ctx.gzipLevel }), createWriteStream(tmp));
    const scan = await scanSpoolFile(tmp, ctx.timestampField);
    let key: string | undefined;
    const parts: ManifestPart[] = [];
    if (scan.lines > 0) {
      const dataKey = ctx.keys.dataKey(slot, { index: 1, revision });
      key = dataKey;
      const put = await ctx.destination.put({
        key: dataKey,
        source: { path: tmp },
        size: scan.bytes,
        sha256: scan.sha256,
        contentType: 'application/x-ndjson',
        metadata: { hour: slot.id, count: String(scan.lines) },
      });
      parts.push({
        key: dataKey,
        part: 1,
        revision,
        count: scan.lines,
        bytes: scan.bytes,
        sha256: scan.sha256,
        firstTimestamp: scan.firstTimestamp ?? null,
        lastTimestamp: scan.lastTimestamp ?? null,
        duplicatesRemoved: 0,
        sealedAt: new Date().toISOString(),
      });
      await ctx.operations.record({
        op,
        hour: slot.id,
        hourStart: new Date(slot.start),
        outcome: 'ok',
        count: scan.lines,
        bytes: scan.bytes,
        key: dataKey,
        attempts: put.attempts,
        durationMs: Date.now() - t0,
        details: { revision, replacedParts: previous?.parts.length ?? 0 },
      });
    } else {
      await ctx.operations.record({ op, hour: slot.id, hourStart: new Date(slot.start), outcome: 'ok', count: 0, durationMs: Date.now() - t0 });
    }
    const mkey = await writeManifest(ctx, slot, parts);
    await ctx.ledger.update(slot, {
      state: 'delivered',
      count: scan.lines,
      bytes: parts.reduce((n, p) => n + p.bytes, 0),
      parts,
      manifestKey: mkey,
      lastError: null,
    });
    return { hour: slot.id, count: scan.lines, key: key ?? mkey, revision };
  } finally {
    await cursor.close().catch(() => undefined);
    await fs.rm(tmp, { force: true });
  }
}
