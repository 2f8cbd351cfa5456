/**
 * Full collections (V8 mark-compacts) asked for while `run` allocates slowly, so that its old
 * generation does not fill with garbage for minutes at a time.
 *
 * Why: at a steady 3,000 events/s the objects that outlive two scavenges (lines waiting for their
 * member, a batch's bookkeeping) reach the old generation and die there, and V8 starts a
 * mark-compact only when the old generation reaches a limit it sets far above the live heap.
 * While MongoDB is slow (a reconcile counting a 3M-document hour on the emulator: 49 s), capture
 * goes on and the used heap climbed from 30 to 38 MiB with no collection; over longer stalls it
 * goes on climbing. Measured with `npm run bench -- --only memory --hour-size 3m` (2026-12-07):
 * see docs/performance.md, memory row.
 *
 * Every COMPACT_CHECK_MS the archiver looks at V8's used heap; once it is COMPACT_AFTER_GROWTH
 * above the lowest it was since the last collection asked for, it asks V8 for one (a pause of ~30-50
 * ms on a heap of ~30-40 MiB; at most one per check, so at most ~0.5 % of a core). Under a high
 * event rate V8's own collections come first and keep the used heap low, so none is asked for.
 * V8's `gc` comes from young-garbage.ts (`--expose-gc` set at run time); where it cannot be had,
 * nothing is asked for.
 */
import { getHeapStatistics } from 'node:v8';
import { GrowthCollections, v8Gc } from './young-garbage.js';

/** Growth of the used heap (bytes) since the lowest it was after the last collection asked for. */
export const COMPACT_AFTER_GROWTH = 4 * 1024 * 1024;

/** How often the archiver checks (ms). */
export const COMPACT_CHECK_MS = 10_000;

/** Asks V8 for a full collection (synchronous). */
export type MajorCollection = () => void;

/**
 * V8's full collection, or null where it cannot be had. `gc()` without options: a precise full
 * collection (~33-50 ms on a heap of ~31 MiB with 300,000 objects, measured 2026-12-07); in
 * Node 20's V8, `gc({ type: 'major' })` returns in ~0.5 ms and frees nothing of old garbage.
 */
export function majorCollection(): MajorCollection | null {
  const gc = v8Gc();
  return gc === null ? null : (): void => void gc();
}

/** V8's used heap (bytes). */
export function v8UsedHeapBytes(): number {
  return getHeapStatistics().used_heap_size;
}

/** Asks for a full collection whenever the used heap has grown by `growth` since the lowest it was after the last one. */
export class OldGarbage extends GrowthCollections {
  constructor(collect: MajorCollection | null, usedHeap: () => number = v8UsedHeapBytes, growth = COMPACT_AFTER_GROWTH) {
    super(collect, usedHeap, growth);
  }

  /** The archiver's check, every COMPACT_CHECK_MS. */
  check(): void {
    this.due();
  }
}
