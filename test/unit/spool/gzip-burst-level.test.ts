/**
 * The burst level of spool members (src/spool/pending-lines.ts): a member started while
 * BURST_QUEUE or more members of the pool are still being compressed is compressed at the pool's
 * burst level; the others (and every member without a burst level, or with one at or above the
 * file's level) at the file's level. Either way the file is the same lines, as valid gzip.
 * (A member's level shows in its gzip header: XFL is 4 for level 1, 0 for levels 2-8.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { gzipOptions } from '../../../src/spool/gzip-members.js';
import { Spool } from '../../../src/spool/spool.js';
import { spoolFileName, spoolLayout } from '../../../src/spool/spool-files.js';
import type { CompressedMember } from '../../../src/spool/pending-lines.js';
import { BURST_QUEUE, PendingLines, SLAB_BYTES, SlabPool } from '../../../src/spool/pending-lines.js';

/** About `slabs` slabs of API-log-like lines (no newline). */
function lines(slabs: number): string[] {
  const out: string[] = [];
  let x = 11;
  for (let n = 0; n < slabs * SLAB_BYTES; ) {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    const line = JSON.stringify({ _id: x.toString(16).padStart(24, '0'), createdAt: new Date(1_700_000_000_000 + x).toISOString(), path: `/api/v1/orders/${x % 99_999}`, status: [200, 404, 500][x % 3], latencyMs: (x % 10_000) / 10 });
    out.push(line);
    n += line.length + 1;
  }
  return out;
}

const LINES = lines(3.2);
const TEXT = Buffer.from(`${LINES.join('\n')}\n`);

/** Appends every line (no await: the compressions started pile up), takes and compresses all. */
async function spooled(pool: SlabPool, level: number, text: readonly string[] = LINES): Promise<CompressedMember[]> {
  const pending = new PendingLines(pool, level, undefined);
  for (const line of text) pending.append(line);
  return Promise.all(pending.take()?.members ?? []);
}

/** XFL of each member's gzip header (4: level 1; 0: levels 2-8). */
const xfl = (members: CompressedMember[]): number[] => members.map((m) => m.member[8] as number);

/** Each member is exactly zlib's member of its lines at `levels[i]`, and the file decodes to the lines. */
function assertMembers(members: CompressedMember[], levels: number[]): void {
  let at = 0;
  members.forEach((m, i) => {
    const data = TEXT.subarray(at, at + m.bytes);
    at += m.bytes;
    assert.ok(m.member.equals(gzipSync(data, gzipOptions(levels[i] as number))), `member ${i} is zlib's at level ${levels[i]}`);
  });
  assert.equal(at, TEXT.length);
  assert.ok(gunzipSync(Buffer.concat(members.map((m) => m.member))).equals(TEXT), 'the same lines, as concatenated gzip');
}

test('members started while the queue is long are compressed at the burst level, the same lines', async () => {
  assert.equal(BURST_QUEUE, 2);
  const pool = new SlabPool(1);
  const members = await spooled(pool, 6);
  assert.equal(members.length, 4);
  // Members 0 and 1 start with 0 and 1 others compressing; 2 and 3 (the take's) behind 2 or more.
  assert.deepEqual(xfl(members), [0, 0, 4, 4]);
  assert.equal(pool.burstMembers, 2);
  assertMembers(members, [6, 6, 1, 1]);
  assert.ok((members[2] as CompressedMember).member.length > (members[1] as CompressedMember).member.length, 'a burst member is larger');

  // The queue has drained: the next member is at the file's level again.
  const next = await spooled(pool, 6, LINES.slice(0, 100));
  assert.deepEqual(xfl(next), [0]);
  assert.equal(pool.burstMembers, 2);
});

test('while capture is catching up every member is at the burst level, whatever the queue; after, the file\'s level again', async () => {
  const pool = new SlabPool(1);
  pool.catchingUp = true;
  const members = await spooled(pool, 6);
  assert.deepEqual(xfl(members), [4, 4, 4, 4]);
  assert.equal(pool.burstMembers, 4);
  assertMembers(members, [1, 1, 1, 1]);
  pool.catchingUp = false;
  const next = await spooled(pool, 6, LINES.slice(0, 100));
  assert.deepEqual(xfl(next), [0]);
  // Without a burst level (or one at or above the file's) catching up changes nothing.
  const off = new SlabPool(undefined);
  off.catchingUp = true;
  assert.deepEqual(xfl(await spooled(off, 6, LINES.slice(0, 100))), [0]);
});

test('without a burst level, or with one at or above the file\'s, every member is at the file\'s level', async () => {
  for (const [burst, level] of [
    [undefined, 6],
    [6, 6],
    [9, 6],
    [1, 1],
  ] as const) {
    const pool = new SlabPool(burst);
    const members = await spooled(pool, level);
    assert.equal(pool.burstMembers, 0, `burst ${burst} at level ${level}`);
    assert.deepEqual(xfl(members), members.map(() => (level === 1 ? 4 : 0)));
    if (burst === undefined) assertMembers(members, members.map(() => level));
  }
});

test('a spool with a burst level writes the same lines, and counts its burst members', async () => {
  const dir = await fs.mkdtemp(join(tmpdir(), 'spool-burst-'));
  try {
    const spool = new Spool({ layout: spoolLayout(dir, 'app.apilogs'), gzipLevel: 6, gzipBurstLevel: 1 });
    await spool.open(undefined);
    const id = { hour: Date.parse('2024-01-15T00:00:00Z'), part: 1 };
    for (const line of LINES) spool.append(id, line);
    const state = await spool.flush();
    assert.equal(spool.burstMembers, 2);
    await spool.close();
    const file = state.files[0];
    assert.equal(file?.lines, LINES.length);
    const bytes = await fs.readFile(join(spool.layout.open, spoolFileName(id)));
    assert.equal(bytes.length, file?.offset);
    assert.ok(gunzipSync(bytes).equals(TEXT));
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});
