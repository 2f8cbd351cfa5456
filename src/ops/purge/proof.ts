/**
 * The proof that an hour is archived, taken by `purge` right before it deletes anything of the
 * hour from MongoDB. An hour is proven archived when, at that moment:
 *
 *  1. its ledger record says it is sealed and delivered (`delivered` or `verified`; not
 *     `sealed`: delivery pending or failed; not `mismatch`: reconcile found a problem) and no
 *     delivery of a part of it is in flight (no part reservation);
 *  2. capture holds nothing of it that is not delivered: no open spool file in the checkpoint,
 *     no sealed file waiting in the local spool directory, no repair from a query pending for it;
 *  3. its manifest is readable, every object the manifest lists exists with the manifest's size,
 *     and no other object sits at the hour's keys;
 *  4. every listed object, read back, has the manifest's SHA-256 and line count and decodes; no
 *     `_id` repeats within the hour; the parts add up to the manifest's count
 *     (src/reconcile/archived-ids.ts, the deep check `reconcile --deep` makes);
 *  5. every `_id` MongoDB holds for the hour is in the archive, and (for an hour never purged
 *     before) the archive holds no `_id` the hour lacks in MongoDB. An hour a purge already began
 *     (`purge.state` in its ledger record: `purging` after a crash, or `purged` with documents
 *     written since and archived as a late part) only needs MongoDB ⊆ archive: documents are
 *     missing from MongoDB because the purge deleted them.
 *
 * A proven hour comes with the `_id`s to delete: those MongoDB held for the hour that the archive
 * holds, as MongoDB stores them. A document written to the hour later is not among them: it is
 * never deleted by this purge (capture archives it as a late part; a later purge may then take
 * it). Any hour not proven gets a reason (a stable code) and a sentence saying what to do.
 */
import { promises as fs } from 'node:fs';
import type { HourSlot } from '../../hours/hour-clock.js';
import type { CaptureCheckpoint } from '../../ledger/checkpoints.js';
import type { HourRecord, PurgedObject } from '../../ledger/hour-states.js';
import type { SourceIds } from '../../reconcile/archived-ids.js';
import { compareSourceIds, readArchivedIds } from '../../reconcile/archived-ids.js';
import type { ArchiveContext } from '../../seal/context.js';
import { listHourObjects, reservedParts, unlistedObjects } from '../../seal/hour-objects.js';
import type { Manifest } from '../../seal/manifest.js';
import { readManifest } from '../../seal/manifest.js';
import { SourceIdList } from '../../spool/source-id-list.js';
import { parseSpoolFileName, spoolLayout } from '../../spool/spool-files.js';

/** Why an hour is not proven archived (stable codes: reports, `logs`, tests). */
export type SkipReason =
  | 'not-archived'
  | 'not-delivered'
  | 'mismatch'
  | 'capture-pending'
  | 'manifest-unreadable'
  | 'missing-object'
  | 'tampered-object'
  | 'unlisted-object'
  | 'repeated-id'
  | 'source-not-archived'
  | 'archive-not-in-source';

export type HourProof =
  | {
      proven: true;
      manifest: Manifest;
      /** The objects read back and hashed. */
      objects: PurgedObject[];
      /**
       * The `_id`s to delete: MongoDB's documents of the hour that the archive holds, in
       * MongoDB's order (spilled to a temp file beyond the key budget; the caller closes it).
       */
      ids: SourceIdList;
      /** The hour was purged before (its ledger record has `purge`). */
      resumed: boolean;
    }
  | { proven: false; reason: SkipReason; detail: string };

/** The hour starts (UTC ms) capture still holds undelivered documents of (see the header, 2). */
export async function hoursHeldByCapture(checkpoint: CaptureCheckpoint | undefined, spoolDirectory: string | undefined, namespace: string): Promise<Set<number>> {
  const held = new Set<number>();
  for (const f of [...(checkpoint?.spool.files ?? []), ...(checkpoint?.spool.closing ?? [])]) held.add(f.hour);
  for (const h of checkpoint?.pendingRepair?.lostHours ?? []) held.add(h);
  for (const u of checkpoint?.pendingRepair?.undelivered ?? []) held.add(u.hour);
  if (spoolDirectory !== undefined) {
    // Sealed files wait here for delivery (on the host of `run`; none when it runs elsewhere).
    const names = await fs.readdir(spoolLayout(spoolDirectory, namespace).sealed).catch(() => [] as string[]);
    for (const name of names) {
      const id = parseSpoolFileName(name);
      if (id) held.add(id.hour);
    }
  }
  return held;
}

function skip(reason: SkipReason, detail: string): HourProof {
  return { proven: false, reason, detail };
}

/** The ledger's side of the proof (see the header, 1 and 2); undefined when it passes. */
export function ledgerProblem(record: HourRecord | undefined, heldByCapture: boolean): HourProof | undefined {
  if (!record) return skip('not-archived', 'no ledger record: the hour was never sealed (archive it with `backfill` first)');
  if (record.state === 'sealed') {
    return skip('not-delivered', `the hour is sealed but not delivered${record.lastError ? ` (${record.lastError})` : ''}; the next seal run of \`run\` delivers it`);
  }
  if (record.state === 'mismatch') {
    return skip('mismatch', `reconcile found the hour does not match MongoDB (MongoDB ${record.reconcile?.mongo ?? '?'}, archive ${record.reconcile?.archived ?? record.count}); run reconcile --deep, then --repair`);
  }
  if (reservedParts(record).size > 0) return skip('capture-pending', 'a part of the hour is being delivered (a reservation in the ledger); purge it after the next seal run');
  if (heldByCapture) return skip('capture-pending', 'capture holds documents of the hour not yet delivered (an open or sealed spool file, or a pending repair); purge it after the next seal run');
  return undefined;
}

/** Proves the hour archived now, or says why it is not (see the header). */
export async function proveHour(ctx: ArchiveContext, slot: HourSlot, record: HourRecord | undefined, heldByCapture: boolean): Promise<HourProof> {
  const problem = ledgerProblem(record, heldByCapture);
  if (problem) return problem;
  let manifest: Manifest | undefined;
  try {
    manifest = await readManifest(ctx.destination, ctx.keys.manifestKey(slot));
  } catch (err) {
    return skip('manifest-unreadable', `the manifest ${ctx.keys.manifestKey(slot)} is unreadable: ${(err as Error).message}`);
  }
  if (!manifest) return skip('not-delivered', `the hour has no manifest at ${ctx.keys.manifestKey(slot)}; reconcile --repair rebuilds it`);
  for (const part of manifest.parts) {
    const info = await ctx.destination.head(part.key);
    if (!info) return skip('missing-object', `${part.key} is listed in the manifest but absent; reconcile --repair adds what MongoDB still has of it`);
    if (info.size !== part.bytes) return skip('tampered-object', `${part.key} has ${info.size} bytes, the manifest says ${part.bytes}`);
  }
  const unlisted = unlistedObjects(await listHourObjects(ctx.destination, ctx.keys, slot), manifest.parts, reservedParts(record));
  if (unlisted.length > 0) {
    return skip('unlisted-object', `not listed in the manifest, yet under the data prefix: ${unlisted.map((o) => o.key).join(', ')}; run reconcile --repair first`);
  }
  const read = await readArchivedIds(ctx, manifest);
  if ('problem' in read) return skip(read.kind === 'repeated-id' ? 'repeated-id' : 'tampered-object', read.problem);
  // MongoDB's `_id`s of the hour, in its order: all held by the archive once none is lacking.
  const ids = new SourceIdList(ctx.workDirectory !== undefined ? { directory: ctx.workDirectory } : {});
  let proven = false;
  try {
    const source = await compareSourceIds(ctx, slot, read.ids, (id, key) => ids.add(id, key)).finally(() => read.ids.close());
    const why = sourceProblem(source, read.ids.size, record);
    if (why !== undefined) return why;
    const objects = manifest.parts.map((p) => ({ key: p.key, sha256: p.sha256, bytes: p.bytes, count: p.count }));
    proven = true;
    return { proven: true, manifest, objects, ids, resumed: record?.purge !== undefined };
  } finally {
    if (!proven) await ids.close();
  }
}

/** The source's side of the proof (see the header, 5); undefined when it passes. */
function sourceProblem(source: SourceIds, archivedIds: number, record: HourRecord | undefined): HourProof | undefined {
  if (source.lacking > 0) {
    return skip(
      'source-not-archived',
      `MongoDB holds ${source.lacking} document(s) of the hour the archive lacks (e.g. _id ${source.lackingExamples.join(', ')}): written after the hour was archived; ` +
        'they are archived as a late part by `run` (or reconcile --repair), then purge can prove the hour',
    );
  }
  const resumed = record?.purge !== undefined;
  if (!resumed && source.archived !== archivedIds) {
    return skip(
      'archive-not-in-source',
      `the archive holds ${archivedIds - source.archived} _id(s) of the hour MongoDB lacks (deleted at the source after archiving): the hour is not the archive's, ` +
        'so it is not purged; reconcile reports it deleted-at-source',
    );
  }
  return undefined;
}
