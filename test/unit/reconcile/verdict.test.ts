/**
 * The verdict on an hour (src/reconcile/verdict.ts), over every class of its inputs: MongoDB's
 * count below, equal to and above the archive's; no TTL index, a TTL of 0 and of an hour; `now`
 * just before, at and after the instant the hour's last document expires; hours of UTC, of :30
 * and :45 zones and the repeated hour of a DST fall-back; and what reconcile found in the
 * archive (no manifest, an absent or inconsistent object, `_id`s MongoDB has that it lacks).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HourClock } from '../../../src/hours/hour-clock.js';
import type { HourSlot } from '../../../src/hours/hour-clock.js';
import { expiredAtSource, hourVerdict, passes, repairable } from '../../../src/reconcile/verdict.js';
import type { HourStatus } from '../../../src/reconcile/verdict.js';

const SLOTS: Array<[string, HourSlot]> = [
  ['UTC', new HourClock('UTC').slotOf(Date.parse('2024-01-15T10:20:00Z'))],
  ['Asia/Kolkata', new HourClock('Asia/Kolkata').slotOf(Date.parse('2024-01-15T10:20:00Z'))],
  // 02:00–03:00 local happens twice on 2024-10-27 in Berlin; the second one (fold 1).
  ['Europe/Berlin fold', new HourClock('Europe/Berlin').slotOf(Date.parse('2024-10-27T01:20:00Z'))],
  ['Asia/Kathmandu', new HourClock('Asia/Kathmandu').slotOf(Date.parse('2024-01-15T10:20:00Z'))],
];

/**
 * MongoDB's TTL rule: a document whose timestamp is `t` is deleted once `t + ttl < now`. Every
 * document of an hour is at most its last millisecond (end - 1), so the whole hour can be gone
 * from MongoDB exactly when that one can.
 */
function wholeHourExpired(slot: HourSlot, ttlSeconds: number | undefined, now: number): boolean {
  return ttlSeconds !== undefined && slot.end - 1 + ttlSeconds * 1000 < now;
}

test('the slots under test are real hours: one hour long and contiguous with the next', () => {
  assert.equal(SLOTS[2]![1].fold, 1, 'the Berlin slot is the repeated hour');
  for (const [zone, slot] of SLOTS) {
    assert.equal(slot.end - slot.start, 3_600_000, zone);
    assert.equal(new HourClock(slot.zone).slotOf(slot.end).start, slot.end, zone);
  }
});

test('every combination of counts, TTL index and time: ok when equal, mismatch when MongoDB holds more; fewer is expired-at-source once the whole hour has expired, else deleted-at-source', () => {
  let cases = 0;
  const seen = new Set<HourStatus>();
  for (const [zone, slot] of SLOTS) {
    for (const ttlSeconds of [undefined, 0, 3600]) {
      const lastExpiry = slot.end + (ttlSeconds ?? 0) * 1000;
      for (const now of [slot.start - 1, slot.start, slot.start + (ttlSeconds ?? 0) * 1000, lastExpiry - 1, lastExpiry, lastExpiry + 1, lastExpiry + 86_400_000]) {
        for (const archived of [0, 1, 5]) {
          for (const mongo of new Set([0, archived - 1, archived, archived + 1].filter((n) => n >= 0))) {
            const expected: HourStatus =
              mongo === archived ? 'ok' : mongo > archived ? 'mismatch' : wholeHourExpired(slot, ttlSeconds, now) ? 'expired-at-source' : 'deleted-at-source';
            const got = hourVerdict({ slot, mongo, archived, ttlSeconds, now });
            assert.equal(got, expected, `${zone} ${slot.id} ttl=${ttlSeconds} now=end${now - slot.end >= 0 ? '+' : ''}${now - slot.end}ms mongo=${mongo} archived=${archived}`);
            assert.equal(expiredAtSource(slot, ttlSeconds, now), wholeHourExpired(slot, ttlSeconds, now));
            seen.add(got);
            cases++;
          }
        }
      }
    }
  }
  assert.deepEqual([...seen].sort(), ['deleted-at-source', 'expired-at-source', 'mismatch', 'ok']);
  // MongoDB counts per archived count: 0 → {0, 1}; 1 → {0, 1, 2}; 5 → {0, 4, 5, 6}.
  assert.equal(cases, SLOTS.length * 3 * 7 * (2 + 3 + 4));
});

test('the expiry boundary is the end of the hour plus the TTL, to the millisecond', () => {
  const slot = SLOTS[0]![1];
  const ttlSeconds = 600;
  const at = slot.end + ttlSeconds * 1000;
  const verdict = (now: number, mongo = 3, archived = 5): HourStatus => hourVerdict({ slot, mongo, archived, ttlSeconds, now });
  assert.equal(verdict(at), 'expired-at-source', 'at end + ttl every document of the hour may be gone');
  assert.equal(verdict(at - 1), 'deleted-at-source', 'one millisecond earlier the last document of the hour is still due in MongoDB: not the TTL alone');
  // Documents of the hour's start expire a whole hour earlier: that is not the whole hour.
  assert.equal(verdict(slot.start + ttlSeconds * 1000), 'deleted-at-source');
  assert.equal(verdict(at, 6, 5), 'mismatch', 'more in MongoDB than in the archive is never explained by a TTL');
  assert.equal(verdict(at, 5, 5), 'ok');
  assert.equal(
    hourVerdict({ slot, mongo: 0, archived: 5, ttlSeconds: undefined, now: at + 365 * 86_400_000 }),
    'deleted-at-source',
    'without a TTL index, fewer in MongoDB means documents were deleted there; the archive keeps them',
  );
});

test('what reconcile found in the archive decides before the counts: no manifest, an absent object, an inconsistent archive, _ids the archive lacks', () => {
  const slot = SLOTS[0]![1];
  const now = slot.end + 86_400_000;
  const base = { slot, ttlSeconds: 3600, now };
  for (const [mongo, archived] of [[0, 0], [3, 5], [5, 5], [6, 5]] as const) {
    const counts = { ...base, mongo, archived };
    const at = `mongo=${mongo} archived=${archived}`;
    assert.equal(hourVerdict({ ...counts, archived: null }), 'not-archived', at);
    assert.equal(hourVerdict({ ...counts, archived: null, inconsistent: true }), 'mismatch', `an unreadable manifest, ${at}`);
    assert.equal(hourVerdict({ ...counts, absent: true }), 'missing', at);
    assert.equal(hourVerdict({ ...counts, absent: true, inconsistent: true }), 'missing', `absent first, ${at}`);
    assert.equal(hourVerdict({ ...counts, inconsistent: true }), 'mismatch', at);
    assert.equal(hourVerdict({ ...counts, lacking: 1 }), 'mismatch', `MongoDB holds an _id the archive lacks, ${at}`);
    assert.equal(hourVerdict({ ...counts, lacking: 0 }), hourVerdict(counts), `nothing lacking changes nothing, ${at}`);
  }
  // Deleted and added in the same hour: from counts alone deleted-at-source; the _ids tell.
  assert.equal(hourVerdict({ ...base, now: slot.end, mongo: 54, archived: 60 }), 'deleted-at-source');
  assert.equal(hourVerdict({ ...base, now: slot.end, mongo: 54, archived: 60, lacking: 4 }), 'mismatch');
});

test('which statuses pass (exit code 0) and which --repair looks at', () => {
  const all: HourStatus[] = ['ok', 'expired-at-source', 'deleted-at-source', 'mismatch', 'missing', 'not-archived'];
  assert.deepEqual(all.filter(passes), ['ok', 'expired-at-source', 'deleted-at-source']);
  assert.deepEqual(all.filter(repairable), ['deleted-at-source', 'mismatch', 'missing', 'not-archived']);
});

test('a purged hour: fewer in MongoDB is purged (whatever the TTL), as many is ok (restored), more or an _id the archive lacks is mismatch; purged passes', () => {
  const [, slot] = SLOTS[0]!;
  const now = slot.end + 10 * 86_400_000;
  for (const ttlSeconds of [undefined, 0, 3600]) {
    const v = (mongo: number, lacking?: number): HourStatus => hourVerdict({ slot, mongo, archived: 10, ttlSeconds, now, purged: true, ...(lacking === undefined ? {} : { lacking }) });
    assert.equal(v(0), 'purged');
    assert.equal(v(3), 'purged', 'documents written later and archived');
    assert.equal(v(3, 0), 'purged');
    assert.equal(v(10), 'ok', 'restored into the source');
    assert.equal(v(11), 'mismatch');
    assert.equal(v(1, 1), 'mismatch', 'a late write not archived yet');
  }
  assert.equal(hourVerdict({ slot, mongo: 0, archived: 10, ttlSeconds: undefined, now, purged: true, absent: true }), 'missing');
  assert.equal(hourVerdict({ slot, mongo: 0, archived: 10, ttlSeconds: undefined, now, purged: false }), 'deleted-at-source', 'not purged: deleted at the source');
  assert.equal(passes('purged'), true);
  assert.equal(repairable('purged'), true);
});
