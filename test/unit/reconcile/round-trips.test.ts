/**
 * The `reconcile` command's round trips to MongoDB over a range (without --deep or --repair):
 * the hours' ledger records are read in one query, their verdicts written with one update per
 * day document and one insert into `logs`, however many hours the range holds, and each hour's
 * ledger record and `reconcile` operation record say what they said when they were written hour by
 * hour. A failure part-way still records the verdicts reached. Against the test MongoDB (commands
 * counted by the driver's command monitoring), with the file destination.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { MongoClient } from 'mongodb';
import type { CommandStartedEvent } from 'mongodb';
import type { SharedContext } from '../../../src/archive-context.js';
import { openSharedContext } from '../../../src/archive-context.js';
import type { HourSlot } from '../../../src/hours/hour-clock.js';
import { silentLogger } from '../../../src/log.js';
import { reconcileRange } from '../../../src/reconcile/reconcile.js';
import { archiveEnv } from '../../helpers/archive-env.js';
import { archivedHour } from '../../helpers/archived-hour.js';
import type { ArchiveEnv } from '../../helpers/archive-env.js';
import { startTestMongo } from '../../helpers/mongo.js';
import type { TestMongo } from '../../helpers/mongo.js';

const HOUR = 3_600_000;
/** 24 hours across two UTC days (two day documents in the ledger). */
const FROM = Date.UTC(2024, 1, 1, 12);
const TO = FROM + 24 * HOUR;

let mongo: TestMongo;
before(async () => {
  mongo = await startTestMongo();
});
after(async () => {
  await mongo.close();
});

/** The day's hours: every 5th with one document more in MongoDB (mismatch), hour 7 never archived, the rest ok. */
async function day(ctx: SharedContext): Promise<{ slots: HourSlot[]; want: Record<string, string> }> {
  const slots = ctx.clock.slotsBetween(FROM, TO);
  const want: Record<string, string> = {};
  for (const [i, slot] of slots.entries()) {
    if (i === 7) {
      await ctx.collection.insertOne({ createdAt: new Date(slot.start + 5) });
      want[slot.id] = 'not-archived';
    } else if (i % 5 === 0) {
      await archivedHour(ctx, slot, 2, 3);
      want[slot.id] = 'mismatch';
    } else {
      await archivedHour(ctx, slot, 2, 2);
      want[slot.id] = 'ok';
    }
  }
  return { slots, want };
}

/** A context whose client counts the commands it sends, by `<command> <collection>`. */
async function counting(env: ArchiveEnv, fn: (ctx: SharedContext, commands: Map<string, number>) => Promise<void>): Promise<void> {
  const client = new MongoClient(env.uri, { monitorCommands: true });
  await client.connect();
  const commands = new Map<string, number>();
  client.on('commandStarted', (e: CommandStartedEvent) => {
    const name = `${e.commandName} ${String(e.command[e.commandName])}`;
    commands.set(name, (commands.get(name) ?? 0) + 1);
  });
  const ctx = openSharedContext(env.config(), client, silentLogger);
  try {
    await fn(ctx, commands);
  } finally {
    await ctx.close();
    await client.close();
  }
}

/** A fresh environment with the day of day() written in it (through `setup`, a context of the test's client). */
async function withDay(fn: (env: ArchiveEnv, setup: SharedContext, day: { slots: HourSlot[]; want: Record<string, string> }) => Promise<void>): Promise<void> {
  const env = await archiveEnv(mongo);
  const setup = openSharedContext(env.config(), env.client, silentLogger);
  try {
    await fn(env, setup, await day(setup));
  } finally {
    await setup.close();
    await env.close();
  }
}

test('reconcile of 24 hours reads the ledger once, writes it once per day document and logs once, and records every hour as before', async () => {
  await withDay(async (env, setup, { slots, want }) => {
    await counting(env, async (ctx, commands) => {
      const rows = await reconcileRange(ctx, ctx.clock, { from: FROM, to: TO });
      assert.deepEqual(Object.fromEntries(rows.map((r) => [r.hour, r.status])), want);
      assert.deepEqual(rows.map((r) => r.hour), slots.map((s) => s.id), 'rows in hour order');
      assert.equal(commands.get('find jobs'), 1, 'one read of the hours\' ledger records');
      assert.equal(commands.get('update jobs'), 2, 'one ledger write per day document');
      assert.equal(commands.get('insert logs'), 1, 'one insert of the operation records');
    });
    for (const [i, slot] of slots.entries()) {
      const record = await setup.ledger.get(slot);
      const status = want[slot.id];
      if (i === 7) {
        // No manifest: the hour gets a reconcile record, no state.
        assert.equal(record?.state, undefined);
        assert.deepEqual({ ...record?.reconcile, at: undefined }, { mongo: 1, archived: 0, status, at: undefined });
      } else {
        assert.equal(record?.state, status === 'ok' ? 'verified' : 'mismatch', slot.id);
        assert.equal(record?.count, 2, 'the rest of the record is left as it was');
        assert.deepEqual({ ...record?.reconcile, at: undefined }, { mongo: status === 'ok' ? 2 : 3, archived: 2, status, at: undefined });
      }
      assert.ok(record?.updatedAt instanceof Date && record.reconcile?.at instanceof Date);
    }
    const logs = await env.client
      .db(env.db)
      .collection('logs')
      .find({ op: 'reconcile' }, { projection: { _id: 0, at: 0, durationMs: 0 } })
      .sort({ hourStart: 1 })
      .toArray();
    const namespace = setup.namespace;
    assert.deepEqual(
      logs,
      slots.map((slot, i) => {
        const status = want[slot.id];
        const mongo = i === 7 ? 1 : status === 'ok' ? 2 : 3;
        const archived = i === 7 ? null : 2;
        const base = { namespace, op: 'reconcile', hour: slot.id, hourStart: new Date(slot.start), count: archived ?? 0 };
        const details = { mongo, archived, status, deep: false, repaired: false };
        return status === 'ok' ? { ...base, outcome: 'ok', details } : { ...base, outcome: 'error', details, ...(status === 'mismatch' ? { error: `MongoDB has ${mongo}, the archive ${archived}` } : {}) };
      }),
    );
  });
});

test('a reconcile that fails part-way records the verdicts it reached, then throws', async () => {
  await withDay(async (env, setup, { slots }) => {
    const broken = slots[10] as HourSlot;
    const keyOf = (slot: HourSlot): string => setup.keys.dataKey(slot, { index: 1, revision: 0 });
    /** A listing of the broken hour's keys, and of no other hour's. */
    const ofBroken = (prefix: string): boolean => keyOf(broken).startsWith(prefix) && !keyOf(slots[9] as HourSlot).startsWith(prefix) && !keyOf(slots[11] as HourSlot).startsWith(prefix);
    await counting(env, async (ctx) => {
      // The destination cannot list the 11th hour's keys.
      const destination = Object.create(ctx.destination, {
        list: {
          value: (prefix: string) => {
            if (ofBroken(prefix)) throw new Error('the listing failed');
            return ctx.destination.list(prefix);
          },
        },
      }) as SharedContext['destination'];
      await assert.rejects(reconcileRange({ ...ctx, destination }, ctx.clock, { from: FROM, to: TO }), /the listing failed/);
    });
    const logged = await env.client.db(env.db).collection('logs').find({ op: 'reconcile' }).toArray();
    const hours = new Set(logged.map((l) => l.hour as string));
    assert.ok(!hours.has(broken.id), 'the failed hour has no verdict');
    for (const slot of slots.slice(0, 10)) assert.ok(hours.has(slot.id), `${slot.id}: started before the failure, finished and recorded`);
    for (const slot of slots) assert.equal((await setup.ledger.get(slot))?.reconcile !== undefined, hours.has(slot.id), `${slot.id}: ledger and logs agree`);
  });
});
