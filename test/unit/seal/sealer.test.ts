/**
 * The Sealer (src/seal/sealer.ts) on a real spool, the test MongoDB (ledger, logs) and the file
 * destination: a due hour is delivered once; an hour without documents gets a count-0 manifest;
 * a failed delivery leaves the hour sealed, with its error, for the next run; the reconcile
 * hook runs within the run with the run's `now`; a late part of an hour restored into the source
 * loses the lines its delivered parts hold, and an unmarked hour reads nothing back.
 */
import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ObjectId } from 'mongodb';
import type { SharedContext } from '../../../src/archive-context.js';
import { openSharedContext } from '../../../src/archive-context.js';
import type { Destination } from '../../../src/deliver/destination.js';
import { silentLogger } from '../../../src/log.js';
import type { ArchiveContext } from '../../../src/seal/context.js';
import { readManifest } from '../../../src/seal/manifest.js';
import type { ReconciledHour } from '../../../src/seal/report.js';
import { Sealer } from '../../../src/seal/sealer.js';
import type { SealerOptions } from '../../../src/seal/sealer.js';
import { readGzipLines } from '../../../src/spool/gzip-members.js';
import { lineEncoder } from '../../../src/spool/json-lines.js';
import { spoolLayout } from '../../../src/spool/spool-files.js';
import { Spool } from '../../../src/spool/spool.js';
import { archiveEnv } from '../../helpers/archive-env.js';
import type { ArchiveEnv } from '../../helpers/archive-env.js';
import { startTestMongo } from '../../helpers/mongo.js';
import type { TestMongo } from '../../helpers/mongo.js';

const HOUR = 3_600_000;
const H0 = Date.parse('2024-01-15T00:00:00Z');
const encode = lineEncoder('analytics');

let mongo: TestMongo;
before(async () => {
  mongo = await startTestMongo();
});
after(async () => {
  await mongo.close();
});

interface Setup {
  env: ArchiveEnv;
  ctx: SharedContext;
  spool: Spool;
  /** Appends `count` documents to the open spool file of `hour` and flushes. */
  capture(hour: number, count: number): Promise<void>;
  sealer(ctx?: ArchiveContext, options?: Partial<SealerOptions>): Sealer;
}

async function withSetup(fn: (s: Setup) => Promise<void>): Promise<void> {
  const env = await archiveEnv(mongo);
  const ctx = openSharedContext(env.config(), env.client, silentLogger);
  const spool = new Spool({ layout: spoolLayout(env.spoolDirectory, ctx.namespace), gzipLevel: 6, timestampField: 'createdAt' });
  await spool.open(undefined);
  // What the tailer's closeDueHours does, without the checkpoints.
  const closeDueHours = async (dueBefore: number): Promise<void> => {
    await spool.flush();
    for (const f of spool.openFiles().filter((o) => o.hour + HOUR <= dueBefore)) {
      await spool.detach(f);
      await spool.moveToSealed(f);
    }
  };
  const setup: Setup = {
    env,
    ctx,
    spool,
    async capture(hour, count) {
      for (let i = 0; i < count; i++) spool.append({ hour, part: 1 }, encode({ _id: new ObjectId(), createdAt: new Date(hour + i * 1000), i }));
      await spool.flush();
    },
    sealer: (c = ctx, options = {}) =>
      new Sealer(c, { spool, sealGraceSeconds: 0, closeDueHours, firstHour: () => H0, log: silentLogger, ...options }),
  };
  try {
    await fn(setup);
  } finally {
    await spool.close();
    await ctx.close();
    await env.close();
  }
}

/** Lines of the delivered object at `key`. */
async function objectLines(destination: Destination, key: string): Promise<number> {
  const chunks: Buffer[] = [];
  for await (const chunk of await destination.get(key)) chunks.push(Buffer.from(chunk as Buffer));
  const path = join(await mkdtemp(join(tmpdir(), 'sealer-test-')), 'o.ndjson.gz');
  await writeFile(path, Buffer.concat(chunks));
  let n = 0;
  for await (const line of readGzipLines(path)) if (line.length > 0) n++;
  return n;
}

async function dataObjects(destination: Destination): Promise<string[]> {
  const keys: string[] = [];
  for await (const o of destination.list('')) if (o.key.endsWith('.ndjson.gz')) keys.push(o.key);
  return keys;
}

test('a due hour is delivered once: object, manifest and ledger record; a second run finds nothing to do', async () => {
  await withSetup(async ({ ctx, spool, capture, sealer: make }) => {
    await capture(H0, 3);
    await capture(H0 + HOUR, 2); // the next hour is not due yet
    const sealer = make();
    const now = H0 + HOUR;
    const first = sealer.sealDue(now);
    assert.equal(sealer.sealDue(now), first, 'concurrent calls share one run');
    const report = await first;
    const slot = ctx.clock.slotAt(H0);
    const key = ctx.keys.dataKey(slot, { index: 1, revision: 0 });
    assert.deepEqual(report, { dueBefore: now, hours: [{ hour: slot.id, start: H0, count: 3, key, status: 'delivered' }], reconciled: [], failed: 0 });
    assert.equal(await objectLines(ctx.destination, key), 3);
    const manifest = await readManifest(ctx.destination, ctx.keys.manifestKey(slot));
    assert.equal(manifest?.count, 3);
    assert.deepEqual(manifest?.parts.map((p) => [p.key, p.count]), [[key, 3]]);
    const record = await ctx.ledger.get(slot);
    assert.equal(record?.state, 'delivered');
    assert.equal(record?.count, 3);
    assert.deepEqual(await spool.sealedFiles(), [], 'the delivered spool file is removed');
    assert.deepEqual(spool.openFiles().map((f) => f.hour), [H0 + HOUR], 'the open hour stays open');

    const again = await sealer.sealDue(now);
    assert.deepEqual(again.hours, []);
    assert.equal(again.failed, 0);
    assert.deepEqual(await dataObjects(ctx.destination), [key], 'one object for the hour');
    assert.equal((await ctx.ledger.get(slot))?.count, 3);
  });
});

test('an hour without documents gets a manifest with count 0 and no parts; hours before the first captured one get none', async () => {
  await withSetup(async ({ ctx, capture, sealer: make }) => {
    await capture(H0, 1);
    await capture(H0 + 2 * HOUR, 4);
    const report = await make().sealDue(H0 + 3 * HOUR);
    const s0 = ctx.clock.slotAt(H0);
    const s1 = ctx.clock.next(s0);
    const s2 = ctx.clock.next(s1);
    assert.deepEqual(
      report.hours.map((h) => [h.hour, h.status, h.count]),
      [
        [s0.id, 'delivered', 1],
        [s2.id, 'delivered', 4],
        [s1.id, 'empty', 0],
      ],
    );
    assert.equal(report.failed, 0);
    const manifest = await readManifest(ctx.destination, ctx.keys.manifestKey(s1));
    assert.equal(manifest?.count, 0);
    assert.deepEqual(manifest?.parts, []);
    const record = await ctx.ledger.get(s1);
    assert.deepEqual([record?.state, record?.count, record?.parts], ['delivered', 0, []]);
    assert.equal(await ctx.watermark.get(), H0 + 3 * HOUR, 'the next run looks for empty hours from here on');
    assert.equal(await readManifest(ctx.destination, ctx.keys.manifestKey(ctx.clock.slotAt(H0 - HOUR))), undefined);
  });
});

test('a failed delivery leaves the hour sealed with its error; the next run delivers it', async () => {
  await withSetup(async ({ env, ctx, spool, capture, sealer: make }) => {
    await capture(H0, 5);
    let down = true;
    const destination = new Proxy(ctx.destination, {
      get(target, prop) {
        if (prop === 'put') {
          return async (input: Parameters<Destination['put']>[0]) => {
            if (down && 'path' in input.source) throw new Error('the destination is unreachable');
            return target.put(input);
          };
        }
        const value: unknown = Reflect.get(target, prop, target);
        return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      },
    });
    const sealer = make({ ...ctx, destination });
    const slot = ctx.clock.slotAt(H0);
    const failed = await sealer.sealDue(H0 + HOUR);
    assert.equal(failed.failed, 1);
    assert.deepEqual(failed.hours, [{ hour: slot.id, start: H0, count: 0, status: 'failed', error: 'the destination is unreachable' }]);
    const record = await ctx.ledger.get(slot);
    assert.equal(record?.state, 'sealed');
    assert.equal(record?.lastError, 'the destination is unreachable');
    assert.equal((await spool.sealedFiles()).length, 1, 'the sealed file waits for the next run');
    assert.equal(await readManifest(ctx.destination, ctx.keys.manifestKey(slot)), undefined);
    assert.equal(await ctx.watermark.get(), undefined, 'the watermark does not move past a failed hour');
    const errors = await env.client.db(env.db).collection('logs').find({ op: 'deliver', outcome: 'error' }).toArray();
    assert.deepEqual(errors.map((e) => [e.hour, e.error]), [[slot.id, 'the destination is unreachable']]);

    down = false;
    const retried = await sealer.sealDue(H0 + HOUR);
    assert.equal(retried.failed, 0);
    assert.deepEqual(retried.hours.map((h) => [h.hour, h.status, h.count]), [[slot.id, 'delivered', 5]]);
    const delivered = await ctx.ledger.get(slot);
    assert.equal(delivered?.state, 'delivered');
    assert.equal(delivered?.lastError, null);
    assert.equal(await objectLines(ctx.destination, retried.hours[0]!.key!), 5);
    assert.deepEqual(await spool.sealedFiles(), []);
  });
});

test('the reconcile option runs at the end of every run, with the run\'s now; its verdicts are the report\'s `reconciled`', async () => {
  await withSetup(async ({ ctx, capture, sealer: make }) => {
    await capture(H0, 2);
    const calls: Array<{ now: number; state: string | undefined }> = [];
    const verdicts: ReconciledHour[] = [{ hour: 'h', mongo: 2, archived: 2, status: 'ok' }];
    const sealer = make(undefined, {
      reconcile: async (now) => {
        calls.push({ now, state: (await ctx.ledger.get(ctx.clock.slotAt(H0)))?.state });
        return verdicts;
      },
    });
    const report = await sealer.sealDue(H0 + HOUR + 5);
    assert.deepEqual(calls, [{ now: H0 + HOUR + 5, state: 'delivered' }], 'once, after the hour was delivered');
    assert.deepEqual(report.reconciled, verdicts);
  });
});

test('an hour restored into the source: its late parts lose the lines its delivered parts hold (counted in the manifest and the seal record); an unmarked hour reads nothing back', async () => {
  await withSetup(async ({ env, ctx, spool, sealer: make }) => {
    const doc = (hour: number, i: number): string => encode({ _id: new ObjectId(), createdAt: new Date(hour + i * 1000), i });
    const H1 = H0 + HOUR;
    const a = [0, 1, 2].map((i) => doc(H0, i));
    for (const line of a) spool.append({ hour: H0, part: 1 }, line);
    spool.append({ hour: H1, part: 1 }, doc(H1, 0));
    await spool.flush();
    const now = H0 + 2 * HOUR;
    assert.equal((await make().sealDue(now)).failed, 0);
    const [s0, s1] = [ctx.clock.slotAt(H0), ctx.clock.slotAt(H1)];

    // restore wrote hour 0 back into the source: the mark, then the inserts (captured again as a
    // late part with one late write); hour 1 only gets a late write.
    await ctx.ledger.markRestored(s0);
    for (const line of a) spool.append({ hour: H0, part: 2 }, line);
    spool.append({ hour: H0, part: 2 }, doc(H0, 3));
    spool.append({ hour: H1, part: 2 }, doc(H1, 1));
    await spool.flush();
    const read: string[] = [];
    const destination = new Proxy(ctx.destination, {
      get(target, prop) {
        if (prop === 'get') {
          return async (key: string) => {
            read.push(key);
            return target.get(key);
          };
        }
        const value: unknown = Reflect.get(target, prop, target);
        return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      },
    });
    const sealer = make({ ...ctx, destination });
    const report = await sealer.sealDue(now);
    assert.deepEqual(report.hours.map((h) => [h.hour, h.status, h.count]), [[s0.id, 'delivered', 1], [s1.id, 'delivered', 1]]);
    const m0 = await readManifest(ctx.destination, ctx.keys.manifestKey(s0));
    assert.deepEqual(m0?.parts.map((p) => [p.part, p.count, p.alreadyArchivedRemoved]), [[1, 3, undefined], [2, 1, 3]]);
    assert.equal(m0?.count, 4);
    const sealed = await env.client.db(env.db).collection('logs').findOne({ op: 'seal', hour: s0.id, 'details.file': /\.p2\./ });
    assert.equal((sealed?.details as { alreadyArchivedRemoved?: number }).alreadyArchivedRemoved, 3);
    const hour1Keys = [ctx.keys.manifestKey(s1), ctx.keys.dataKey(s1, { index: 1, revision: 0 })];
    assert.deepEqual(read.filter((k) => hour1Keys.includes(k)), [], 'the unmarked hour is sealed without reading the archive');
    assert.ok(read.includes(ctx.keys.dataKey(s0, { index: 1, revision: 0 })), 'the marked hour reads its delivered part back');

    // A late part holding only documents the hour has: no object, the file removed.
    for (const line of a) spool.append({ hour: H0, part: 3 }, line);
    await spool.flush();
    const before = await dataObjects(ctx.destination);
    const third = await sealer.sealDue(now);
    assert.deepEqual(third.hours.filter((h) => h.start === H0).map((h) => [h.status, h.count]), [['already-archived', 0]]);
    assert.equal(third.failed, 0);
    assert.deepEqual(await dataObjects(ctx.destination), before, 'no object written');
    assert.deepEqual(await spool.sealedFiles(), []);
    assert.equal((await ctx.ledger.get(s0))?.count, 4);
  });
});
