/**
 * The purge benchmark's two sides, repeated, for finding where the purge's time goes: the same
 * emulator process, documents and archive as bench/purge.ts, then `--runs N` rounds of a purge
 * and the bare deletes of the same `_id`s (the documents inserted again and read once, untimed,
 * before each), each with its wall time and this process's and the emulator's CPU; the commands
 * the last purge sent, by name. With `--prof DIR`: a V8 CPU profile of this process per purge
 * (rounds after the first: the first pays the JIT). With `--emu-prof DIR`: the emulator's CPU
 * profile (written when it exits) and the purges' and bare deletes' time windows
 * (`purge-windows.json`, `bare-windows.json`: [start, end] in µs of the monotonic clock, the
 * profile's time base) to cut it by.
 *
 *   node --import tsx bench/extmem/purge-alone.ts [--runs 5] [--docs 20000] [--root TREE] [--prof DIR] [--emu-prof DIR]
 *
 * `--root` loads src/ (and its `mongodb`) from another checkout (e.g. main's, for before/after
 * figures in one machine state); the documents and the emulator are this tree's.
 */
import { Session } from 'node:inspector/promises';
import { writeFile, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import type { Document } from 'mongodb';
import type * as MongoModule from 'mongodb';
import type * as ContextModule from '../../src/archive-context.js';
import type * as PurgeModule from '../../src/ops/purge/purge.js';
import type * as RebuildModule from '../../src/seal/rebuild.js';
import { BENCH_HOUR, HOUR, benchConfig, quietLog } from '../lib/common.js';
import { makeDocs } from '../lib/documents.js';
import { cpuSecondsOf, ownCpuSeconds, startEmulatorProcess } from '../lib/emulator-process.js';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '5' }, docs: { type: 'string', default: '20000' }, root: { type: 'string', default: '.' }, prof: { type: 'string' }, 'emu-prof': { type: 'string' } } });
const runs = Number(values.runs);
const count = Number(values.docs);
const root = resolve(values.root);
const HOURS = 4;
const BATCH = 1000;

const load = async <T>(rel: string): Promise<T> => (await import(pathToFileURL(join(root, rel)).href)) as T;
const mongodb = await load<typeof MongoModule>('node_modules/mongodb/lib/index.js');
const { openSharedContext } = await load<typeof ContextModule>('src/archive-context.ts');
const { purgeHours } = await load<typeof PurgeModule>('src/ops/purge/purge.ts');
const { repairHour } = await load<typeof RebuildModule>('src/seal/rebuild.ts');

const emu = await startEmulatorProcess({ oplogSize: 4 * count * (runs + 1) + 10_000, ...(values['emu-prof'] !== undefined ? { cpuProfDir: resolve(values['emu-prof']) } : {}) });
const client = new mongodb.MongoClient(emu.uri, { monitorCommands: true });
const commands = new Map<string, number>();
let counting = false;
client.on('commandStarted', (e) => {
  if (!counting) return;
  const k = `${e.commandName} ${String((e.command as Record<string, unknown>)[e.commandName])}`;
  commands.set(k, (commands.get(k) ?? 0) + 1);
});
await client.connect();
const dir = await mkdtemp(join(tmpdir(), 'purge-alone-'));
const config = benchConfig(emu.uri, 'bench_purge', dir);
const shared = openSharedContext(config, client as never, quietLog);
const windows: [number, number][] = [];
const bareWindows: [number, number][] = [];
const session = values.prof !== undefined ? new Session() : undefined;
try {
  const coll = client.db('bench_purge').collection(config.collections.apiLogsCollectionName);
  const docs: Document[] = makeDocs(count, BENCH_HOUR, BENCH_HOUR + HOURS * HOUR, 11);
  const ids = docs.map((d) => d._id as unknown);
  const insertAll = async (): Promise<void> => {
    for (let i = 0; i < docs.length; i += 10_000) await coll.insertMany(docs.slice(i, i + 10_000).map((d) => ({ ...d })), { ordered: false });
  };
  const fresh = async (): Promise<void> => {
    await coll.deleteMany({});
    await insertAll();
    await coll.find({}, { projection: { _id: 1 } }).toArray();
    await coll.find({ [config.timestampField]: { $gte: new Date(0) } }).limit(1).toArray();
    await coll.find({ _id: { $gte: mongodb.ObjectId.createFromTime(0) } }).limit(1).toArray();
  };
  await coll.createIndex({ [config.timestampField]: 1 });
  await insertAll();
  for (const slot of shared.clock.slotsBetween(BENCH_HOUR, BENCH_HOUR + HOURS * HOUR)) await repairHour(shared, slot, 'backfill');
  if (session) {
    session.connect();
    await session.post('Profiler.enable');
    await session.post('Profiler.setSamplingInterval', { interval: 100 });
  }
  for (let i = 0; i < runs; i++) {
    await fresh();
    if (session && i >= 1) await session.post('Profiler.start');
    const t0 = performance.now();
    const cpu0 = { own: ownCpuSeconds(), emu: await cpuSecondsOf(emu.pid) };
    counting = i === runs - 1;
    const h0 = process.hrtime.bigint();
    const report = await purgeHours(shared, { before: BENCH_HOUR + HOURS * HOUR, from: BENCH_HOUR, batchSize: BATCH, maxDocumentsPerSecond: 0, leaseTtlMs: 30_000, command: 'bench' });
    const wall = (performance.now() - t0) / 1000;
    counting = false;
    if (i >= 1) windows.push([Number(h0 / 1000n), Number(process.hrtime.bigint() / 1000n)]);
    const own = ownCpuSeconds() - cpu0.own;
    const emuCpu = (await cpuSecondsOf(emu.pid)) - cpu0.emu;
    if (report.deleted !== count) throw new Error(`purge deleted ${report.deleted} of ${count}`);
    if (session && i >= 1) {
      const { profile } = await session.post('Profiler.stop');
      const out = join(resolve(values.prof as string), `purge-alone-${i + 1}.cpuprofile`);
      await writeFile(out, JSON.stringify(profile));
    }
    await fresh();
    const b0 = performance.now();
    const hb0 = process.hrtime.bigint();
    const bcpu0 = { own: ownCpuSeconds(), emu: await cpuSecondsOf(emu.pid) };
    for (let j = 0; j < ids.length; j += BATCH) await coll.deleteMany({ _id: { $in: ids.slice(j, j + BATCH) as never[] } });
    const bwall = (performance.now() - b0) / 1000;
    if (i >= 1) bareWindows.push([Number(hb0 / 1000n), Number(process.hrtime.bigint() / 1000n)]);
    const bown = ownCpuSeconds() - bcpu0.own;
    const bemu = (await cpuSecondsOf(emu.pid)) - bcpu0.emu;
    const ms = (x: number): number => Math.round(x * 1000);
    process.stdout.write(`run ${i + 1}: purge ${ms(wall)} ms wall, CPU own ${ms(own)} + emulator ${ms(emuCpu)}; bare ${ms(bwall)} ms wall, CPU own ${ms(bown)} + emulator ${ms(bemu)}; ratio ${(bwall / wall).toFixed(3)}\n`);
  }
  if (values['emu-prof'] !== undefined) await writeFile(join(resolve(values['emu-prof']), 'purge-windows.json'), JSON.stringify(windows));
  if (values['emu-prof'] !== undefined) await writeFile(join(resolve(values['emu-prof']), 'bare-windows.json'), JSON.stringify(bareWindows));
  if (commands.size > 0) process.stdout.write(`commands of the last purge: ${JSON.stringify(Object.fromEntries(commands))}\n`);
} finally {
  session?.disconnect();
  await shared.close();
  await client.close();
  await emu.close();
}
