/**
 * Script (not a benchmark of the suite): how long the emulator takes to answer reconcile's count
 * per hour (src/reconcile/mongo-counts.ts) and the deep check's `_id` listing of a big hour, and
 * the longest time a concurrent `ping` on another connection waited meanwhile (its event-loop
 * stall), with the emulator's RSS per stored document.
 *
 *   node --import tsx bench/extmem/emulator-count-stall.ts --docs 1m [--warm]
 *
 * `--warm`: the emulator's sorted keys of `createdAt` and `_id` are built before the count
 * (untimed, as the memory benchmark's warmIndexKeys does), so the count alone is measured;
 * without it, the count's first query by each field builds them.
 */
import { MongoClient } from 'mongodb';
import { countPerHour } from '../../src/reconcile/mongo-counts.js';
import { timeRangeFilters } from '../../src/hours/time-filter.js';
import { parseHourSize } from '../lib/hour-size.js';
import { HourStream, warmIndexKeys } from '../lib/hour-stream.js';
import { cpuSecondsOf, startEmulatorProcess } from '../lib/emulator-process.js';
import { readFile } from 'node:fs/promises';

const HOUR = 3_600_000;
const FROM = Date.UTC(2024, 0, 15, 10);
const arg = process.argv.indexOf('--docs');
const size = parseHourSize(arg > 0 ? process.argv[arg + 1]! : '300k');

async function rssMiB(pid: number): Promise<number> {
  const m = /^VmRSS:\s+(\d+)/m.exec(await readFile(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? 0) / 1024;
}

const emu = await startEmulatorProcess({ oplogSize: 10_000, leanDocuments: true, maxOldSpaceMiB: 16384, ...(process.env.EMU_PROF ? { cpuProfDir: process.env.EMU_PROF } : {}) });
const opts = { serverSelectionTimeoutMS: 3_600_000, connectTimeoutMS: 0, socketTimeoutMS: 0 };
const client = new MongoClient(emu.uri, opts);
const pinger = new MongoClient(emu.uri, opts);
try {
  await client.connect();
  await pinger.connect();
  const coll = client.db('stall').collection('apilogs');
  await coll.createIndex({ createdAt: 1 });
  const rss0 = await rssMiB(emu.pid);
  const stream = new HourStream(size, FROM, FROM + HOUR);
  const t0 = performance.now();
  for (let i = 0; i < size; i += 1000) await coll.insertMany(stream.batch(i, Math.min(1000, size - i)), { ordered: false });
  const insertS = (performance.now() - t0) / 1000;
  const rss1 = await rssMiB(emu.pid);
  console.log(`inserted ${size} in ${insertS.toFixed(1)} s; emulator RSS ${rss0.toFixed(0)} -> ${rss1.toFixed(0)} MiB: ${((rss1 - rss0) * 1048576 / size).toFixed(0)} bytes/document`);

  if (process.argv.includes('--warm')) {
    const w0 = performance.now();
    await warmIndexKeys(coll, FROM);
    console.log(`index keys warmed in ${((performance.now() - w0) / 1000).toFixed(1)} s`);
  }
  const measure = async (what: string, work: () => Promise<unknown>): Promise<void> => {
    let worst = 0;
    let pings = 0;
    let done = false;
    const loop = (async () => {
      while (!done) {
        const p0 = performance.now();
        await pinger.db('admin').command({ ping: 1 });
        worst = Math.max(worst, performance.now() - p0);
        pings++;
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    const c0 = await cpuSecondsOf(emu.pid);
    const w0 = performance.now();
    const out = await work();
    const wall = (performance.now() - w0) / 1000;
    const cpu = (await cpuSecondsOf(emu.pid)) - c0;
    done = true;
    await loop;
    console.log(`${what}: ${wall.toFixed(2)} s wall, emulator CPU ${cpu.toFixed(2)} s (${(cpu / size * 1e6).toFixed(2)} µs/document); longest ping ${worst.toFixed(0)} ms over ${pings} pings; result ${JSON.stringify(out)}`);
  };
  await measure('count per hour', async () => [...(await countPerHour(coll, 'createdAt', FROM, FROM + HOUR, 'UTC'))]);
  const f = timeRangeFilters('createdAt', FROM, FROM + HOUR);
  await measure('_id listing', async () => {
    let n = 0;
    for await (const _ of coll.find({ $or: [f.byField, f.byObjectId] }, { batchSize: 1000, projection: { _id: 1 } })) n++;
    return n;
  });
  console.log(`emulator RSS at the end ${(await rssMiB(emu.pid)).toFixed(0)} MiB, peak ${(await emu.peakRssMiB())?.toFixed(0)} MiB`);
} finally {
  await pinger.close();
  await client.close();
  await emu.close();
}
