/**
 * Peak RSS of `reconcile --repair` (repairHour, src/seal/rebuild.ts) of one big hour that lacks a
 * few documents, with the archiver sources of one or more trees (before/after a change): not one
 * of the `npm run bench` benchmarks, a measuring script.
 *
 *   node --import tsx bench/extmem/repair-rss.ts --docs 1000000 \
 *     --root before=/tmp/extmem-before --root after=. [--runs 2] [--late 1000] [--dir /tmp/repair-rss]
 *
 * The emulator (its own process) gets `--docs` generated documents (~400 bytes) in one hour,
 * archived once by `repairHour` of this tree to a local directory. Then, per run and per root
 * (alternating which goes first), `--late` more documents are inserted in the hour and a child
 * process (repair-child.ts) runs `repairHour` over the hour with that root's sources (reading
 * the hour's parts back, adding the late documents as a new part) and reports its peak RSS (the
 * kernel's high-water mark), seconds and CPU seconds.
 * `--child-heap 0,160` runs each root also with `--max-old-space-size=160` (0: V8's default):
 * whether the check fits a fixed heap at all, not only how far V8 lets the heap grow.
 */
import { fileURLToPath } from 'node:url';
import { openSharedContext } from '../../src/archive-context.js';
import { repairHour } from '../../src/seal/rebuild.js';
import { BENCH_HOUR, HOUR, benchConfig, quietLog } from '../lib/common.js';
import { insertGenerated } from '../lib/documents.js';
import { closeEmulatorClient, openEmulatorClient, runJsonChild } from './measuring-harness.js';

const DB = 'repair_rss';
const CHILD = fileURLToPath(new URL('./repair-child.ts', import.meta.url));

function parseArgs(argv: string[]): { docs: number; late: number; roots: Array<[string, string]>; runs: number; dir: string; heaps: number[] } {
  let docs = 100_000;
  let heaps = [0];
  let runs = 1;
  let dir = '/tmp/repair-rss';
  let late = 1000;
  const roots: Array<[string, string]> = [];
  for (let i = 0; i < argv.length; i++) {
    const v = argv[i + 1] ?? '';
    switch (argv[i]) {
      case '--docs':
        docs = Number(v.replace(/k$/i, '000').replace(/m$/i, '000000'));
        i++;
        break;
      case '--late':
        late = Number(v);
        i++;
        break;
      case '--runs':
        runs = Number(v);
        i++;
        break;
      case '--child-heap':
        heaps = v.split(',').map(Number);
        i++;
        break;
      case '--dir':
        dir = v;
        i++;
        break;
      case '--root': {
        const eq = v.indexOf('=');
        roots.push(eq > 0 ? [v.slice(0, eq), v.slice(eq + 1)] : [v, v]);
        i++;
        break;
      }
      default:
        throw new Error(`unknown argument ${argv[i]}`);
    }
  }
  if (roots.length === 0) roots.push(['this', fileURLToPath(new URL('../..', import.meta.url))]);
  return { docs, late, roots, runs, dir, heaps };
}

interface ChildResult {
  result: { added: number; fromMongo: number; count: number; repeatedIds: number };
  seconds: number;
  cpuSeconds: number;
  maxRssMiB: number;
  peakHeapUsedMiB: number;
}

/** Runs the child (`heapMiB` > 0: with --max-old-space-size); its result, or how it failed. */
function runChild(root: string, uri: string, dir: string, heapMiB: number): Promise<ChildResult | { failed: string }> {
  return runJsonChild<ChildResult>(CHILD, [root, uri, DB, dir, String(BENCH_HOUR)], heapMiB);
}

const { docs, late, roots, runs, dir, heaps } = parseArgs(process.argv.slice(2));
const opened = await openEmulatorClient(dir);
const { emu, client } = opened;
try {
  const config = benchConfig(emu.uri, DB, dir);
  const shared = openSharedContext(config, client, quietLog);
  const coll = client.db(DB).collection(config.collections.apiLogsCollectionName);
  process.stderr.write(`inserting ${docs} documents\n`);
  await insertGenerated(coll, docs, BENCH_HOUR, BENCH_HOUR + HOUR, { batch: 10_000 });
  process.stderr.write('archiving the hour (repairHour)\n');
  const t0 = performance.now();
  const repaired = await repairHour(shared, shared.clock.slotAt(BENCH_HOUR), 'backfill');
  process.stderr.write(`archived ${repaired.count} documents in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
  await shared.close();
  let lateBatches = 0;
  for (let r = 0; r < runs; r++) {
    const order = r % 2 === 0 ? roots : [...roots].reverse();
    for (const heapMiB of heaps) for (const [name, root] of order) {
      await insertGenerated(coll, late, BENCH_HOUR, BENCH_HOUR + HOUR, { seed: 1000 + lateBatches++, batch: late });
      const res = await runChild(root, emu.uri, dir, heapMiB);
      const heap = heapMiB > 0 ? heapMiB : 'default';
      if ('failed' in res) {
        process.stdout.write(`${JSON.stringify({ run: r + 1, name, docs, maxOldSpaceMiB: heap, failed: res.failed })}\n`);
        continue;
      }
      const row = res.result;
      process.stdout.write(
        `${JSON.stringify({ run: r + 1, name, docs, late, maxOldSpaceMiB: heap, added: row.added, fromMongo: row.fromMongo, count: row.count, maxRssMiB: +res.maxRssMiB.toFixed(1), peakHeapUsedMiB: +res.peakHeapUsedMiB.toFixed(1), seconds: +res.seconds.toFixed(2), cpuSeconds: +res.cpuSeconds.toFixed(2) })}\n`,
      );
    }
  }
} finally {
  await closeEmulatorClient(opened);
}
