/**
 * The purge's overlap (src/ops/purge/purge.ts, ProofQueue): without a rate limit the next hour's
 * proof is taken while this hour's deletes run. A purge stopped after an hour (SIGTERM's abort)
 * deletes nothing of the next hour and writes no marker for it, although its proof was under
 * way; a proof that fails for the next hour (an object removed) skips that hour only, after the
 * hour before it was purged; a rerun finishes the rest. Small hours (5 documents).
 */
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Collection, Document } from 'mongodb';
import { ObjectId } from 'mongodb';
import { openSharedContext } from '../../../src/archive-context.js';
import type { SharedContext } from '../../../src/archive-context.js';
import { CronLogError } from '../../../src/errors.js';
import { silentLogger } from '../../../src/log.js';
import { backfill } from '../../../src/ops/backfill.js';
import { purgeHours } from '../../../src/ops/purge/purge.js';
import type { PurgeOptions } from '../../../src/ops/purge/purge.js';
import { archiveEnv } from '../../helpers/archive-env.js';
import type { ArchiveEnv } from '../../helpers/archive-env.js';
import { HOUR, hourKey } from '../../helpers/archive-keys.js';

const N = 5;
let env: ArchiveEnv;
let ctx: SharedContext;
let apilogs: Collection<Document>;
let h0: number;
const hour = (i: number): number => h0 + i * HOUR;

async function countIn(i: number): Promise<number> {
  return apilogs.countDocuments({ createdAt: { $gte: new Date(hour(i)), $lt: new Date(hour(i + 1)) } });
}

const options = (extra: Partial<PurgeOptions> = {}): PurgeOptions => ({
  before: hour(4),
  from: hour(0),
  batchSize: 2,
  maxDocumentsPerSecond: 0,
  leaseTtlMs: 30_000,
  command: 'test',
  ...extra,
});

before(async () => {
  env = await archiveEnv();
  h0 = Math.floor(Date.now() / HOUR) * HOUR - 72 * HOUR;
  ctx = openSharedContext(env.config(), env.client, silentLogger);
  apilogs = env.client.db(env.db).collection('apilogs');
  const docs: Document[] = [];
  for (let i = 0; i < 4; i++) for (let k = 0; k < N; k++) docs.push({ _id: new ObjectId(), createdAt: new Date(hour(i) + 60_000 + k * 1000), path: `/${i}/${k}` });
  await apilogs.insertMany(docs);
  await backfill(ctx, ctx.clock, { from: hour(0), to: hour(4), dueBefore: Date.now() });
});

after(async () => {
  await ctx?.close();
  await env?.close();
});

test('a purge stopped after an hour leaves the next hour, whose proof was under way, untouched', async () => {
  const stop = new AbortController();
  const done: string[] = [];
  await assert.rejects(
    purgeHours(ctx, options({ signal: stop.signal, onHour: (row) => {
      done.push(row.hour);
      stop.abort(new CronLogError('ABORTED', 'stopped by the test'));
    } })),
    (err: unknown) => err instanceof CronLogError && err.code === 'ABORTED',
  );
  assert.equal(done.length, 1);
  assert.equal(await countIn(0), 0, 'hour 0 purged');
  for (const i of [1, 2, 3]) assert.equal(await countIn(i), N, `hour ${i} untouched`);
  for (const i of [1, 2, 3]) assert.equal((await ctx.ledger.get(ctx.clock.slotAt(hour(i))))?.purge, undefined, `no marker on hour ${i}`);
});

test('a failing proof of the next hour skips that hour only; the rest is purged', async () => {
  await fs.rm(join(env.archiveDirectory, hourKey(hour(2))));
  const report = await purgeHours(ctx, options());
  const byHour = new Map(report.hours.map((r) => [r.start, r]));
  assert.equal(byHour.get(new Date(hour(1)).toISOString())?.action, 'purged');
  assert.equal(byHour.get(new Date(hour(2)).toISOString())?.reason, 'missing-object');
  assert.equal(byHour.get(new Date(hour(3)).toISOString())?.action, 'purged');
  assert.deepEqual([await countIn(0), await countIn(1), await countIn(2), await countIn(3)], [0, 0, N, 0]);
});
