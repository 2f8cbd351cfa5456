/**
 * Child process of the memory benchmark: a whole archiver (`createArchiver`, default config,
 * file destination, no seal schedule) capturing one hour's documents, then reporting its own
 * peak RSS. It starts from a checkpoint placed at the cluster time taken just before the
 * documents were inserted, so its change stream delivers the whole hour from the oplog as fast
 * as the server sends it (catching up a backlog: the worst case for buffers).
 *
 * argv[2]: JSON { uri, db, collection, jobs, logs, dir, count, startAt: { t, i }, hour }, or
 * { idle: true } to report the RSS once every module is loaded, and exit.
 * stdout: one JSON line with the figures; exit code 0 on success.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MongoClient, Timestamp } from 'mongodb';
import { createArchiver } from '../../src/archiver.js';
import { CheckpointStore } from '../../src/ledger/checkpoints.js';
import { benchConfig, quietLog, sleep } from '../lib/common.js';

interface Args {
  uri: string;
  db: string;
  collection: string;
  jobs: string;
  logs: string;
  dir: string;
  count: number;
  startAt: { t: number; i: number };
  hour: number;
}

async function vmHWMMiB(): Promise<number> {
  const status = await readFile('/proc/self/status', 'utf8');
  const m = /^VmHWM:\s+(\d+)\s+kB/m.exec(status);
  return m?.[1] !== undefined ? Number(m[1]) / 1024 : Number.NaN;
}

const args = JSON.parse(process.argv[2] ?? '') as Args & { idle?: boolean };
if (args.idle === true) {
  process.stdout.write(`${JSON.stringify({ loadedRssMiB: process.memoryUsage().rss / 2 ** 20 })}\n`);
  process.exit(0);
}
const peak = { heapTotal: 0, heapUsed: 0, external: 0, arrayBuffers: 0 };
const sampler = setInterval(() => {
  const m = process.memoryUsage();
  peak.heapTotal = Math.max(peak.heapTotal, m.heapTotal);
  peak.heapUsed = Math.max(peak.heapUsed, m.heapUsed);
  peak.external = Math.max(peak.external, m.external);
  peak.arrayBuffers = Math.max(peak.arrayBuffers, m.arrayBuffers);
}, 20);
const config = benchConfig(args.uri, args.db, args.dir, {
  collections: { apiLogsCollectionName: args.collection, jobsCollectionName: args.jobs, logsCollectionName: args.logs },
  spoolDirectory: join(args.dir, 'spool'),
});
const client = new MongoClient(config.dbUri);
await client.connect();
const namespace = `${args.db}.${args.collection}`;
const store = new CheckpointStore(client.db(args.db).collection(args.jobs), namespace);
await store.save({
  position: { kind: 'time', startAtOperationTime: new Timestamp({ t: args.startAt.t, i: args.startAt.i }) },
  spool: { files: [] },
  closedHours: [],
  since: args.hour,
});
const archiver = await createArchiver(config, { client, log: quietLog, schedule: false });
const rssBeforeStart = process.memoryUsage().rss / 2 ** 20;
const t0 = performance.now();
await archiver.start();
while (archiver.stats().capture.captured < args.count) await sleep(50);
const capturedSeconds = (performance.now() - t0) / 1000;
await archiver.close();
const seconds = (performance.now() - t0) / 1000;
const cp = await store.load();
const durable = (cp?.spool.files ?? []).reduce((n, f) => n + f.lines, 0);
const stats = archiver.stats().capture;
await client.close();
clearInterval(sampler);
const MiB = 2 ** 20;
process.stdout.write(
  `${JSON.stringify({
    captured: stats.captured,
    durableLines: durable,
    checkpoints: stats.checkpoints,
    capturedSeconds,
    seconds,
    rssBeforeStartMiB: rssBeforeStart,
    maxRssMiB: process.resourceUsage().maxRSS / 1024,
    vmHWMMiB: await vmHWMMiB(),
    peakHeapTotalMiB: peak.heapTotal / MiB,
    peakHeapUsedMiB: peak.heapUsed / MiB,
    peakExternalMiB: peak.external / MiB,
    peakArrayBuffersMiB: peak.arrayBuffers / MiB,
  })}\n`,
);
