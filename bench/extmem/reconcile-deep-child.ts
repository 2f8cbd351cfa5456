/**
 * Child of bench/extmem/reconcile-deep-rss.ts: runs `reconcileRange` with `deep` over one hour
 * with the archiver sources of the tree at `root` (argv: root uri db dir from), then prints one
 * JSON line: the rows, the seconds, the CPU seconds and the process's peak RSS
 * (`process.resourceUsage().maxRSS`, the kernel's high-water mark) and heap figures.
 */
import { MongoClient } from 'mongodb';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const [root = '.', uri = '', db = '', dir = '', fromArg = '0'] = process.argv.slice(2);
const from = Number(fromArg);
const src = (p: string): string => pathToFileURL(join(root, 'src', p)).href;

interface ConfigModule { parseConfig(input: object, env: object): unknown }
interface ContextModule { openSharedContext(config: unknown, client: MongoClient, log: object): { clock: unknown; close(): Promise<void> } }
interface ReconcileModule { reconcileRange(ctx: unknown, clock: unknown, o: { from: number; to: number; deep: boolean }): Promise<unknown> }

const { parseConfig } = (await import(src('config/resolve.js'))) as ConfigModule;
const { openSharedContext } = (await import(src('archive-context.js'))) as ContextModule;
const { reconcileRange } = (await import(src('reconcile/reconcile.js'))) as ReconcileModule;

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
const ctx = openSharedContext(config, client, quiet);
let peakHeap = 0;
const sampler = setInterval(() => {
  peakHeap = Math.max(peakHeap, process.memoryUsage().heapUsed);
}, 50);
const cpu0 = process.cpuUsage();
const t0 = performance.now();
const rows = await reconcileRange(ctx, ctx.clock, { from, to: from + 3_600_000, deep: true });
const seconds = (performance.now() - t0) / 1000;
const cpu = process.cpuUsage(cpu0);
clearInterval(sampler);
await ctx.close();
await client.close();
process.stdout.write(
  `${JSON.stringify({
    rows,
    seconds,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    maxRssMiB: process.resourceUsage().maxRSS / 1024,
    peakHeapUsedMiB: peakHeap / 1048576,
  })}\n`,
);
