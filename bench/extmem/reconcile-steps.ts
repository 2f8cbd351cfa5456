/**
 * Where reconcile's time goes, step by step (ad hoc, not part of `npm run bench`): a day of
 * `--docs` documents (default 500,000) in the emulator (its own process), the archive of the day
 * written as bench/reconcile.ts writes it, then each kind of round trip reconcile makes timed
 * alone over the 24 hours (one at a time), the benchmark's baseline (one raw aggregation) and
 * reconcileRange whole, `--runs` times. Prints
 * milliseconds and the CPU seconds of this process and of the emulator.
 *
 *   node --import tsx bench/extmem/reconcile-steps.ts [--docs 500000] [--runs 5] [--only reconcileRange,count]
 */
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { MongoClient } from 'mongodb';
import { openSharedContext } from '../../src/archive-context.js';
import { countPerHour, ttlSeconds } from '../../src/reconcile/mongo-counts.js';
import { reconcileRange } from '../../src/reconcile/reconcile.js';
import { readManifest, writeManifest } from '../../src/seal/manifest.js';
import { listHourObjects } from '../../src/seal/hour-objects.js';
import { apiLogsBetween, rng } from '@cron-log-service/mongo-emulator/traffic';
import { BENCH_DAY, HOUR, benchConfig, quietLog } from '../lib/common.js';
import { cpuSecondsOf, ownCpuSeconds, startEmulatorProcess } from '../lib/emulator-process.js';

const { values } = parseArgs({ options: { docs: { type: 'string', default: '500000' }, runs: { type: 'string', default: '5' }, only: { type: 'string' } } });
const count = Number(values.docs);
const runs = Number(values.runs);
const emu = await startEmulatorProcess({ oplogSize: count + 10_000 });
const client = new MongoClient(emu.uri);
await client.connect();
const dir = await mkdtemp(join(tmpdir(), 'reconcile-steps-'));
const config = benchConfig(emu.uri, 'steps', dir);
const ctx = openSharedContext(config, client, quietLog);
try {
  const coll = ctx.collection;
  const r = rng(5);
  const perHour = new Map<number, number>();
  for (let i = 0; i < count; i += 10_000) {
    const docs = apiLogsBetween(r, Math.min(10_000, count - i), BENCH_DAY, BENCH_DAY + 24 * HOUR);
    for (const d of docs) {
      const h = d.createdAt.getTime() - (d.createdAt.getTime() % HOUR);
      perHour.set(h, (perHour.get(h) ?? 0) + 1);
    }
    await coll.insertMany(docs, { ordered: false });
  }
  const slots = ctx.clock.slotsBetween(BENCH_DAY, BENCH_DAY + 24 * HOUR);
  for (const slot of slots) {
    const key = ctx.keys.dataKey(slot, { index: 1, revision: 0 });
    const body = Buffer.from(`placeholder for ${slot.id}\n`);
    const sha256 = createHash('sha256').update(body).digest('hex');
    await ctx.destination.put({ key, source: { body }, size: body.length, sha256, contentType: 'application/x-ndjson' });
    await writeManifest(ctx, slot, [{ key, part: 1, revision: 0, count: perHour.get(slot.start) ?? 0, bytes: body.length, sha256, firstTimestamp: null, lastTimestamp: null, duplicatesRemoved: 0, sealedAt: new Date().toISOString() }]);
  }
  await countPerHour(coll, 'createdAt', BENCH_DAY, BENCH_DAY + 24 * HOUR, 'UTC');
  const steps: Record<string, () => Promise<unknown>> = {
    count: () => countPerHour(coll, 'createdAt', BENCH_DAY, BENCH_DAY + 24 * HOUR, 'UTC'),
    ttl: () => ttlSeconds(coll, 'createdAt'),
    'ledger.get x24': async () => { for (const s of slots) await ctx.ledger.get(s); },
    'ledger.range': () => ctx.ledger.range(BENCH_DAY, BENCH_DAY + 24 * HOUR),
    'manifest x24': async () => { for (const s of slots) await readManifest(ctx.destination, ctx.keys.manifestKey(s)); },
    'head x24': async () => { for (const s of slots) await ctx.destination.head(ctx.keys.dataKey(s, { index: 1, revision: 0 })); },
    'list x24': async () => { for (const s of slots) await listHourObjects(ctx.destination, ctx.keys, s); },
    'ledger.update x24': async () => { for (const s of slots) await ctx.ledger.update(s, { reconcile: { mongo: 1, archived: 1, status: 'ok', at: new Date() } }); },
    'operations.record x24': async () => { for (const s of slots) await ctx.operations.record({ op: 'reconcile', hour: s.id, outcome: 'ok' }); },
    'ledger.getMany': () => ctx.ledger.getMany(slots),
    'ledger.updateMany 24': () => ctx.ledger.updateMany(slots.map((s) => ({ slot: s, fields: { reconcile: { mongo: 1, archived: 1, status: 'ok', at: new Date() } } }))),
    'operations.recordMany 24': () => ctx.operations.recordMany(slots.map((s) => ({ op: 'reconcile', hour: s.id, outcome: 'ok' }))),
    baseline: async () => {
      const rows = coll.aggregate([
        { $match: { createdAt: { $gte: new Date(BENCH_DAY), $lt: new Date(BENCH_DAY + 24 * HOUR) } } },
        { $group: { _id: { $dateTrunc: { date: '$createdAt', unit: 'hour' } }, n: { $sum: 1 } } },
      ]);
      for await (const row of rows) void row;
    },
    reconcileRange: () => reconcileRange(ctx, ctx.clock, { from: BENCH_DAY, to: BENCH_DAY + 24 * HOUR }),
  };
  const times: Record<string, number[]> = {};
  const cpu: Record<string, number[]> = {};
  const emuCpu: Record<string, number[]> = {};
  for (let i = 0; i < runs; i++) {
    for (const [name, step] of Object.entries(steps)) {
      if (values.only !== undefined && !values.only.split(',').includes(name)) continue;
      const c0 = ownCpuSeconds();
      const e0 = await cpuSecondsOf(emu.pid);
      const t0 = performance.now();
      await step();
      (times[name] ??= []).push(performance.now() - t0);
      (cpu[name] ??= []).push((ownCpuSeconds() - c0) * 1000);
      (emuCpu[name] ??= []).push(((await cpuSecondsOf(emu.pid)) - e0) * 1000);
    }
  }
  const med = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
  for (const name of Object.keys(times)) console.log(`${name.padEnd(24)} median ${med(times[name] ?? []).toFixed(1).padStart(7)} ms wall, CPU ms: this ${med(cpu[name] ?? []).toFixed(0).padStart(5)}, emulator ${med(emuCpu[name] ?? []).toFixed(0).padStart(5)}`);
} finally {
  await ctx.close();
  await client.close();
  await emu.close();
  await rm(dir, { recursive: true, force: true });
}
