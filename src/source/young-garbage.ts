/**
 * Minor garbage collections (V8 scavenges) that the raw change stream asks for when the memory
 * V8 counts outside its heap (ArrayBuffers) has grown by COLLECT_AFTER_GROWTH since the last
 * collection, so that the driver's reply buffers are freed while they are young instead of by
 * full mark-compacts.
 *
 * Why: every getMore reply of about 370 KB (500 events) costs about twice its size in
 * ArrayBuffers outside V8's heap: the socket's read chunks (64 KiB each) and the driver's copy of
 * the whole message (mongodb's BufferPool.read). They die within two batches, but V8 frees an
 * ArrayBuffer only when a collection finds its object dead, and capture allocates so little on
 * the JavaScript heap (the events stay bytes: raw-change-stream.ts, spool/bson-lines.ts) that a
 * scavenge, which V8 starts when its 1-2 MiB young generation fills, comes only every few
 * thousand events. Meanwhile V8 counts the external bytes allocated since the last mark-compact
 * against the old generation's room (about 10 MiB above a heap of ~20 MiB), and starts a full
 * mark-compact when they fill it: one every 0.1-0.2 s at full speed, each marking the whole heap
 * on V8's helper threads. Measured with an archiver alone in its process, as `run` is
 * (bench/extmem/ceiling-alone.ts, 150,000 replayed events, 4 rounds per tree alternated, load
 * 17-20 on 2 cores): 12.7-17.3 mark-compacts per 100,000 events before, 4.0-4.7 with these
 * collections at 4 MiB of growth (30-32 scavenges; 2.7-3.3 at 2 MiB, below); CPU-µs per event of the threads other than the main one (V8's
 * helpers, zlib) 10.3-12.3 before, 6.3-8.9 after; of the whole process 20.3-24.9 before,
 * 13.6-20.2 after. A larger old generation
 * (`--initial-old-space-size`) does the same from the command line, but lets garbage grow to the
 * new limit (RSS; issue 21 item 2), and is no setting of the archiver.
 *
 * The measure is V8's own count of external memory (node:v8 getHeapStatistics, about 2 µs a
 * call, once per batch): a process whose JavaScript allocations already bring scavenges often
 * enough (a decoding driver loop beside it, say) keeps it low and is asked for none.
 *
 * The collector is V8's `gc` function with `{ type: 'minor' }`, exposed by `--expose-gc` set at
 * run time (node:v8 setFlagsFromString) and read from a new context (node:vm), as the bench
 * harness does (bench/lib/common.ts). Setting the flag makes `gc` a global of contexts created
 * afterwards (vm contexts), nothing else; where the function cannot be had, no collection is
 * asked for and capture goes on as before.
 */
import { getHeapStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/**
 * Growth of V8's external memory (bytes) since the last collection from which a minor
 * collection is asked for: well below the ~8 MiB at which V8 starts a mark-compact (see the
 * header; less with a smaller heap): about one getMore reply of 1,000 events with its socket
 * chunks, so in a catch-up nearly every batch ends with a scavenge. Measured with the ceiling
 * benchmark (2026-12-07 23:52-23:56 UTC, compiled sides, `run`'s flags, 2 paired runs per setting,
 * alternated, load 1.6-2.8), the archiver's CPU-µs per event pinned to one core: 2 MiB 7.40,
 * 7.27, 8.80, 6.87 (4.7-6.7 mark-compacts and 31-32 scavenges per 100,000 events); 1 MiB 6.80,
 * 6.67, 7.13, 6.60, 7.67, 7.00, 7.13, 7.27 (3.3-4.7 and 46-48); 512 KiB 7.13, 6.80, 6.80, 6.87
 * (4.0-5.3 and 47-48: the check runs once a batch, so below a batch's growth nothing changes).
 * Earlier, with batches of 500 (bench/extmem/ceiling-alone.ts, load 12.5-13.9): 2 MiB 2.7-3.3
 * mark-compacts and 50.7 scavenges per 100,000 events, 11.60-11.71 CPU-µs per event; 4 MiB 5.3
 * and 28.7-29.3, 11.61-12.09 µs; 8 MiB 14.7-16.0 and 10.7-14.0, 14.46-14.74 µs (too late: V8's
 * mark-compacts come first).
 */
export const COLLECT_AFTER_GROWTH = 1024 * 1024;

/** Asks V8 for a minor collection (synchronous). */
export type MinorCollection = () => void;

/** V8's `gc` function as `--expose-gc` defines it. */
export type V8Gc = (options?: { type: 'minor' }) => unknown;

let exposed: V8Gc | null | undefined;

/** V8's `gc` function, or null where it cannot be had (see the header). */
export function v8Gc(): V8Gc | null {
  if (exposed !== undefined) return exposed;
  try {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as unknown;
    exposed = typeof gc === 'function' ? (gc as V8Gc) : null;
  } catch {
    exposed = null;
  }
  return exposed;
}

/** V8's minor collection, or null where it cannot be had (see the header). */
export function minorCollection(): MinorCollection | null {
  const gc = v8Gc();
  return gc === null ? null : (): void => void gc({ type: 'minor' });
}

/** V8's count of the memory outside its heap that it accounts for (ArrayBuffers, zlib's). */
export function v8ExternalBytes(): number {
  return getHeapStatistics().external_memory;
}

/**
 * Asks for a collection whenever `measure()` has grown by `growth` since the lowest it was after
 * the last one asked for (a collection of V8's own lowers it too). YoungGarbage and OldGarbage
 * (old-garbage.ts) are this with their measure and threshold.
 */
export class GrowthCollections {
  private low: number;
  /** Collections asked for so far. */
  collections = 0;

  constructor(
    private readonly collect: (() => void) | null,
    private readonly measure: () => number,
    private readonly growth: number,
  ) {
    this.low = collect === null ? 0 : measure();
  }

  due(): void {
    if (this.collect === null) return;
    const now = this.measure();
    if (now < this.low) this.low = now;
    if (now - this.low < this.growth) return;
    this.collections++;
    this.collect();
    this.low = this.measure();
  }
}

/**
 * Asks for a minor collection whenever external memory has grown by `growth` since the lowest it
 * was after the last one; `due()` is called where no reply read so far is referenced any more
 * (the stream is about to wait for the next one).
 */
export class YoungGarbage extends GrowthCollections {
  constructor(collect: MinorCollection | null, external: () => number = v8ExternalBytes, growth = COLLECT_AFTER_GROWTH) {
    super(collect, external, growth);
  }
}
