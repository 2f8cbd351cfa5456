/**
 * Repairs one hour, append-only: adds what the archive lacks as a new part of the hour and never
 * removes what it holds. Used by reconcile --repair and by backfill (an hour never archived gets
 * its first part this way: everything MongoDB has for it).
 *
 *  1. What the hour holds: every part its manifest (or ledger record) lists is read back, its
 *     `_id`s collected and its SHA-256 and line count checked. An intact part is kept as it is; a
 *     listed object that is absent is lost (its entry is dropped: nothing is there to list); a
 *     listed object whose bytes differ from its entry is damaged. Objects at the hour's keys that
 *     no part lists and no delivery in flight reserved are unlisted (a repair interrupted before
 *     its manifest, or a revision left by a version that rebuilt hours from scratch).
 *  2. The new part: the lines of unlisted objects whose `_id` no kept part holds (documents the
 *     archive had, which MongoDB may no longer have), then every document MongoDB has for the
 *     hour whose `_id` the archive does not hold. It is written to a temp file and delivered at
 *     the next free part number, never over an existing object (invariant 5).
 *  3. The manifest (one put) lists the kept parts plus the new one; the ledger records the same.
 *  4. Only then are damaged and unlisted objects moved out of the data prefix (superseded.ts):
 *     copied under `_superseded/`, the copy checked, the data key removed. Every object under the
 *     data prefix is thus live, and a glob over it reads each document once (invariant 9).
 *
 * An hour that lacks nothing and has nothing lost, damaged or unlisted is left exactly as it is:
 * an hour where MongoDB holds fewer documents than the archive (deleted at the source) keeps
 * them all.
 *
 * Memory is bounded whatever the hour's size. When the kept parts list no more `_id`s than the key
 * budget (src/spool/key-files.ts, ID_KEYS_IN_MEMORY), their keys are a `Set` and the hour's
 * documents stream through one query, each checked against it. Beyond, the keys go to an
 * ArchivedKeySet (hash-partitioned temp files under the work directory) and the new part is
 * found in two passes: the hour's `_id`s alone are listed (kept in a SourceIdList, bounded the same
 * way), compared with the archive partition by partition (one bit per salvaged line and per
 * `_id`: the first occurrence of a key the archive lacks is written), and the documents the
 * archive lacks are fetched by `_id`, 1,000 at a time, in the listing's order. Both ways write the
 * same lines. Plus 8 bytes per document added (repeats from the cursor are found by hash, as the
 * seal does); the documents stream.
 */
import { promises as fs, createWriteStream } from 'node:fs';
import type { Document } from 'mongodb';
import { EJSON } from 'bson';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import type { HourSlot } from '../hours/hour-clock.js';
import type { Operation } from '../ledger/operation-log.js';
import type { IdKey } from '../spool/document-ids.js';
import { idKeyOf } from '../spool/document-ids.js';
import { ArchivedKeySet } from '../spool/archived-key-set.js';
import type { KeyBudget } from '../spool/key-files.js';
import { ID_KEYS_IN_MEMORY } from '../spool/key-files.js';
import { SourceIdList } from '../spool/source-id-list.js';
import { gzipOptions } from '../spool/gzip-members.js';
import { lineEncoder } from '../spool/json-lines.js';
import { HashList, lineFacts } from '../spool/line-facts.js';
import type { ArchiveContext } from './context.js';
import { dropDuplicateLines } from './dedupe.js';
import { HashTap } from './hash-tap.js';
import type { HourObject } from './hour-objects.js';
import { listHourObjects, listedParts, newObjectRead, objectLines, partProblem, reservedParts, unlistedObjects } from './hour-objects.js';
import { hourDocuments, hourDocumentsById } from './hour-query.js';
import type { Manifest, ManifestPart } from './manifest.js';
import { partsKeySet } from './delivered-ids.js';
import { deliveredPart, InvalidManifestError, readManifest, writeManifest } from './manifest.js';
import { scanSpoolFile } from './scan.js';
import { TypeTree, unknownTypes } from '../spool/type-summary.js';
import { moveOutOfDataPrefix } from './superseded.js';

export interface RepairResult {
  hour: string;
  /** Whether the archive changed: a part added, the manifest rewritten, objects moved out. */
  changed: boolean;
  /** Documents in the new part (0 when none was written). */
  added: number;
  /** Of them, documents MongoDB had that the archive lacked. */
  fromMongo: number;
  /** Key of the new part, when one was written. */
  key?: string;
  /** Documents the hour's manifest counts afterwards. */
  count: number;
  /** Parts the manifest listed whose object was absent (their entries were dropped). */
  lost: ManifestPart[];
  /** Objects moved out of the data prefix: damaged listed objects and unlisted ones. */
  moved: Array<{ key: string; to: string; reason: 'damaged' | 'unlisted' }>;
  /** `_id`s found in more than one kept part (an append-only repair cannot take them out). */
  repeatedIds: number;
}

/** The `_id`s the kept parts hold: in memory up to the key budget, else in temp files (see the header). */
type Held = { kind: 'memory'; set: Set<IdKey> } | { kind: 'external'; set: ArchivedKeySet };

/** The key budget of a repair in `ctx`: temp files under its work directory. */
function budgetOf(ctx: Pick<ArchiveContext, 'workDirectory'>, budget: KeyBudget | undefined): KeyBudget {
  return { ...(ctx.workDirectory !== undefined ? { directory: ctx.workDirectory } : {}), ...budget };
}

/** What the hour holds: its intact parts and their `_id`s, and what is wrong with the rest. */
interface Holdings {
  manifest: Manifest | undefined;
  kept: ManifestPart[];
  held: Held;
  lost: ManifestPart[];
  damaged: string[];
  unlisted: HourObject[];
  repeatedIds: number;
  /** The next free part number of the hour. */
  nextPart: number;
  /** The parts the ledger recorded. */
  recorded: ManifestPart[];
}

/** Adds every `_id` of the kept parts to an ArchivedKeySet for `expected` keys (the external way). */
function keptKeySet(ctx: ArchiveContext, parts: readonly ManifestPart[], expected: number, budget: KeyBudget): Promise<ArchivedKeySet> {
  return partsKeySet(ctx.destination, parts, expected, budget);
}

async function readHoldings(ctx: ArchiveContext, slot: HourSlot, keyBudget: KeyBudget): Promise<Holdings> {
  // List first: a delivery that creates an object meanwhile reserved its part in the ledger
  // before, so the record read after the listing names it.
  const found = await listHourObjects(ctx.destination, ctx.keys, slot);
  const manifest = await readManifest(ctx.destination, ctx.keys.manifestKey(slot)).catch((err: unknown) => {
    if (err instanceof InvalidManifestError) return undefined; // rewritten from what the hour holds
    throw err;
  });
  const record = await ctx.ledger.get(slot);
  const listed = listedParts(manifest, record);
  const reserved = reservedParts(record);
  const present = new Set(found.map((o) => o.key));
  const held = new Set<IdKey>();
  const out: Holdings = { manifest, kept: [], held: { kind: 'memory', set: held }, lost: [], damaged: [], unlisted: [], repeatedIds: 0, nextPart: 1, recorded: record?.parts ?? [] };
  const toRead: ManifestPart[] = [];
  for (const part of listed) {
    if (!present.has(part.key) && (await ctx.destination.head(part.key)) === undefined) out.lost.push(part);
    else toRead.push(part);
  }
  const expected = toRead.reduce((n, p) => n + p.count, 0);
  if (expected > Math.max(1, keyBudget.keysInMemory ?? ID_KEYS_IN_MEMORY)) {
    // The external way: each part is read once to check it, and its keys go to temp files as
    // they stream; a damaged part's keys are not wanted, so then the kept parts are read again.
    let set = await ArchivedKeySet.open(expected, keyBudget);
    try {
      for (const part of toRead) {
        const read = newObjectRead();
        for await (const { id } of objectLines(ctx.destination, part.key, read)) if (set.add(id, out.kept.length)) await set.flush();
        if (partProblem(part, read) !== undefined) out.damaged.push(part.key);
        else out.kept.push(part);
      }
      if (out.damaged.length > 0) {
        await set.close();
        set = await keptKeySet(ctx, out.kept, expected, keyBudget);
      }
      await set.firstRepeat();
      out.repeatedIds = set.added - set.size;
    } catch (err) {
      await set.close();
      throw err;
    }
    out.held = { kind: 'external', set };
  } else {
    for (const part of toRead) {
      const ids: IdKey[] = [];
      const read = newObjectRead();
      for await (const { id } of objectLines(ctx.destination, part.key, read)) ids.push(id);
      if (partProblem(part, read) !== undefined) {
        out.damaged.push(part.key);
        continue;
      }
      for (const id of ids) {
        if (held.has(id)) out.repeatedIds++;
        else held.add(id);
      }
      out.kept.push(part);
    }
  }
  out.unlisted = unlistedObjects(found, listed, reserved);
  const used = [...listed.map((p) => p.part), ...found.map((o) => o.part.index), ...reserved];
  out.nextPart = used.length === 0 ? 1 : Math.max(...used) + 1;
  return out;
}

interface NewPart {
  part: ManifestPart;
  fromMongo: number;
  attempts: number;
}

/** What the external way writes (see the header): which lines to skip, and the hour's `_id`s. */
interface LackingPlan {
  /** Bit i: skip item i (the salvaged lines, in order, then the listed `_id`s). */
  skip: Uint8Array;
  /** The hour's `_id`s as MongoDB returned them, in the listing's order. */
  ids: SourceIdList;
}

/** Ids fetched by `_id` at a time. */
const FETCH_BATCH = 1000;

/**
 * The external way's first pass: the keys of the salvaged lines, then of the hour's `_id`s
 * (listed alone), against the kept parts' keys; a key met again counts as held (written once).
 */
async function lackingPlan(ctx: ArchiveContext, slot: HourSlot, held: ArchivedKeySet, salvage: readonly HourObject[], budget: KeyBudget): Promise<LackingPlan> {
  const ids = new SourceIdList(budget, { sortedKeys: false });
  const idKey = idKeyOf(ctx.jsonMode);
  async function* keys(): AsyncGenerator<IdKey> {
    for (const object of salvage) for await (const { id } of objectLines(ctx.destination, object.key, newObjectRead())) yield id;
    const cursor = hourDocuments(ctx, slot, { _id: 1 });
    try {
      for await (const doc of cursor) {
        const key = idKey(doc._id);
        await ids.add(doc._id, key);
        yield key;
      }
    } finally {
      await cursor.close().catch(() => undefined);
    }
  }
  try {
    return { skip: await held.heldPositions(keys(), { repeatsHeld: true }), ids };
  } catch (err) {
    await ids.close();
    throw err;
  }
}

const bitSet = (bits: Uint8Array, i: number): boolean => ((bits[i >> 3] ?? 0) & (1 << (i & 7))) !== 0;

/**
 * Writes the hour's new part (see the module comment, step 2) at part number `index` and
 * delivers it; undefined when there is nothing to add. Adds every `_id` it writes to `held`
 * (when held in memory).
 */
async function deliverNewPart(ctx: ArchiveContext, slot: HourSlot, index: number, held: Held, salvage: readonly HourObject[], budget: KeyBudget): Promise<NewPart | undefined> {
  const dir = ctx.workDirectory ?? tmpdir();
  await fs.mkdir(dir, { recursive: true });
  const tmp = join(dir, `repair-${slot.start}-${process.pid}-${Date.now()}.ndjson.gz`);
  const encode = lineEncoder(ctx.jsonMode);
  const idKey = idKeyOf(ctx.jsonMode);
  const field = ctx.timestampField.split('.');
  const plan = held.kind === 'external' ? await lackingPlan(ctx, slot, held.set, salvage, budget) : undefined;
  const cursor = held.kind === 'memory' ? hourDocuments(ctx, slot) : undefined;
  // Repeats from the cursor (a document that moved during the scan) are found by hash, as the
  // seal finds them, and dropped afterwards.
  const mongoIds = new HashList();
  // The part's BSON types: from the documents MongoDB returns (decoded with their wrappers), and
  // from salvaged ejson lines; salvaged analytics lines do not carry them (then unknown).
  const types = new TypeTree();
  let typesUnknown: string | undefined;
  let fromMongo = 0;
  let lineCount = 0;
  let first: string | undefined;
  let last: string | undefined;
  const seen = (ts: string | undefined): void => {
    if (ts === undefined) return;
    if (first === undefined || ts < first) first = ts;
    if (last === undefined || ts > last) last = ts;
  };
  // Lines go to gzip in chunks of ~1000: one write per line costs more than the encoding.
  async function* lines(): AsyncGenerator<string> {
    let chunk: string[] = [];
    const flush = (): string => {
      const out = `${chunk.join('\n')}\n`;
      chunk = [];
      return out;
    };
    const addDocument = (doc: Document, id: IdKey): void => {
      chunk.push(encode(doc));
      types.recordDocument(doc);
      mongoIds.pushKey(id);
      fromMongo++;
      lineCount++;
      let v: unknown = doc;
      for (const k of field) v = v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined;
      if (v instanceof Date && !Number.isNaN(v.getTime())) seen(v.toISOString());
    };
    let item = 0;
    for (const object of salvage) {
      for await (const { line, id } of objectLines(ctx.destination, object.key, newObjectRead())) {
        if (held.kind === 'memory') {
          if (held.set.has(id)) continue;
          held.set.add(id);
        } else if (bitSet((plan as LackingPlan).skip, item++)) continue;
        chunk.push(line);
        if (ctx.jsonMode === 'ejson') types.recordDocument(EJSON.parse(line, { relaxed: false }) as object);
        else typesUnknown ??= `lines salvaged from ${object.key} (not listed by the manifest) do not carry BSON types in analytics mode`;
        lineCount++;
        seen(lineFacts(line, field).ts);
        if (chunk.length >= 1000) yield flush();
      }
    }
    if (cursor !== undefined && held.kind === 'memory') {
      for await (const doc of cursor) {
        const id = idKey(doc._id);
        if (held.set.has(id)) continue;
        addDocument(doc, id);
        if (chunk.length >= 1000) yield flush();
      }
    } else if (plan !== undefined) {
      // The documents the archive lacks, fetched by `_id` in the listing's order.
      for await (const batch of plan.ids.batches(FETCH_BATCH)) {
        const wanted = batch.filter((_, j) => !bitSet(plan.skip, item + j));
        item += batch.length;
        if (wanted.length === 0) continue;
        const byKey = new Map<IdKey, Document>();
        for await (const doc of hourDocumentsById(ctx, slot, wanted)) byKey.set(idKey(doc._id), doc);
        for (const value of wanted) {
          const id = idKey(value);
          const doc = byKey.get(id);
          if (doc === undefined) continue; // deleted, or moved out of the hour, since the listing
          byKey.delete(id);
          addDocument(doc, id);
        }
        if (chunk.length >= 1000) yield flush();
      }
    }
    if (chunk.length > 0) yield flush();
  }
  try {
    const tap = new HashTap();
    await pipeline(Readable.from(lines()), createGzip(gzipOptions(ctx.gzipLevel)), tap, createWriteStream(tmp));
    let scan = { lines: lineCount, bytes: tap.bytes, sha256: tap.digest(), firstTimestamp: first, lastTimestamp: last };
    let duplicatesRemoved = 0;
    if (mongoIds.repeated().size > 0) {
      const full = await scanSpoolFile(tmp, ctx.timestampField);
      duplicatesRemoved = await dropDuplicateLines(tmp, full.duplicateIds, ctx.gzipLevel);
      fromMongo -= duplicatesRemoved;
      scan = await scanSpoolFile(tmp, ctx.timestampField);
    }
    if (scan.lines === 0) return undefined;
    const key = ctx.keys.dataKey(slot, { index, revision: 0 });
    const put = await ctx.destination.put({
      key,
      source: { path: tmp },
      size: scan.bytes,
      sha256: scan.sha256,
      contentType: 'application/x-ndjson',
      metadata: { hour: slot.id, count: String(scan.lines) },
      noOverwrite: true,
    });
    const part = deliveredPart(key, index, scan, duplicatesRemoved, typesUnknown === undefined ? types.summary() : unknownTypes(typesUnknown));
    return { part, fromMongo, attempts: put.attempts };
  } finally {
    await cursor?.close().catch(() => undefined);
    await plan?.ids.close();
    // The repair's own temp file under workDirectory (a copy of a query's result), not a spool file.
    await fs.rm(tmp, { force: true });
  }
}

function sameKeys(a: readonly ManifestPart[], b: readonly ManifestPart[]): boolean {
  const ka = a.map((p) => p.key).sort();
  const kb = b.map((p) => p.key).sort();
  return ka.length === kb.length && ka.every((k, i) => k === kb[i]);
}

/**
 * Repairs the hour (see the header). `budget`: how many `_id` keys may be held in memory (tests
 * pass a tiny one to take the external way).
 */
export async function repairHour(ctx: ArchiveContext, slot: HourSlot, op: Operation, budget?: KeyBudget): Promise<RepairResult> {
  const t0 = Date.now();
  const keyBudget = budgetOf(ctx, budget);
  const h = await readHoldings(ctx, slot, keyBudget);
  let added: NewPart | undefined;
  try {
    added = await deliverNewPart(ctx, slot, h.nextPart, h.held, h.unlisted, keyBudget);
  } finally {
    if (h.held.kind === 'external') await h.held.set.close();
  }
  const parts = added ? [...h.kept, added.part] : h.kept;
  const count = parts.reduce((n, p) => n + p.count, 0);
  const bytes = parts.reduce((n, p) => n + p.bytes, 0);
  const changed =
    added !== undefined || h.lost.length > 0 || h.damaged.length > 0 || h.unlisted.length > 0 || h.manifest === undefined || !sameKeys(h.manifest.parts, parts);
  const manifestKey = ctx.keys.manifestKey(slot);
  if (changed) await writeManifest(ctx, slot, parts);
  if (changed || !sameKeys(h.recorded, parts)) {
    await ctx.ledger.update(slot, { state: 'delivered', count, bytes, parts, manifestKey, lastError: null });
  }
  // The replacement is delivered and listed: now what it replaces may leave the data prefix.
  const moved: RepairResult['moved'] = [];
  for (const key of h.damaged) moved.push({ key, to: await moveOutOfDataPrefix(ctx.destination, key, ctx.workDirectory), reason: 'damaged' });
  for (const { key } of h.unlisted) moved.push({ key, to: await moveOutOfDataPrefix(ctx.destination, key, ctx.workDirectory), reason: 'unlisted' });
  const result: RepairResult = {
    hour: slot.id,
    changed,
    added: added?.part.count ?? 0,
    fromMongo: added?.fromMongo ?? 0,
    ...(added ? { key: added.part.key } : {}),
    count,
    lost: h.lost,
    moved,
    repeatedIds: h.repeatedIds,
  };
  if (changed) {
    await ctx.operations.record({
      op,
      hour: slot.id,
      hourStart: new Date(slot.start),
      outcome: 'ok',
      count: result.added,
      ...(added ? { bytes: added.part.bytes, key: added.part.key, attempts: added.attempts } : { key: manifestKey }),
      durationMs: Date.now() - t0,
      details: {
        added: result.added,
        fromMongo: result.fromMongo,
        keptParts: h.kept.length,
        lost: h.lost.map((p) => ({ key: p.key, count: p.count })),
        moved,
        repeatedIds: h.repeatedIds,
      },
    });
  }
  return result;
}
