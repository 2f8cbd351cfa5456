/**
 * Fenced writes (src/ledger/fence.ts) against the test MongoDB, through the official driver:
 * once a newer lease epoch wrote a document, the checkpoint saves, hour-state updates, seal
 * watermark and operation records of an older owner are refused with FENCED (naming the newer
 * owner) and change nothing (their batched forms too); writers without a fence (reconcile,
 * backfill) are not refused and do not move the epoch.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Timestamp } from 'mongodb';
import type { Collection, Document } from 'mongodb';
import type { CronLogError } from '../../../src/errors.js';
import { CheckpointStore } from '../../../src/ledger/checkpoints.js';
import type { CaptureCheckpoint } from '../../../src/ledger/checkpoints.js';
import { FenceHolder } from '../../../src/ledger/fence.js';
import { HourLedger } from '../../../src/ledger/hour-states.js';
import { Lease } from '../../../src/ledger/lease.js';
import { OperationLog } from '../../../src/ledger/operation-log.js';
import { SealWatermark } from '../../../src/ledger/seal-watermark.js';
import { HourClock } from '../../../src/hours/hour-clock.js';
import { ledgerFixture } from '../../helpers/ledger-fixture.js';

const fixture = ledgerFixture('fence');

interface Owner {
  lease: Lease;
  fencing: FenceHolder;
}

/** A namespace of the test's own, and a function that makes a new owner of it (a new epoch). */
function fresh(): { jobs: Collection<Document>; logs: Collection<Document>; namespace: string; takeOver: (ttlMs?: number, frozen?: Owner) => Promise<Owner> } {
  const { jobs, namespace } = fixture.fresh();
  return {
    jobs,
    logs: fixture.db().collection('logs'),
    namespace,
    async takeOver(ttlMs = 60_000, frozen?: Owner) {
      // The previous holder froze past its lease: it renews no more (its renewal timer is
      // stopped: a renewal landing between the expiry below and the acquire made the acquire
      // fail with LEASE_HELD once under load), and its lease is expired; then acquire.
      if (frozen !== undefined) await frozen.lease.release();
      await jobs.updateOne({ _id: `lease:${namespace}` as never }, { $set: { expiresAt: new Date(0) } });
      const fencing = new FenceHolder();
      const lease = new Lease(jobs, namespace, 'run', ttlMs, fencing);
      await lease.acquire();
      return { lease, fencing };
    },
  };
}

function fenced(epoch: number): (err: unknown) => boolean {
  return (err) => {
    assert.equal((err as CronLogError).code, 'FENCED');
    assert.match((err as Error).message, new RegExp(`"run" on \\S+ \\(pid ${process.pid}, epoch ${epoch}\\) since `));
    return true;
  };
}

const checkpoint = (seconds: number): Omit<CaptureCheckpoint, 'updatedAt'> => ({
  position: { kind: 'time', startAtOperationTime: new Timestamp({ t: seconds, i: 1 }) },
  spool: { files: [{ hour: 3_600_000 * 400_000, part: 1, offset: seconds, lines: 1 }], closing: [] },
  dedupe: undefined,
  closedHours: [],
  since: 3_600_000 * 400_000,
});

test('a checkpoint claimed by a newer epoch refuses the older owner\'s saves; the claim returns who wrote it before', async () => {
  const { jobs, namespace, takeOver } = fresh();
  const a = await takeOver();
  const storeA = new CheckpointStore(jobs, namespace, a.fencing);
  assert.deepEqual(await storeA.claim(), { checkpoint: undefined, previous: {} });
  await storeA.save(checkpoint(100));
  const b = await takeOver(60_000, a);
  const storeB = new CheckpointStore(jobs, namespace, b.fencing);
  const claimed = await storeB.claim();
  assert.equal(claimed.checkpoint?.spool.files[0]?.offset, 100, 'B reads what A saved');
  assert.deepEqual(claimed.previous, { host: a.fencing.fence!.host, pid: process.pid, epoch: a.fencing.epoch });
  // A resumes: its save (an older position) is refused and changes nothing.
  await assert.rejects(storeA.save(checkpoint(50)), fenced(b.fencing.epoch!));
  const doc = await jobs.findOne({ _id: `capture:${namespace}` as never });
  assert.equal(doc?.epoch, b.fencing.epoch);
  assert.equal((await storeB.load())?.spool.files[0]?.offset, 100, 'the checkpoint did not go backwards');
  await storeB.save(checkpoint(200));
  assert.equal((await storeB.load())?.spool.files[0]?.offset, 200);
  // A claim by the older owner is refused as well.
  await assert.rejects(storeA.claim(), fenced(b.fencing.epoch!));
  await a.lease.release();
  await b.lease.release();
});

test('hour states, the seal watermark and operation records of an older epoch are refused once a newer one wrote', async () => {
  const { jobs, logs, namespace, takeOver } = fresh();
  const slot = new HourClock('UTC').slotOf(Date.UTC(2024, 0, 15, 10));
  // A's lease lives 300 ms: past half of it (its last renewal), A's writes read the lease.
  const a = await takeOver(300);
  await new HourLedger(jobs, namespace, a.fencing).update(slot, { state: 'sealed' });
  await new SealWatermark(jobs, namespace, a.fencing).set(slot.start);
  await new OperationLog(logs, namespace, a.fencing).record({ op: 'seal', outcome: 'ok' });
  const b = await takeOver(60_000, a);
  await new HourLedger(jobs, namespace, b.fencing).update(slot, { state: 'delivered', count: 3 });
  await new SealWatermark(jobs, namespace, b.fencing).set(slot.end);

  const epochB = b.fencing.epoch!;
  await new Promise((r) => setTimeout(r, 400)); // A was frozen past its lease
  await assert.rejects(new HourLedger(jobs, namespace, a.fencing).update(slot, { state: 'sealed', count: 0 }), fenced(epochB));
  await assert.rejects(new SealWatermark(jobs, namespace, a.fencing).set(slot.start), fenced(epochB));
  await assert.rejects(new OperationLog(logs, namespace, a.fencing).record({ op: 'deliver', outcome: 'error' }), fenced(epochB));
  // The batched forms too (a reconcile's verdicts).
  await assert.rejects(new HourLedger(jobs, namespace, a.fencing).updateMany([{ slot, fields: { state: 'mismatch' } }]), fenced(epochB));
  await assert.rejects(new OperationLog(logs, namespace, a.fencing).recordMany([{ op: 'reconcile', outcome: 'error' }]), fenced(epochB));
  const record = await new HourLedger(jobs, namespace).get(slot);
  assert.equal(record?.state, 'delivered');
  assert.equal(record?.count, 3);
  assert.equal(await new SealWatermark(jobs, namespace).get(), slot.end);
  const ops = await logs.find({ namespace }).sort({ at: 1 }).toArray();
  assert.deepEqual(ops.map((o) => [o.op, o.epoch]), [['seal', a.fencing.epoch]], 'A\'s refused record is not there');

  // An unfenced writer (reconcile, backfill) is not refused and leaves the epoch as it is.
  await new HourLedger(jobs, namespace).update(slot, { state: 'verified' });
  const day = await jobs.findOne({ _id: `${namespace}:${slot.date}` as never });
  assert.equal(day?.epoch, epochB);
  await new HourLedger(jobs, namespace, b.fencing).update(slot, { state: 'verified' });
  await a.lease.release();
  await b.lease.release();
});

test('a backfill lease (its own namespace key) does not fence the namespace owner', async () => {
  const { jobs, namespace, takeOver } = fresh();
  const slot = new HourClock('UTC').slotOf(Date.UTC(2024, 0, 15, 10));
  const owner = await takeOver();
  for (let i = 0; i < 3; i++) {
    const backfill = new Lease(jobs, `${namespace}#backfill`, 'backfill', 60_000);
    await backfill.acquire();
    await new HourLedger(jobs, namespace).update(slot, { state: 'delivered' });
    await backfill.release();
  }
  await owner.fencing.check();
  await new HourLedger(jobs, namespace, owner.fencing).update(slot, { state: 'verified' });
  await owner.lease.release();
});
