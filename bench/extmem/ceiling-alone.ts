/**
 * The capture ceiling of an archiver alone in its process, as `cron-log-service run` is: not one
 * of the `npm run bench` benchmarks (bench/ceiling.ts measures the pair, each side in a process
 * of its own since 2026-12-07 18:00), a measuring script for V8's collections
 * (src/source/young-garbage.ts): several rounds in one process, no baseline.
 *
 *   node --import tsx bench/extmem/ceiling-alone.ts [--count 150000] [--rounds 2]
 *
 * The emulator and the replay source (bench/children/change-replay.ts) run in their own
 * processes, as in the ceiling benchmark; this process runs only Tailers (default config, as
 * `tailerFor` builds them), one per round on a fresh spool, each timed from the replay's "go"
 * until the spool's durable line count reaches --count. Per round: events/s; CPU-µs per event of
 * this process (all threads), of its main thread, and of its other threads (zlib on libuv's pool,
 * V8's helpers: marking, sweeping, scavenging); V8's mark-compacts and scavenges per 100,000
 * events (perf_hooks 'gc' entries, over the window; the scavenges include those the raw change
 * stream asked for); the main thread's event-loop utilisation (perf_hooks; idle: waiting for
 * I/O); then the CPU per event of each of its threads (/proc/self/task; Node 20 names them all
 * `node`: the main thread's id is the pid, the rest are libuv's pool and V8's helpers). To
 * compare trees, copy this script into the other tree and run it there.
 */
import { readdir, rm } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { MongoClient } from 'mongodb';
import { tailerFor } from '../../src/archiver.js';
import { BENCH_HOUR, HOUR, benchConfig, freshDir, quietLog, settle, until } from '../lib/common.js';
import { cpuSecondsOf, ownCpuSeconds, startEmulatorProcess } from '../lib/emulator-process.js';
import { startChangeReplay } from '../lib/change-replay-process.js';
import { durableLines } from '../capture.js';
import { GcCounter } from '../lib/gc-counter.js';

const { values } = parseArgs({ options: { count: { type: 'string', default: '150000' }, rounds: { type: 'string', default: '2' }, dir: { type: 'string', default: '/tmp/ceiling-alone' } } });
const count = Number(values.count);
const rounds = Number(values.rounds);

/** CPU seconds of this process's threads by thread id (Node 20 names them all `node`). */
async function cpuByThread(): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const tid of await readdir('/proc/self/task')) {
    try {
      out.set(tid, await cpuSecondsOf(process.pid, Number(tid)));
    } catch {
      // the thread ended meanwhile
    }
  }
  return out;
}

const gcs = new GcCounter();
gcs.start();

const emu = await startEmulatorProcess({});
const replay = await startChangeReplay({ upstream: emu.uri, count, from: BENCH_HOUR, to: BENCH_HOUR + HOUR });
const client = new MongoClient(replay.uri);
await client.connect();
try {
  for (let r = 0; r < rounds; r++) {
    const db = `ceiling_alone_${r}`;
    const dir = await freshDir(values.dir, `r${r}`);
    await replay.hold();
    await replay.serve(count);
    const tailer = tailerFor(benchConfig(replay.uri, db, dir), client, quietLog);
    const opened = replay.opened();
    await tailer.start();
    await opened;
    await settle();
    const threads0 = await cpuByThread();
    const cpu0 = ownCpuSeconds();
    const main0 = await cpuSecondsOf(process.pid, process.pid);
    const gc0 = gcs.counts();
    const elu0 = performance.eventLoopUtilization();
    const t0 = await replay.go();
    await until(() => durableLines(tailer.spool.state()) >= count, 'every document durable', 300_000, 2);
    const seconds = (performance.now() - t0) / 1000;
    const elu = performance.eventLoopUtilization(elu0);
    const cpu = ownCpuSeconds() - cpu0;
    const main = (await cpuSecondsOf(process.pid, process.pid)) - main0;
    const threads1 = await cpuByThread();
    // perf_hooks delivers 'gc' entries after the collection: let the last ones arrive.
    await new Promise((resolve) => setTimeout(resolve, 50));
    const gc1 = gcs.counts();
    const stats = tailer.stats();
    const bytes = tailer.spool.state().files.reduce((n, f) => n + f.offset, 0);
    await tailer.stop();
    const us = (s: number): string => ((s * 1e6) / count).toFixed(2);
    const per100k = (n: number): string => ((n * 100_000) / count).toFixed(1);
    const load = (await import('node:os')).loadavg().map((l) => l.toFixed(2)).join(' ');
    console.log(
      `round ${r + 1}/${rounds}: ${Math.round(count / seconds)} events/s; CPU-µs per event: process ${us(cpu)}, main thread ${us(main)}, other threads ${us(cpu - main)}; ` +
        `per 100k events: ${per100k(gc1.majors - gc0.majors)} mark-compacts, ${per100k(gc1.minors - gc0.minors)} scavenges; ` +
        `event-loop utilisation ${elu.utilization.toFixed(3)} (idle ${Math.round(elu.idle)} ms); ${stats.gzipBurstMembers} members at the burst level, ${(bytes / count).toFixed(1)} spool bytes/event; load ${load}`,
    );
    const byThread = [...threads1].map(([tid, s]) => [tid, s - (threads0.get(tid) ?? 0)] as const).filter(([, s]) => s > 0).sort((a, b) => b[1] - a[1]);
    console.log(`  CPU-µs per event by thread (main ${process.pid}): ${byThread.map(([tid, s]) => `${tid} ${us(s)}`).join(', ')}`);
    await client.db(db).dropDatabase();
    await rm(dir, { recursive: true, force: true });
  }
} finally {
  gcs.stop();
  await client.close();
  await replay.close();
  await emu.close();
}
