/**
 * Peak RSS of a gap repair (src/source/gap-repair.ts: a resume token lost, the hour rebuilt from
 * a query, the stream resumed with a dedupe window) over one big hour, with the archiver sources
 * of one or more trees (before/after a change): not one of the `npm run bench` benchmarks, a
 * measuring script.
 *
 *   node --import tsx bench/extmem/gap-repair-rss.ts --docs 1000000 \
 *     --root before=/tmp/gap-before --root after=. [--runs 1] [--spooled 0.5] [--child-heap 0,160] [--dir /tmp/gap-repair-rss]
 *
 * The emulator (its own process) gets `--docs` generated documents (~400 bytes) in one hour. This
 * tree writes the first `--spooled` fraction of them (in `_id` order) to a spool (what capture
 * had written before its resume token fell off the oplog). Then per run and per root
 * (alternating which goes first), a child process (gap-repair-child.ts) repairs the hour into a
 * copy of that spool with that root's sources and reports its peak RSS (VmHWM), seconds, CPU
 * seconds, the documents written and the size of its dedupe window's `_id` set. `--child-heap
 * 0,160` runs each root also with `--max-old-space-size=160` (0: V8's default): whether the
 * repair fits a fixed heap at all, not only how far V8 lets the heap grow.
 */
import { cp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BENCH_HOUR, HOUR } from '../lib/common.js';
import { insertGenerated } from '../lib/documents.js';
import { closeEmulatorClient, openEmulatorClient, runJsonChild } from './measuring-harness.js';
import { HourClock } from '../../src/hours/hour-clock.js';
import { lineEncoder } from '../../src/spool/json-lines.js';
import { Spool } from '../../src/spool/spool.js';
import { spoolLayout } from '../../src/spool/spool-files.js';

const DB = 'gap_repair_rss';
const CHILD = fileURLToPath(new URL('./gap-repair-child.ts', import.meta.url));

function parseArgs(argv: string[]): { docs: number; spooled: number; roots: Array<[string, string]>; runs: number; dir: string; heaps: number[] } {
  let docs = 100_000;
  let heaps = [0];
  let spooled = 0.5;
  let runs = 1;
  let dir = '/tmp/gap-repair-rss';
  const roots: Array<[string, string]> = [];
  for (let i = 0; i < argv.length; i += 2) {
    const v = argv[i + 1] ?? '';
    switch (argv[i]) {
      case '--docs':
        docs = Number(v.replace(/k$/i, '000').replace(/m$/i, '000000'));
        break;
      case '--spooled':
        spooled = Number(v);
        break;
      case '--child-heap':
        heaps = v.split(',').map(Number);
        break;
      case '--runs':
        runs = Number(v);
        break;
      case '--dir':
        dir = v;
        break;
      case '--root': {
        const eq = v.indexOf('=');
        roots.push(eq > 0 ? [v.slice(0, eq), v.slice(eq + 1)] : [v, v]);
        break;
      }
      default:
        throw new Error(`unknown argument ${argv[i]}`);
    }
  }
  if (roots.length === 0) roots.push(['this', fileURLToPath(new URL('../..', import.meta.url))]);
  return { docs, spooled, roots, runs, dir, heaps };
}

function runChild(root: string, uri: string, spoolDir: string, heapMiB: number): Promise<Record<string, unknown>> {
  return runJsonChild<Record<string, unknown>>(CHILD, [root, uri, DB, spoolDir, String(BENCH_HOUR)], heapMiB, ['--expose-gc']);
}

const { docs, spooled, roots, runs, dir, heaps } = parseArgs(process.argv.slice(2));
const opened = await openEmulatorClient(dir);
const { emu, client } = opened;
try {
  const coll = client.db(DB).collection('apilogs');
  process.stderr.write(`inserting ${docs} documents\n`);
  await insertGenerated(coll, docs, BENCH_HOUR, BENCH_HOUR + HOUR, { batch: 10_000 });
  await coll.createIndex({ createdAt: 1 });
  const inSpool = Math.round(docs * spooled);
  process.stderr.write(`spooling ${inSpool} of them\n`);
  const base = join(dir, 'spool-base');
  const spool = new Spool({ layout: spoolLayout(base, `${DB}.apilogs`), gzipLevel: 6, timestampField: 'createdAt' });
  await spool.open(undefined);
  const clock = new HourClock('UTC');
  const encode = lineEncoder('analytics');
  let n = 0;
  for await (const doc of coll.find({}, { sort: { _id: 1 }, limit: inSpool, promoteValues: false, bsonRegExp: true })) {
    spool.append({ hour: clock.slotOf((doc.createdAt as Date).getTime()).start, part: 1 }, encode(doc), doc);
    if (++n % 50_000 === 0) await spool.flush();
  }
  const state = await spool.flush();
  await spool.close();
  await writeFile(join(base, 'state.json'), JSON.stringify(state));
  for (let r = 0; r < runs; r++) {
    const order = r % 2 === 0 ? roots : [...roots].reverse();
    for (const heapMiB of heaps) for (const [name, root] of order) {
      const spoolDir = join(dir, `spool-${name}-${r}`);
      await cp(base, spoolDir, { recursive: true });
      const res = await runChild(root, emu.uri, spoolDir, heapMiB);
      process.stdout.write(`${JSON.stringify({ run: r + 1, name, docs, spooled: inSpool, maxOldSpaceMiB: heapMiB > 0 ? heapMiB : 'default', ...res })}\n`);
      await rm(spoolDir, { recursive: true, force: true });
    }
  }
} finally {
  await closeEmulatorClient(opened);
}
