/**
 * Child of bench/extmem/gap-repair-rss.ts: runs one gap repair (repairGap, src/source/gap-repair.ts)
 * with the archiver sources of the tree at `root` (argv: root uri db spoolDir from), over a copy
 * of a spool that holds part of the hour, into that spool (a fake capture: appends, flushes as
 * checkpoints, keeps the dedupe window the stream would resume with). Then it asks the window
 * about 10,000 archived `_id`s (all must be held) and prints one JSON line: documents written,
 * window size, seconds, CPU seconds, the process's peak RSS (VmHWM of /proc/self/status: not
 * getrusage's maxRSS, which a child inherits across fork+exec), peak heap used, and the heap
 * live after a full GC before the repair and with the window held (run with --expose-gc).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { MongoClient } from 'mongodb';
import type { Document } from 'mongodb';

const [root = '.', uri = '', db = '', spoolDir = '', fromArg = '0'] = process.argv.slice(2);
const from = Number(fromArg);
const src = (p: string): string => pathToFileURL(join(root, 'src', p)).href;

interface Probe { has(k: string): boolean; size: number; close?(): Promise<void> }
interface SpoolLike { open(state: unknown): Promise<unknown>; append(id: object, line: string, doc: object): void; flush(): Promise<unknown>; close(): Promise<void>; pendingBytes: number }
const { Spool } = (await import(src('spool/spool.js'))) as { Spool: new (o: object) => SpoolLike };
const { spoolLayout } = (await import(src('spool/spool-files.js'))) as { spoolLayout(dir: string, ns: string): object };
const { lineEncoder } = (await import(src('spool/json-lines.js'))) as { lineEncoder(mode: string): (doc: object) => string };
const { idKeyOf } = (await import(src('spool/document-ids.js'))) as { idKeyOf(mode: string): (id: unknown) => string };
const { HourClock } = (await import(src('hours/hour-clock.js'))) as { HourClock: new (zone: string) => { slotOf(ms: number): { start: number } } };
const { repairGap } = (await import(src('source/gap-repair.js'))) as {
  repairGap(capture: object, fromMs: number, reason: string): Promise<{ written: number }>;
};

async function vmHWM(): Promise<number> {
  const m = /^VmHWM:\s+(\d+)\s+kB/m.exec(await readFile('/proc/self/status', 'utf8'));
  return Number(m?.[1] ?? 0) / 1024;
}

const state = JSON.parse(await readFile(join(spoolDir, 'state.json'), 'utf8')) as unknown;
const client = new MongoClient(uri, { connectTimeoutMS: 600_000, serverSelectionTimeoutMS: 600_000, socketTimeoutMS: 0 });
await client.connect();
const coll = client.db(db).collection('apilogs');
const clock = new HourClock('UTC');
const encode = lineEncoder('analytics');
const idKey = idKeyOf('analytics');
const spool = new Spool({ layout: spoolLayout(spoolDir, `${db}.apilogs`), gzipLevel: 6, timestampField: 'createdAt' });
await spool.open(state);
let peakHeap = 0;
const sampler = setInterval(() => {
  peakHeap = Math.max(peakHeap, process.memoryUsage().heapUsed);
}, 50);
let window: Probe | undefined;
/** Heap used after a full GC (run with --expose-gc), MiB. */
const liveHeap = (): number => {
  (globalThis as { gc?: () => void }).gc?.();
  return process.memoryUsage().heapUsed / 1048576;
};
const liveBefore = liveHeap();
const cpu0 = process.cpuUsage();
const t0 = performance.now();
const out = await repairGap(
  {
    db: client.db(db),
    collection: coll,
    spool,
    clock,
    log: { debug() {}, info() {}, warn() {}, error() {}, child() { return this; } },
    timestampField: 'createdAt',
    jsonMode: 'analytics',
    idKey,
    maxPendingBytes: 8 * 1024 * 1024,
    keyBudget: { directory: spoolDir },
    closedHours: () => [],
    append: (doc: Document) => {
      const hour = clock.slotOf((doc.createdAt as Date).getTime()).start;
      spool.append({ hour, part: 1 }, encode(doc), doc);
      return hour;
    },
    checkpoint: async () => void (await spool.flush()),
    resumeAt: async (_t: unknown, dedupe: { ids: Probe }) => {
      window = dedupe.ids;
      await spool.flush();
    },
  },
  from,
  'history-lost',
);
const seconds = (performance.now() - t0) / 1000;
// What stays live while the stream catches up: the dedupe window's ids.
const liveWithWindow = liveHeap();
// The window while the stream catches up: 10,000 questions about archived `_id`s.
let held = 0;
const t1 = performance.now();
for await (const doc of coll.find({}, { projection: { _id: 1 }, limit: 10_000 })) if (window?.has(idKey(doc._id)) === true) held++;
const probeSeconds = (performance.now() - t1) / 1000;
const cpu = process.cpuUsage(cpu0);
clearInterval(sampler);
const size = window?.size;
await window?.close?.();
await spool.close();
await client.close();
process.stdout.write(
  `${JSON.stringify({ written: out.written, windowIds: size, windowHeld: held, seconds, probeSeconds, cpuSeconds: (cpu.user + cpu.system) / 1e6, peakRssMiB: await vmHWM(), peakHeapUsedMiB: peakHeap / 1048576, liveHeapBeforeMiB: liveBefore, liveHeapWithWindowMiB: liveWithWindow })}\n`,
);
