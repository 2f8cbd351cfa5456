/**
 * Taking the namespace lease (src/ledger/take-lease.ts) against the test MongoDB, through the
 * official driver and the real Lease: a plain `run` is refused while the lease is held; a standby
 * waits (one log line per holder it waits for), takes over an expired lease, a lease of a gone
 * process of this host, or a released one, and says from whom and how; several standbys: one
 * wins; an abort ends the wait.
 */
import assert from 'node:assert/strict';
import { hostname } from 'node:os';
import { test } from 'node:test';
import type { Collection, Document } from 'mongodb';
import type { CronLogError } from '../../../src/errors.js';
import type { Logger, LogMeta } from '../../../src/log.js';
import { Lease } from '../../../src/ledger/lease.js';
import { describeLeaseHolder, readLeaseHolder } from '../../../src/ledger/lease-holder.js';
import { leaseRenewalMs, takeLease } from '../../../src/ledger/take-lease.js';
import { ledgerFixture } from '../../helpers/ledger-fixture.js';

const fixture = ledgerFixture('takelease');
const fresh = fixture.fresh;

/** A logger keeping its info lines. */
function recorder(): Logger & { lines: Array<{ message: string; meta: LogMeta | undefined }> } {
  const lines: Array<{ message: string; meta: LogMeta | undefined }> = [];
  const log = {
    lines,
    error() {},
    warn() {},
    info(message: string, meta?: LogMeta) {
      lines.push({ message, meta });
    },
    debug() {},
    child: () => log,
  };
  return log;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const TTL = 600;

/** A holder that is no process of this test: on another host, its lease ending in `ms`. */
async function foreignHolder(jobs: Collection<Document>, id: string, ms: number, extra: Document = {}): Promise<Date> {
  const now = Date.now();
  const expiresAt = new Date(now + ms);
  await jobs.replaceOne(
    { _id: id as never },
    { kind: 'lease', owner: 'elsewhere:77:abc', host: 'elsewhere', pid: 77, command: 'run', acquiredAt: new Date(now - 1000), expiresAt, ...extra },
    { upsert: true },
  );
  return expiresAt;
}

test('the renewal interval is a third of the TTL (at least 100 ms)', () => {
  assert.equal(leaseRenewalMs(30_000), 10_000);
  assert.equal(leaseRenewalMs(5000), 1666);
  assert.equal(leaseRenewalMs(150), 100);
});

test('without standby, a held lease is refused at once (LEASE_HELD) and nothing is logged', async () => {
  const { jobs, namespace, id } = fresh();
  await foreignHolder(jobs, id, 60_000);
  const log = recorder();
  const lease = new Lease(jobs, namespace, 'run', TTL);
  await assert.rejects(takeLease({ lease, jobs, namespace, standby: false, ttlMs: TTL, signal: new AbortController().signal, log }), (err) => {
    assert.equal((err as CronLogError).code, 'LEASE_HELD');
    return true;
  });
  assert.deepEqual(log.lines, []);
});

test('a free lease is taken at once, with no takeover line', async () => {
  const { jobs, namespace } = fresh();
  const log = recorder();
  const lease = new Lease(jobs, namespace, 'run', TTL);
  const t = await takeLease({ lease, jobs, namespace, standby: true, ttlMs: TTL, signal: new AbortController().signal, log });
  try {
    assert.equal(t.previous, undefined);
    assert.equal(t.holder?.owner, lease.owner);
    assert.deepEqual(log.lines, []);
  } finally {
    await lease.release();
  }
});

test('a standby waits for a held lease, saying once whom it waits for, and takes it over once it expired', async () => {
  const { jobs, namespace, id } = fresh();
  const expiresAt = await foreignHolder(jobs, id, 4 * leaseRenewalMs(TTL), { epoch: 6 });
  const log = recorder();
  const seen: unknown[] = [];
  const lease = new Lease(jobs, namespace, 'run', TTL);
  const t = await takeLease({ lease, jobs, namespace, standby: true, ttlMs: TTL, signal: new AbortController().signal, log, onStandby: (h) => seen.push(h?.pid) });
  try {
    const takenAt = Date.now();
    assert.ok(takenAt >= expiresAt.getTime(), 'not before the lease expired');
    assert.equal(log.lines.length, 2, JSON.stringify(log.lines));
    assert.match(log.lines[0]?.message ?? '', /^standby: waiting for the lease held by "run" on elsewhere \(pid 77, epoch 6\) since \d{4}-.*; taking over when it expires or its process exits$/);
    assert.deepEqual(seen, [77], 'reported once, although it tried several times');
    assert.equal(t.how, 'expired');
    assert.equal(t.previous?.pid, 77);
    assert.ok(t.ownerlessMs !== undefined && t.ownerlessMs >= 0 && t.ownerlessMs <= takenAt - expiresAt.getTime());
    assert.match(log.lines[1]?.message ?? '', /^took over the lease from "run" on elsewhere \(pid 77\) \(epoch \d+\): the namespace had no owner for \d+\.\d s, since its lease expired at /);
    assert.equal((log.lines[1]?.meta?.previous as { epoch: number }).epoch, 6);
    assert.equal((await jobs.findOne({ _id: id as never }))?.owner, lease.owner);
  } finally {
    await lease.release();
  }
});

test('a standby takes over at once from a process of this host that is gone, and names it', async () => {
  const { jobs, namespace, id } = fresh();
  const now = Date.now();
  // No process has pid 2^22 + 1 (above Linux's pid_max limit).
  await jobs.insertOne({ _id: id as never, kind: 'lease', owner: `${hostname()}:4194305:dead`, host: hostname(), pid: 4_194_305, command: 'run', expiresAt: new Date(now + 60_000), acquiredAt: new Date(now) });
  const log = recorder();
  const lease = new Lease(jobs, namespace, 'run', TTL);
  const t = await takeLease({ lease, jobs, namespace, standby: true, ttlMs: TTL, signal: new AbortController().signal, log });
  try {
    assert.equal(t.how, 'exited');
    assert.equal(t.ownerlessMs, undefined);
    assert.deepEqual(log.lines.map((l) => l.message.replace(/until .*\)$/, 'until …)')), [
      `took over the lease from "run" on ${hostname()} (pid 4194305) (epoch 1): its process on this host had exited (its lease was valid until …)`,
    ]);
  } finally {
    await lease.release();
  }
});

test('a standby follows a change of holder (logging the new one) and takes over when it releases the lease', async () => {
  const { jobs, namespace, id } = fresh();
  const first = new Lease(jobs, namespace, 'run', 60_000);
  await first.acquire();
  const log = recorder();
  const lease = new Lease(jobs, namespace, 'run', TTL);
  const taking = takeLease({ lease, jobs, namespace, standby: true, ttlMs: TTL, signal: new AbortController().signal, log });
  await sleep(3 * leaseRenewalMs(TTL));
  // Another process takes the lease over from the holder (as a standby elsewhere would).
  await foreignHolder(jobs, id, 3 * leaseRenewalMs(TTL));
  while (!log.lines.some((l) => l.message.includes('(pid 77)'))) await sleep(20);
  await jobs.deleteOne({ _id: id as never });
  const t = await taking;
  try {
    const messages = log.lines.map((l) => l.message);
    assert.equal(messages.length, 3, JSON.stringify(messages));
    assert.match(messages[0] ?? '', new RegExp(`held by "run" on ${hostname()} \\(pid ${process.pid}, epoch \\d+\\)`));
    assert.match(messages[1] ?? '', /held by "run" on elsewhere \(pid 77\)/);
    assert.match(messages[2] ?? '', /^took over the lease from "run" on elsewhere \(pid 77\) \(epoch \d+\): it released the lease$/);
    assert.equal(t.how, 'released');
  } finally {
    await first.release();
    await lease.release();
  }
});

test('the takeover line carries the new owner\'s epoch when the lease records one', async () => {
  const { jobs, namespace, id } = fresh();
  await foreignHolder(jobs, id, -1000, { epoch: 7 });
  const log = recorder();
  // A lease that records an epoch, as the fenced lease does.
  const lease = {
    owner: 'me:1:x',
    async acquire() {
      const now = Date.now();
      await jobs.replaceOne({ _id: id as never }, { kind: 'lease', owner: 'me:1:x', host: 'me', pid: 1, command: 'run', acquiredAt: new Date(now), expiresAt: new Date(now + TTL), epoch: 8 });
    },
  };
  const t = await takeLease({ lease, jobs, namespace, standby: false, ttlMs: TTL, signal: new AbortController().signal, log });
  assert.equal(t.holder?.epoch, 8);
  assert.match(log.lines[0]?.message ?? '', /^took over the lease from "run" on elsewhere \(pid 77\) \(epoch 8\): the namespace had no owner for \d/);
  assert.equal(log.lines[0]?.meta?.epoch, 8);
});

test('several standbys waiting for one lease: exactly one takes it, the others keep waiting', async () => {
  const { jobs, namespace, id } = fresh();
  await foreignHolder(jobs, id, 2 * leaseRenewalMs(TTL));
  const abort = new AbortController();
  const leases = Array.from({ length: 4 }, () => new Lease(jobs, namespace, 'run', TTL));
  const outcomes = leases.map((lease) =>
    takeLease({ lease, jobs, namespace, standby: true, ttlMs: TTL, signal: abort.signal, log: recorder() }).then(
      () => 'took',
      (err: CronLogError) => err.code,
    ),
  );
  const holder = async (): Promise<string | undefined> => (await readLeaseHolder(jobs, namespace))?.owner;
  while ((await holder()) === 'elsewhere:77:abc') await sleep(20);
  await sleep(3 * leaseRenewalMs(TTL));
  const winner = await holder();
  abort.abort();
  const results = await Promise.all(outcomes);
  try {
    assert.deepEqual(results.filter((r) => r === 'took').length, 1, JSON.stringify(results));
    assert.deepEqual(results.filter((r) => r !== 'took'), ['ABORTED', 'ABORTED', 'ABORTED'], 'the others waited until aborted');
    assert.equal(leases.filter((l) => l.owner === winner).length, 1, 'the winner still holds it');
  } finally {
    for (const l of leases) await l.release();
  }
});

test('readLeaseHolder: the holder with its epoch when the lease records one; describeLeaseHolder names it', async () => {
  const { jobs, namespace, id } = fresh();
  assert.equal(await readLeaseHolder(jobs, namespace), undefined);
  await foreignHolder(jobs, id, 60_000, { epoch: 12 });
  const h = await readLeaseHolder(jobs, namespace);
  assert.ok(h);
  assert.deepEqual([h.command, h.host, h.pid, h.epoch], ['run', 'elsewhere', 77, 12]);
  assert.equal(describeLeaseHolder(h), '"run" on elsewhere (pid 77, epoch 12)');
  assert.equal(describeLeaseHolder(h, false), '"run" on elsewhere (pid 77)');
  await jobs.updateOne({ _id: id as never }, { $unset: { epoch: '' } });
  assert.equal((await readLeaseHolder(jobs, namespace))?.epoch, undefined);
});
