/**
 * The demo (the sandbox): the whole archiver end to end with zero setup. Starts the project's
 * MongoDB emulator (and s3rver with `s3: true`, Azurite with `azure: true`), a traffic generator writing realistic API logs
 * (history over the last few hours plus live requests), and the archiver with a seconds seal
 * schedule delivering into `archiveDirectory`; then reconciles the finished demo hours and
 * lists the files. Leaves nothing running. Not shipped: it uses the archiver through its library
 * API and the emulator package, both dev-only here, like s3rver and Azurite (started by the
 * tests' own launcher, test/helpers/azurite.ts).
 */
import { promises as fs } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { MongoClient } from 'mongodb';
import { startEmulator } from '@cron-log-service/mongo-emulator';
import { apiLog, apiLogsBetween, rng } from '@cron-log-service/mongo-emulator/traffic';
import { createArchiver, createLogger, parseConfig } from '../src/index.js';
import type { Config, Logger } from '../src/index.js';
// Internals a library user does not get, which the demo (not shipped) may use:
import { openSharedContext } from '../src/archive-context.js';
import { reconcileRange } from '../src/reconcile/reconcile.js';
import type { ReconcileRow } from '../src/reconcile/reconcile.js';
import { sleep } from '../src/retry.js';
import { startAzurite } from '../test/helpers/azurite.js';

export interface DemoOptions {
  archiveDirectory: string;
  /** Deliver to an s3rver instead of the directory. */
  s3?: boolean;
  /** Deliver to Azurite (Azure Blob Storage emulator) instead of the directory. */
  azure?: boolean;
  /** Keep running until SIGINT/SIGTERM. */
  follow?: boolean;
  /** Live phase length (default 25 s). */
  seconds?: number;
  historyHours?: number;
  historyDocuments?: number;
  liveRatePerSecond?: number;
  progress?: (line: string, final?: boolean) => void;
  /** Called with the dashboard's URL once the archiver serves it (on a free port, loopback clients only). */
  dashboard?: (url: string) => void;
  signal?: AbortSignal;
}

export interface DemoResult {
  inserted: number;
  rows: ReconcileRow[];
  files: Array<{ key: string; bytes: number }>;
  destination: string;
  uri: string;
}

const HOUR = 3_600_000;

export async function runDemo(opts: DemoOptions, log: Logger = createLogger({ level: 'warn', enableConsole: true, format: 'auto' })): Promise<DemoResult> {
  const progress = opts.progress ?? (() => undefined);
  const archiveDirectory = resolve(opts.archiveDirectory);
  // The demo's own output folder (--dir) and, below, its temp work folder (the demo spool of a
  // throwaway emulator): sandbox data, never a real archiver's spool.
  await fs.rm(archiveDirectory, { recursive: true, force: true });
  const work = await mkdtemp(join(tmpdir(), 'cron-log-service-demo-'));
  const emulator = await startEmulator({ port: 0 });
  const cleanups: Array<() => Promise<unknown>> = [() => emulator.close(), () => fs.rm(work, { recursive: true, force: true })];
  try {
    const uri = emulator.uri.replace(/\/\?/, '/demo?');
    let s3: Partial<Config['s3']> & { bucket?: string } = {};
    let provider: 'file' | 's3' | 'azure' = 'file';
    let azure: Partial<Config['azure']> = {};
    if (opts.azure) {
      const azurite = await startAzurite();
      cleanups.unshift(() => azurite.close());
      provider = 'azure';
      azure = { connectionString: azurite.connectionString(), container: await azurite.createContainer('demo-archive') };
    }
    if (opts.s3) {
      const S3rver = createRequire(import.meta.url)('s3rver') as new (o: object) => { run(): Promise<{ port: number }>; close(): Promise<void> };
      await fs.mkdir(archiveDirectory, { recursive: true });
      const server = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory: archiveDirectory, configureBuckets: [{ name: 'demo-archive' }] });
      const { port } = await server.run();
      cleanups.unshift(() => server.close());
      provider = 's3';
      s3 = { bucket: 'demo-archive', endpoint: `http://127.0.0.1:${port}`, forcePathStyle: true, accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER', region: 'us-east-1' };
    }
    const config = parseConfig(
      {
        dbUri: uri,
        uploadProvider: provider,
        localDirectory: archiveDirectory,
        spoolDirectory: join(work, 'spool'),
        sealSchedule: '*/5 * * * * *',
        sealGraceSeconds: 1,
        checkpointIntervalMs: 500,
        metricsPort: 0,
        logging: { level: 'warn', enableConsole: true, format: 'auto' },
        ...(opts.s3 ? { s3 } : {}),
        ...(opts.azure ? { azure } : {}),
      },
      {},
    );
    const archiver = await createArchiver(config, { log });
    cleanups.unshift(() => archiver.close());
    await archiver.start();
    if (archiver.metricsUrl !== undefined) opts.dashboard?.(`${archiver.metricsUrl}/`);
    const client = new MongoClient(uri);
    cleanups.unshift(() => client.close());
    const coll = client.db(config.database).collection(config.collections.apiLogsCollectionName);
    const r = rng(42);
    const now = Date.now();
    const historyHours = opts.historyHours ?? 3;
    const historyStart = Math.floor(now / HOUR) * HOUR - historyHours * HOUR;
    let inserted = 0;
    const report = (final = false): void => {
      const s = archiver.stats();
      progress(
        `inserted ${inserted}  captured ${s.capture.captured}  spooled ${(s.spool.openBytes / 1024).toFixed(0)} KiB  ` +
          `checkpoints ${s.capture.checkpoints}  seal runs ${s.seal.runs}  hours sealed+delivered ${s.seal.hoursDelivered}`,
        final,
      );
    };
    const ticker = setInterval(() => report(), 500);
    try {
      const total = opts.historyDocuments ?? 6000;
      for (let i = 0; i < total; i += 500) {
        const docs = apiLogsBetween(r, Math.min(500, total - i), historyStart, Math.floor(now / HOUR) * HOUR);
        await coll.insertMany(docs);
        inserted += docs.length;
      }
      const rate = opts.liveRatePerSecond ?? 40;
      const until = opts.follow ? Infinity : Date.now() + (opts.seconds ?? 25) * 1000;
      while (Date.now() < until && !opts.signal?.aborted) {
        const docs = Array.from({ length: Math.max(1, Math.round(rate / 4)) }, () => apiLog(r, new Date()));
        await coll.insertMany(docs);
        inserted += docs.length;
        // An abort ends the wait early; the loop condition then ends the live phase.
        await sleep(250, opts.signal).catch(() => undefined);
      }
      // Let the last seal run deliver the history hours.
      const deadline = Date.now() + 20_000;
      while (Date.now() < deadline) {
        const rep = await archiver.sealNow();
        if (rep.failed === 0 && rep.hours.length === 0) break;
      }
    } finally {
      clearInterval(ticker);
      report(true);
    }
    await archiver.close();
    const ctx = openSharedContext(config, client, log);
    try {
      const rows = await reconcileRange(ctx, ctx.clock, { from: historyStart, to: Math.floor(Date.now() / HOUR) * HOUR });
      const files: Array<{ key: string; bytes: number }> = [];
      for await (const o of ctx.destination.list(`${config.outputDirectory}/`)) files.push({ key: o.key, bytes: o.size });
      return { inserted, rows, files, destination: ctx.destination.describe(), uri: emulator.uri };
    } finally {
      await ctx.close();
    }
  } finally {
    for (const c of cleanups) await c().catch(() => undefined);
  }
}
