/**
 * Rebuilds one hour from a query: every document whose timestamp (or, lacking a date there,
 * ObjectId time) falls in the hour (one unsorted query), into a temp gzip NDJSON file that is
 * delivered as a new revision of the hour; the manifest is then replaced (atomically: one put)
 * to list only that revision. Older objects stay in place, unreferenced. Used by backfill and
 * by reconcile --repair. Streams: bounded memory whatever the hour's size.
 */
import { createHash } from 'node:crypto';
import { createWriteStream, promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { gzipOptions } from '../spool/gzip-members.js';
import { idKeyOf } from '../spool/document-ids.js';
import { timeRangeFilters } from '../hours/time-filter.js';
import type { Operation } from '../ledger/operation-log.js';
import type { ArchiveContext } from './context.js';
import type { ManifestPart } from './manifest.js';
import { readManifest, writeManifest } from './manifest.js';
import { dropDuplicateLines } from './dedupe.js';
import { HashList, hash64 } from '../spool/line-facts.js';
import { scanSpoolFile } from './scan.js';
import { decodeOptionsFor, lineEncoder } from '../spool/json-lines.js';
import type { HourSlot } from '../hours/hour-clock.js';

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
  const types = decodeOptionsFor(ctx.jsonMode);
  const encode = lineEncoder(ctx.jsonMode);
  // One query, unsorted: each clause of the $or is served by an index on a real server (the
  // timestamp index, the _id index), and no blocking sort can hit the server's memory limit.
  const filters = timeRangeFilters(ctx.timestampField, slot.start, slot.end);
  const cursors = [ctx.collection.find({ $or: [filters.byField, filters.byObjectId] }, { ...types, batchSize: 1000 })];
  try {
    // What the seal scan would find is collected on the way (count, _id hashes, timestamps,
    // SHA-256 of the bytes), so the file is not decoded again. Lines go to gzip in chunks of
    // ~1000: one write per line costs more than the encoding.
    const idKey = idKeyOf(ctx.jsonMode);
    const ids = new HashList();
    let count = 0;
    let first: string | undefined;
    let last: string | undefined;
    const field = ctx.timestampField.split('.');
    async function* lines(): AsyncGenerator<string> {
      let chunk: string[] = [];
      for (const cursor of cursors) {
        for await (const doc of cursor) {
          chunk.push(encode(doc));
          ids.push(hash64(idKey(doc._id)));
          count++;
          let v: unknown = doc;
          for (const k of field) v = v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined;
          if (v instanceof Date && !Number.isNaN(v.getTime())) {
            const iso = v.toISOString();
            if (first === undefined || iso < first) first = iso;
            if (last === undefined || iso > last) last = iso;
          }
          if (chunk.length >= 1000) {
            yield `${chunk.join('\n')}\n`;
            chunk = [];
          }
        }
      }
      if (chunk.length > 0) yield `${chunk.join('\n')}\n`;
    }
    const hash = createHash('sha256');
    let bytes = 0;
    const tap = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        hash.update(chunk);
        bytes += chunk.length;
        cb(null, chunk);
      },
    });
    await pipeline(Readable.from(lines()), createGzip(gzipOptions(ctx.gzipLevel)), tap, createWriteStream(tmp));
    let scan = { lines: count, bytes, sha256: hash.digest('hex'), firstTimestamp: first, lastTimestamp: last };
    let duplicatesRemoved = 0;
    if (ids.repeated().size > 0) {
      // A document returned twice by the cursor (it moved during the scan): drop the repeats.
      const full = await scanSpoolFile(tmp, ctx.timestampField);
      duplicatesRemoved = await dropDuplicateLines(tmp, full.duplicateIds, ctx.gzipLevel);
      scan = await scanSpoolFile(tmp, ctx.timestampField);
    }
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
        duplicatesRemoved,
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
    for (const cursor of cursors) await cursor.close().catch(() => undefined);
    await fs.rm(tmp, { force: true });
  }
}
