/**
 * Child of bench/extmem/repair-rss.ts: runs `repairHour` (what reconcile --repair and backfill
 * run) over one hour with the archiver sources of the tree at `root` (argv: root uri db dir
 * from), then prints one JSON line: the result, the seconds, the CPU seconds and the process's
 * peak RSS (`process.resourceUsage().maxRSS`, the kernel's high-water mark) and heap figures.
 */
import { MongoClient } from 'mongodb';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const [root = '.', uri = '', db = '', dir = '', fromArg = '0'] = process.argv.slice(2);
const from = Number(fromArg);
const src = (p: string): string => pathToFileURL(join(root, 'src', p)).href;

interface ConfigModule { parseConfig(input: object, env: object): unknown }
interface ContextModule { openSharedContext(config: unknown, client: MongoClient, log: object): { clock: unknown; close(): Promise<void> } }
interface RebuildModule { repairHour(ctx: unknown, slot: unknown, op: string): Promise<{ added: number; fromMongo: number; count: number; repeatedIds: number }> }

const { parseConfig } = (await import(src('config/resolve.js'))) as ConfigModule;
const { openSharedContext } = (await import(src('archive-context.js'))) as ContextModule;
const { repairHour } = (await import(src('seal/rebuild.js'))) as RebuildModule;

function withDb(u: string, name: string): string {
  const url = new URL(u);
  url.pathname = `/${name}`;
  return url.toString();
}

const quiet = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };
const config = parseConfig(
  {
    dbUri: withDb(uri, db),
    uploadProvider: 'file',
    localDirectory: join(dir, 'archive'),
    spoolDirectory: join(dir, 'spool-child'),
    sealSchedule: '0 0 1 1 *',
    logging: { level: 'error', enableConsole: false },
  },
  {},
);
// Generous timeouts: a 1M-document hour keeps the (single-threaded) emulator busy for long stretches.
const client = new MongoClient(withDb(uri, db), { connectTimeoutMS: 600_000, serverSelectionTimeoutMS: 600_000, socketTimeoutMS: 0 });
await client.connect();
const ctx = openSharedContext(config, client, quiet) as unknown as { clock: { slotAt(ms: number): unknown }; close(): Promise<void> };
let peakHeap = 0;
const sampler = setInterval(() => {
  peakHeap = Math.max(peakHeap, process.memoryUsage().heapUsed);
}, 50);
const cpu0 = process.cpuUsage();
const t0 = performance.now();
const result = await repairHour(ctx, ctx.clock.slotAt(from), 'repair');
const seconds = (performance.now() - t0) / 1000;
const cpu = process.cpuUsage(cpu0);
clearInterval(sampler);
await ctx.close();
await client.close();
process.stdout.write(
  `${JSON.stringify({
    result,
    seconds,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    maxRssMiB: process.resourceUsage().maxRSS / 1024,
    peakHeapUsedMiB: peakHeap / 1048576,
  })}\n`,
);
