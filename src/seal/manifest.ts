/**
 * The manifest of an archived hour, written beside its objects (see KeyLayout.manifestKey):
 *
 *   {
 *     "format": "cron-log-service/manifest@1",
 *     "hour": "2024-01-15T00:00+00:00",         // local start with offset (HourSlot.id)
 *     "start": "2024-01-15T00:00:00.000Z",      // UTC, inclusive
 *     "end": "2024-01-15T01:00:00.000Z",        // UTC, exclusive
 *     "timezone": "UTC",
 *     "namespace": "myapp.apilogs",
 *     "timestampField": "createdAt",
 *     "jsonMode": "analytics",
 *     "count": 1234,                            // documents in all parts
 *     "bytes": 56789,                           // compressed bytes in all parts
 *     "parts": [ { "key", "part", "revision", "count", "bytes", "sha256",
 *                  "firstTimestamp", "lastTimestamp", "duplicatesRemoved", "sealedAt",
 *                  "alreadyArchivedRemoved"?,   // restored documents the hour held already
 *                  "types": { "paths": { "_id": ["objectId"], "latencyMs": ["double", "int"] },
 *                             "mixed": ["latencyMs"], "capped"? }   // or { "unknown": "why" }
 *                } ],
 *     "mixedTypes": ["latencyMs"],             // fields of mixed BSON types across the hour
 *     "partsWithoutTypes": [],                  // parts whose types are unknown (legacy, lost facts)
 *     "tool": { "name": "cron-log-service", "version": "0.1.0" },
 *     "epoch": 7                                // lease epoch of the writer (absent: unfenced writer)
 *   }
 *
 * An hour that received no document still gets a manifest with count 0 and no parts, so the
 * archive shows the hour was processed. Parts are only ever added (late parts, and the parts
 * reconcile --repair adds): every object the manifest lists stays listed while it exists.
 * `revision` is 0 for every part written today; parts with a revision above 0 (`.rev1` keys)
 * were written by versions that rebuilt an hour from scratch. The namespace's owner checks its
 * fence right before the put (src/ledger/fence.ts): a fenced-out process writes no manifest.
 */
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import type { Destination } from '../deliver/destination.js';
import { isObjectNotFound } from '../deliver/errors.js';
import type { HourSlot } from '../hours/hour-clock.js';
import type { ArchivedPart } from '../ledger/hour-states.js';
import type { PartTypes } from '../spool/type-summary.js';
import { mergeTypes, typesKnown } from '../spool/type-summary.js';
import type { ArchiveContext } from './context.js';

const require = createRequire(import.meta.url);
const { version } = require('../../package.json') as { version: string };

export const MANIFEST_FORMAT = 'cron-log-service/manifest@1';
export const TOOL = { name: 'cron-log-service', version } as const;

/** One delivered object of the hour, as the manifest lists it and the ledger records it. */
export type ManifestPart = ArchivedPart;

export interface Manifest {
  format: typeof MANIFEST_FORMAT;
  hour: string;
  start: string;
  end: string;
  timezone: string;
  namespace: string;
  timestampField: string;
  jsonMode: string;
  count: number;
  bytes: number;
  parts: ManifestPart[];
  /** Fields that held more than one BSON type (besides null) in the hour (see hourTypeNotes). */
  mixedTypes?: string[];
  /** Parts without a type summary (their restore revives `_id` and the timestamp field only). */
  partsWithoutTypes?: number[];
  tool: { name: string; version: string };
  /** Lease epoch of the owner that wrote it (absent: written without the namespace lease). */
  epoch?: number;
}

/** What a delivered file's scan says about it, as a part records it. */
export interface PartFigures {
  lines: number;
  bytes: number;
  sha256: string;
  firstTimestamp?: string | undefined;
  lastTimestamp?: string | undefined;
}

/**
 * The manifest entry of a part just delivered at `key` (revision 0, sealed now), with its type
 * summary; `alreadyArchivedRemoved` (listed when above 0): lines dropped because a delivered part
 * of the hour held their `_id` (src/seal/already-archived.ts).
 */
export function deliveredPart(key: string, part: number, scan: PartFigures, duplicatesRemoved: number, types: PartTypes, alreadyArchivedRemoved = 0): ManifestPart {
  return {
    key,
    part,
    revision: 0,
    count: scan.lines,
    bytes: scan.bytes,
    sha256: scan.sha256,
    firstTimestamp: scan.firstTimestamp ?? null,
    lastTimestamp: scan.lastTimestamp ?? null,
    duplicatesRemoved,
    ...(alreadyArchivedRemoved > 0 ? { alreadyArchivedRemoved } : {}),
    sealedAt: new Date().toISOString(),
    types,
  };
}

/**
 * The fields of the hour that held more than one BSON type (besides null), in a part or across
 * parts, and the parts whose types are not known (legacy parts, or types lost with the spool's
 * facts): what a restore of the hour cannot revive exactly.
 */
export function hourTypeNotes(parts: readonly ManifestPart[]): { mixedTypes: string[]; partsWithoutTypes: number[] } {
  const known = parts.map((p) => p.types).filter(typesKnown);
  const merged = mergeTypes(known);
  const mixed = typesKnown(merged) ? merged.mixed : [];
  return { mixedTypes: mixed, partsWithoutTypes: parts.filter((p) => !typesKnown(p.types)).map((p) => p.part) };
}

export function buildManifest(
  slot: HourSlot,
  ctx: { namespace: string; timestampField: string; jsonMode: string },
  parts: readonly ManifestPart[],
  epoch?: number,
): Manifest {
  const sorted = [...parts].sort((a, b) => a.part - b.part || a.revision - b.revision);
  return {
    format: MANIFEST_FORMAT,
    hour: slot.id,
    start: new Date(slot.start).toISOString(),
    end: new Date(slot.end).toISOString(),
    timezone: slot.zone,
    namespace: ctx.namespace,
    timestampField: ctx.timestampField,
    jsonMode: ctx.jsonMode,
    count: sorted.reduce((n, p) => n + p.count, 0),
    bytes: sorted.reduce((n, p) => n + p.bytes, 0),
    parts: sorted,
    ...hourTypeNotes(sorted),
    tool: { ...TOOL },
    ...(epoch === undefined ? {} : { epoch }),
  };
}

export function manifestBytes(m: Manifest): Buffer {
  return Buffer.from(`${JSON.stringify(m, null, 2)}\n`);
}

/** The object at a manifest's key is not a readable manifest (not JSON, or another format). */
export class InvalidManifestError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'InvalidManifestError';
  }
}

export function parseManifest(text: string, key: string): Manifest {
  let m: Partial<Manifest>;
  try {
    m = JSON.parse(text) as Partial<Manifest>;
  } catch (err) {
    throw new InvalidManifestError(`${key} is not JSON: ${(err as Error).message}`, { cause: err });
  }
  if (m === null || typeof m !== 'object' || m.format !== MANIFEST_FORMAT || !Array.isArray(m.parts) || typeof m.count !== 'number') {
    throw new InvalidManifestError(`${key} is not a cron-log-service manifest (format "${String(m?.format)}")`);
  }
  return m as Manifest;
}

/** What writing a manifest needs of the archive context. */
export type ManifestContext = Pick<ArchiveContext, 'destination' | 'keys' | 'namespace' | 'timestampField' | 'jsonMode' | 'fencing'>;

/**
 * Reads the hour's manifest from the destination; undefined when there is none. One request: the
 * get itself says when there is no object at the key (no HEAD first).
 */
export async function readManifest(destination: Destination, key: string): Promise<Manifest | undefined> {
  let body: NodeJS.ReadableStream;
  try {
    body = await destination.get(key);
  } catch (err) {
    if (isObjectNotFound(err)) return undefined;
    throw err;
  }
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(Buffer.from(chunk as Buffer));
  return parseManifest(Buffer.concat(chunks).toString('utf8'), key);
}

/** Writes (or replaces, in one put) the manifest of an hour; returns its key. */
export async function writeManifest(ctx: ManifestContext, slot: HourSlot, parts: readonly ManifestPart[]): Promise<string> {
  await ctx.fencing?.check();
  const body = manifestBytes(buildManifest(slot, ctx, parts, ctx.fencing?.epoch));
  const key = ctx.keys.manifestKey(slot);
  await ctx.destination.put({
    key,
    source: { body },
    size: body.length,
    sha256: createHash('sha256').update(body).digest('hex'),
    contentType: 'application/json',
    // Rewritten whole at every change of the hour: no need to look at what is there first.
    replace: true,
  });
  return key;
}
