/**
 * The CPU of listing an hour's `_id`s three ways, over the purge benchmark's documents (20,000
 * over 4 hours, in the emulator's own process, with the timestamp index): the driver's cursor
 * over hourDocuments decoding `{ _id }` objects (what the deep check and purge's proof used until
 * 2026-12-07), and src/seal/hour-ids.ts both ways (the driver's cursor with `raw: true`, forced by
 * a collection reading primaryPreferred; `find`/`getMore` commands in a session). Prints this
 * process's and the emulator's CPU per listing of the 4 hours, the mean of `--runs` rounds (each
 * round runs the three in turn).
 *
 *   node --import tsx bench/extmem/hour-ids-cpu.ts [--runs 10]
 */
import { parseArgs } from 'node:util';
import { MongoClient } from 'mongodb';
import type { Collection, Document } from 'mongodb';
import { HourClock } from '../../src/hours/hour-clock.js';
import { hourIds } from '../../src/seal/hour-ids.js';
import { hourDocuments } from '../../src/seal/hour-query.js';
import { idKeyOf } from '../../src/spool/document-ids.js';
import { BENCH_HOUR, HOUR } from '../lib/common.js';
import { makeDocs } from '../lib/documents.js';
import { cpuSecondsOf, ownCpuSeconds, startEmulatorProcess } from '../lib/emulator-process.js';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '10' } } });
const runs = Number(values.runs);
const HOURS = 4;
const emu = await startEmulatorProcess({ oplogSize: 100_000 });
const client = new MongoClient(emu.uri);
try {
  await client.connect();
  const coll = client.db('bench_hour_ids').collection('apilogs');
  await coll.createIndex({ createdAt: 1 });
  await coll.insertMany(makeDocs(20_000, BENCH_HOUR, BENCH_HOUR + HOURS * HOUR, 11));
  const slots = new HourClock('UTC').slotsBetween(BENCH_HOUR, BENCH_HOUR + HOURS * HOUR);
  const ctx = (c: Collection<Document>) => ({ collection: c, timestampField: 'createdAt', jsonMode: 'analytics' as const });
  const idKey = idKeyOf('analytics');
  const ways: Array<[string, () => Promise<number>]> = [
    [
      'driver cursor, decoded (before)',
      async () => {
        let n = 0;
        for (const s of slots) for await (const d of hourDocuments(ctx(coll), s, { _id: 1 })) n += idKey(d._id).length > 0 ? 1 : 0;
        return n;
      },
    ],
    [
      'hourIds: driver cursor, raw',
      async () => {
        const c = client.db('bench_hour_ids').collection('apilogs', { readPreference: 'primaryPreferred' });
        let n = 0;
        for (const s of slots) for await (const b of hourIds(ctx(c), s)) n += b.length;
        return n;
      },
    ],
    [
      'hourIds: commands',
      async () => {
        let n = 0;
        for (const s of slots) for await (const b of hourIds(ctx(coll), s)) n += b.length;
        return n;
      },
    ],
  ];
  const sums = ways.map(() => ({ own: 0, emu: 0 }));
  for (let r = 0; r < runs; r++) {
    for (const [i, [name, list]] of ways.entries()) {
      const own0 = ownCpuSeconds();
      const emu0 = await cpuSecondsOf(emu.pid);
      const n = await list();
      if (n !== 20_000) throw new Error(`${name}: ${n} _ids, expected 20000`);
      sums[i]!.own += ownCpuSeconds() - own0;
      sums[i]!.emu += (await cpuSecondsOf(emu.pid)) - emu0;
    }
  }
  for (const [i, [name]] of ways.entries()) {
    process.stdout.write(`${name.padEnd(34)} this process ${((sums[i]!.own / runs) * 1000).toFixed(1).padStart(6)} ms, emulator ${((sums[i]!.emu / runs) * 1000).toFixed(1).padStart(6)} ms\n`);
  }
} finally {
  await client.close();
  await emu.close();
}
