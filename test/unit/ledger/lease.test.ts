/**
 * The namespace lease (src/ledger/lease.ts) against the test MongoDB, through the official
 * driver: acquire, refusal while held, renewal, takeover after expiry (and at once from a dead
 * process on this host), loss noticed at renewal, release, and two processes racing for a free
 * lease; the epochs of the fencing tokens (strictly increasing, kept across releases) and the
 * check that refuses a stale fence.
 */
import assert from 'node:assert/strict';
import { hostname } from 'node:os';
import { test } from 'node:test';
import { MongoClient } from 'mongodb';
import type { CronLogError } from '../../../src/errors.js';
import { Lease } from '../../../src/ledger/lease.js';
import { ledgerFixture } from '../../helpers/ledger-fixture.js';

const fixture = ledgerFixture('lease');
const fresh = fixture.fresh;

function isLeaseHeld(pattern: RegExp): (err: unknown) => boolean {
  return (err) => {
    assert.equal((err as CronLogError).code, 'LEASE_HELD');
    assert.match((err as Error).message, pattern);
    return true;
  };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

test('acquire records the owner, its host, pid and command, and an expiry one TTL ahead', async () => {
  const { jobs, namespace, id } = fresh();
  const lease = new Lease(jobs, namespace, 'run', 5000);
  const t0 = Date.now();
  await lease.acquire();
  try {
    const doc = await jobs.findOne({ _id: id as never });
    assert.ok(doc);
    assert.equal(doc.kind, 'lease');
    assert.equal(doc.owner, lease.owner);
    assert.equal(doc.host, hostname());
    assert.equal(doc.pid, process.pid);
    assert.equal(doc.command, 'run');
    const expires = (doc.expiresAt as Date).getTime();
    assert.ok(expires >= t0 + 5000 && expires <= Date.now() + 5000, `expiresAt ${expires - t0} ms after the start`);
  } finally {
    await lease.release();
  }
});

test('a second owner is refused while the lease is held, with a message naming the holder', async () => {
  const { jobs, namespace } = fresh();
  const holder = new Lease(jobs, namespace, 'run', 5000);
  await holder.acquire();
  try {
    const other = new Lease(jobs, namespace, 'seal', 5000);
    await assert.rejects(other.acquire(), isLeaseHeld(new RegExp(`owns ${namespace.replace('.', '\\.')}: "run" on ${hostname()} \\(pid ${process.pid}\\)`)));
    // A holder on another host is refused too, until its lease expires.
    await jobs.updateOne({ _id: `lease:${namespace}` as never }, { $set: { owner: 'elsewhere:1:x', host: 'elsewhere', pid: 1 } });
    await assert.rejects(other.acquire(), isLeaseHeld(/"run" on elsewhere \(pid 1\)/));
  } finally {
    await holder.release();
  }
});

test('the holder renews its lease: it stays held past its TTL', async () => {
  const { jobs, namespace, id } = fresh();
  const holder = new Lease(jobs, namespace, 'run', 300);
  await holder.acquire();
  try {
    const first = (await jobs.findOne({ _id: id as never }))!.expiresAt as Date;
    await sleep(900);
    const later = (await jobs.findOne({ _id: id as never }))!;
    assert.equal(later.owner, holder.owner);
    assert.ok((later.expiresAt as Date).getTime() > first.getTime() + 300, 'renewed at least once per TTL');
    assert.ok((later.expiresAt as Date).getTime() > Date.now(), 'still unexpired');
    await assert.rejects(new Lease(jobs, namespace, 'seal', 300).acquire(), isLeaseHeld(/"run"/));
  } finally {
    await holder.release();
  }
});

test('a lease whose holder stopped renewing is taken over once it has expired, not before', async () => {
  const { jobs, namespace, id } = fresh();
  // The holder reaches MongoDB through a client of its own, which goes away (an outage, say).
  const holderClient = new MongoClient(fixture.uri());
  await holderClient.connect();
  const holder = new Lease(holderClient.db(fixture.db().databaseName).collection('jobs'), namespace, 'run', 3000);
  await holder.acquire();
  await holderClient.close();
  const expiresAt = ((await jobs.findOne({ _id: id as never }))!.expiresAt as Date).getTime();
  const next = new Lease(jobs, namespace, 'run', 5000);
  await assert.rejects(next.acquire(), isLeaseHeld(/"run"/));
  while (Date.now() <= expiresAt) await sleep(expiresAt - Date.now() + 5);
  await next.acquire();
  try {
    assert.equal((await jobs.findOne({ _id: id as never }))?.owner, next.owner);
  } finally {
    await next.release();
    await holder.release();
  }
});

test('a lease held by a process of this host that is gone is taken over at once', async () => {
  const { jobs, namespace, id } = fresh();
  const now = Date.now();
  // No process has pid 2^22 + 1 (above Linux's pid_max limit).
  await jobs.insertOne({ _id: id as never, kind: 'lease', owner: `${hostname()}:4194305:dead`, host: hostname(), pid: 4_194_305, command: 'run', expiresAt: new Date(now + 60_000), acquiredAt: new Date(now) });
  const lease = new Lease(jobs, namespace, 'run', 5000);
  await lease.acquire();
  try {
    assert.equal((await jobs.findOne({ _id: id as never }))?.owner, lease.owner);
  } finally {
    await lease.release();
  }
});

test('a holder whose lease was taken meanwhile learns it at its next renewal (onLost), and stops renewing', async () => {
  const { jobs, namespace, id } = fresh();
  const holder = new Lease(jobs, namespace, 'run', 300);
  const lost: CronLogError[] = [];
  holder.onLost = (err) => lost.push(err);
  await holder.acquire();
  await jobs.updateOne({ _id: id as never }, { $set: { owner: 'elsewhere:7:y', host: 'elsewhere', pid: 7, command: 'run' } });
  const deadline = Date.now() + 5000;
  while (lost.length === 0 && Date.now() < deadline) await sleep(20);
  assert.equal(lost.length, 1);
  assert.equal(lost[0]!.code, 'LEASE_HELD');
  assert.match(lost[0]!.message, /lost the lease on .*apilogs\d+ to "run" on elsewhere \(pid 7, epoch \d+\)/);
  const taken = (await jobs.findOne({ _id: id as never }))!.expiresAt as Date;
  await sleep(400);
  assert.deepEqual((await jobs.findOne({ _id: id as never }))!.expiresAt, taken, 'the old holder no longer writes the lease');
  assert.equal(lost.length, 1, 'onLost is called once');
  await holder.release();
  assert.equal((await jobs.findOne({ _id: id as never }))?.owner, 'elsewhere:7:y', 'release leaves the new owner its lease');
});

test('release frees the lease for the next owner at once, and keeps its epoch', async () => {
  const { jobs, namespace, id } = fresh();
  const first = new Lease(jobs, namespace, 'run', 60_000);
  const f1 = await first.acquire();
  await first.release();
  const released = await jobs.findOne({ _id: id as never });
  assert.ok(released, 'the document stays');
  assert.equal(released.epoch, f1.epoch, 'with its epoch');
  assert.ok((released.expiresAt as Date).getTime() <= Date.now(), 'expired');
  const second = new Lease(jobs, namespace, 'seal', 60_000);
  const f2 = await second.acquire();
  assert.equal(f2.epoch, f1.epoch + 1, 'the next acquisition continues the count');
  await second.release();
});

test('every acquisition yields a strictly greater epoch: release, expiry and takeover from a dead process', async () => {
  const { jobs, namespace, id } = fresh();
  const epochs: number[] = [];
  for (let i = 0; i < 3; i++) {
    const lease = new Lease(jobs, namespace, 'run', 60_000);
    epochs.push((await lease.acquire()).epoch);
    await lease.release();
  }
  // A holder that simply expired.
  await jobs.updateOne({ _id: id as never }, { $set: { owner: 'elsewhere:3:z', host: 'elsewhere', pid: 3, expiresAt: new Date(Date.now() - 1) } });
  const afterExpiry = new Lease(jobs, namespace, 'run', 60_000);
  epochs.push((await afterExpiry.acquire()).epoch);
  // A holder of this host that is gone (pid above pid_max), lease unexpired.
  await jobs.updateOne({ _id: id as never }, { $set: { owner: `${hostname()}:4194305:dead`, host: hostname(), pid: 4_194_305, expiresAt: new Date(Date.now() + 60_000) } });
  const afterDead = new Lease(jobs, namespace, 'run', 60_000);
  const fence = await afterDead.acquire();
  epochs.push(fence.epoch);
  await afterExpiry.release();
  await afterDead.release();
  assert.deepEqual(epochs, [1, 2, 3, 4, 5]);
  assert.deepEqual({ epoch: fence.epoch, owner: fence.owner, host: fence.host, pid: fence.pid, command: fence.command }, { epoch: 5, owner: afterDead.owner, host: hostname(), pid: process.pid, command: 'run' });
});

test('check() passes while the fence is the newest epoch, and refuses (FENCED, naming the newer owner) once another process took over', async () => {
  const { jobs, namespace, id } = fresh();
  // A lease of 300 ms: half of it after its last renewal, check() reads the lease.
  const old = new Lease(jobs, namespace, 'run', 300);
  const stale = await old.acquire();
  await stale.check();
  // The holder froze past its lease: it expired, and another process took it.
  await jobs.updateOne({ _id: id as never }, { $set: { expiresAt: new Date(Date.now() - 1) } });
  await stale.check(); // expired, but nobody newer: still the owner
  const next = new Lease(jobs, namespace, 'run', 60_000);
  const fresh2 = await next.acquire();
  try {
    await new Promise((r) => setTimeout(r, 400)); // the old holder was frozen past its lease
    await assert.rejects(stale.check(), (err: CronLogError) => {
      assert.equal(err.code, 'FENCED');
      assert.equal(err.exitCode, 3);
      assert.match(err.message, new RegExp(`epoch ${stale.epoch}\\) no longer owns ${namespace.replace('.', '\\.')}: "run" on ${hostname()} \\(pid ${process.pid}, epoch ${fresh2.epoch}\\) since `));
      return true;
    });
    await fresh2.check();
  } finally {
    await next.release();
    await old.release();
  }
});

test('a holder that lost its lease to a newer epoch learns it at its next renewal, naming that epoch', async () => {
  const { jobs, namespace, id } = fresh();
  const holder = new Lease(jobs, namespace, 'run', 300);
  const lost: CronLogError[] = [];
  holder.onLost = (err) => lost.push(err);
  const fence = await holder.acquire();
  // Frozen past its TTL (renewals stop), then a new owner takes over.
  await jobs.updateOne({ _id: id as never }, { $set: { owner: 'frozen', expiresAt: new Date(Date.now() - 1) } });
  const next = new Lease(jobs, namespace, 'run', 60_000);
  const newer = await next.acquire();
  const deadline = Date.now() + 5000;
  while (lost.length === 0 && Date.now() < deadline) await sleep(20);
  try {
    assert.equal(lost.length, 1);
    assert.match(lost[0]!.message, new RegExp(`lost the lease on .* to "run" on ${hostname()} \\(pid ${process.pid}, epoch ${newer.epoch}\\) since .*\\(this process held epoch ${fence.epoch}\\)`));
    assert.equal((await jobs.findOne({ _id: id as never }))?.owner, next.owner, 'the new owner keeps it');
  } finally {
    await next.release();
    await holder.release();
  }
});

test('two owners racing for a free lease: exactly one gets it', async () => {
  for (let round = 0; round < 10; round++) {
    const { jobs, namespace, id } = fresh();
    const a = new Lease(jobs, namespace, 'run', 60_000);
    const b = new Lease(jobs, namespace, 'run', 60_000);
    const results = await Promise.allSettled([a.acquire(), b.acquire()]);
    try {
      const won = results.filter((r) => r.status === 'fulfilled').length;
      assert.equal(won, 1, `round ${round}: ${won} owners think they hold the lease`);
      const loser = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
      assert.equal((loser.reason as CronLogError).code, 'LEASE_HELD');
      const winner = results[0]!.status === 'fulfilled' ? a : b;
      const doc = await jobs.findOne({ _id: id as never });
      assert.equal(doc?.owner, winner.owner);
      assert.equal(doc?.epoch, 1, 'one acquisition, one epoch');
    } finally {
      await a.release();
      await b.release();
    }
  }
});

test('within half the lease TTL of its last renewal check() answers without reading the lease; past it, it reads it', async () => {
  const { jobs, namespace, id } = fresh();
  const holder = new Lease(jobs, namespace, 'run', 600);
  const fence = await holder.acquire();
  try {
    // Another epoch written by hand (impossible before the lease expires): not seen while trusted.
    await jobs.updateOne({ _id: id as never }, { $inc: { epoch: 1 } });
    await fence.check();
    // A frozen process: no renewal confirmed the lease for longer than half its TTL.
    await holder.release();
    await jobs.updateOne({ _id: id as never }, { $inc: { epoch: 1 } });
    await new Promise((r) => setTimeout(r, 400));
    await assert.rejects(fence.check(), (err: CronLogError) => err.code === 'FENCED');
  } finally {
    await holder.release();
  }
});
