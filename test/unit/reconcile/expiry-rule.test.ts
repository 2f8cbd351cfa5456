/**
 * One rule for hours a TTL index expired: the reconcile that follows every seal run
 * (reconcileRecentHours) and the `reconcile` command (reconcileRange) judge the same hour alike,
 * by hourVerdict, on both sides of the instant the hour's last document expires, and record
 * their verdicts in the ledger and in `logs`. Against the test MongoDB, with the file destination.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { SharedContext } from '../../../src/archive-context.js';
import { openSharedContext } from '../../../src/archive-context.js';
import { silentLogger } from '../../../src/log.js';
import { reconcileRecentHours } from '../../../src/reconcile/recent-hours.js';
import { reconcileRange } from '../../../src/reconcile/reconcile.js';
import { hourVerdict, passes } from '../../../src/reconcile/verdict.js';
import { archiveEnv } from '../../helpers/archive-env.js';
import { archivedHour } from '../../helpers/archived-hour.js';
import type { ArchiveEnv } from '../../helpers/archive-env.js';
import { startTestMongo } from '../../helpers/mongo.js';
import type { TestMongo } from '../../helpers/mongo.js';

const HOUR = 3_600_000;
const TTL_SECONDS = 3600;

let mongo: TestMongo;
before(async () => {
  mongo = await startTestMongo();
});
after(async () => {
  await mongo.close();
});

async function withContext(fn: (env: ArchiveEnv, ctx: SharedContext) => Promise<void>): Promise<void> {
  const env = await archiveEnv(mongo);
  const ctx = openSharedContext(env.config(), env.client, silentLogger);
  try {
    await fn(env, ctx);
  } finally {
    await ctx.close();
    await env.close();
  }
}

test('the seal run reconcile and the reconcile command give the verdict of hourVerdict on both sides of the expiry of the whole hour', async () => {
  await withContext(async (_env, ctx) => {
    await ctx.collection.createIndex({ createdAt: 1 }, { expireAfterSeconds: TTL_SECONDS });
    // Hours two days ahead: the TTL monitor leaves their documents alone; the judgement's `now` is given.
    const fewer = ctx.clock.slotOf(Date.now() + 48 * HOUR);
    const more = ctx.clock.next(fewer);
    const equal = ctx.clock.next(more);
    await archivedHour(ctx, fewer, 5, 3);
    await archivedHour(ctx, more, 2, 4);
    await archivedHour(ctx, equal, 3, 3);
    // `fewer` on both sides of the instant its last document expires.
    const fewerExpiry = fewer.end + TTL_SECONDS * 1000;
    for (const [now, want] of [[fewerExpiry - 1, 'deleted-at-source'], [fewerExpiry, 'expired-at-source']] as const) {
      await ctx.ledger.update(fewer, { state: 'delivered' });
      const recent = await reconcileRecentHours(ctx, now, 72);
      const rows = await reconcileRange(ctx, ctx.clock, { from: fewer.start, to: fewer.end, now });
      const verdict = hourVerdict({ slot: fewer, mongo: 3, archived: 5, ttlSeconds: TTL_SECONDS, now });
      assert.equal(verdict, want);
      assert.equal(recent.find((r) => r.hour === fewer.id)?.status, want, `seal run reconcile at expiry${now - fewerExpiry}`);
      assert.equal(rows[0]?.status, want, `reconcile command at expiry${now - fewerExpiry}`);
      assert.equal((await ctx.ledger.get(fewer))?.state, passes(want) ? 'verified' : 'mismatch');
    }
    // All three once every one of them has expired: only fewer documents in MongoDB are explained by the TTL.
    const now = equal.end + TTL_SECONDS * 1000;
    const want = { [fewer.id]: 'expired-at-source', [more.id]: 'mismatch', [equal.id]: 'ok' };
    for (const slot of [fewer, more, equal]) await ctx.ledger.update(slot, { state: 'delivered' });
    const recent = await reconcileRecentHours(ctx, now, 72);
    const rows = await reconcileRange(ctx, ctx.clock, { from: fewer.start, to: equal.end, now });
    assert.deepEqual(Object.fromEntries(recent.map((r) => [r.hour, r.status])), want, 'seal run reconcile');
    assert.deepEqual(Object.fromEntries(rows.map((r) => [r.hour, r.status])), want, 'reconcile command');
  });
});

test('the seal run reconcile records each verdict in the ledger and in logs as it always did', async () => {
  await withContext(async (env, ctx) => {
    const slot = ctx.clock.slotOf(Date.now() - 4 * HOUR);
    const other = ctx.clock.next(slot);
    const fewer = ctx.clock.next(other);
    await archivedHour(ctx, slot, 4, 4);
    await archivedHour(ctx, other, 5, 6);
    await archivedHour(ctx, fewer, 6, 5);
    const now = Date.now();
    const recent = await reconcileRecentHours(ctx, now);
    assert.deepEqual(recent, [
      { hour: slot.id, mongo: 4, archived: 4, status: 'ok' },
      { hour: other.id, mongo: 6, archived: 5, status: 'mismatch' },
      { hour: fewer.id, mongo: 5, archived: 6, status: 'deleted-at-source' },
    ]);
    const ok = await ctx.ledger.get(slot);
    assert.equal(ok?.state, 'verified');
    assert.deepEqual({ ...ok?.reconcile, at: undefined }, { mongo: 4, archived: 4, status: 'ok', at: undefined });
    assert.equal((await ctx.ledger.get(other))?.state, 'mismatch');
    assert.equal((await ctx.ledger.get(fewer))?.state, 'verified', 'documents deleted from MongoDB are no loss: the archive keeps them');
    const logs = await env.client
      .db(env.db)
      .collection('logs')
      .find({ op: 'reconcile' }, { projection: { _id: 0, hour: 1, outcome: 1, count: 1, details: 1, error: 1 } })
      .sort({ hour: 1 })
      .toArray();
    assert.deepEqual(logs, [
      { hour: slot.id, outcome: 'ok', count: 4, details: { mongo: 4, archived: 4, status: 'ok' } },
      {
        hour: other.id,
        outcome: 'error',
        count: 5,
        details: { mongo: 6, archived: 5, status: 'mismatch' },
        error: 'MongoDB has 6 documents for the hour, the archive 5',
      },
      { hour: fewer.id, outcome: 'ok', count: 6, details: { mongo: 5, archived: 6, status: 'deleted-at-source' } },
    ]);
    // Verified hours are not looked at again; a mismatched one is.
    assert.deepEqual(
      (await reconcileRecentHours(ctx, Date.now())).map((r) => r.hour),
      [other.id],
    );
  });
});
