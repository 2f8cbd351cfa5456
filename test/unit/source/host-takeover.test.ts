import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { HourRecord } from '../../../src/ledger/hour-states.js';
import type { HourView, VerdictInput } from '../../../src/source/host-takeover.js';
import { hourViews, lostFiles, lostHourFields, verdict, withoutLost } from '../../../src/source/host-takeover.js';
import { spoolFileName } from '../../../src/spool/spool-files.js';

const H = 3_600_000;
const T0 = Date.UTC(2024, 0, 15, 10);

function input(over: Partial<VerdictInput> = {}): VerdictInput {
  return { previousHost: 'host-1', thisHost: 'host-2', lostFiles: [], hours: [], closedHours: [], sealedHere: new Set(), ...over };
}

const view = (start: number, state: HourView['state'], parts: number, lostParts = 0): HourView => ({ start, state, parts, lostParts });

test('same host (or a checkpoint without host) with lost files is a broken disk, not a takeover', () => {
  const lost = [{ hour: T0, part: 1 }];
  assert.deepEqual(verdict(input({ thisHost: 'host-1', lostFiles: lost })), { kind: 'broken-disk', lostFiles: lost });
  assert.deepEqual(verdict(input({ previousHost: undefined, lostFiles: lost })), { kind: 'broken-disk', lostFiles: lost });
  // Ledger hours never make a same-host start a takeover.
  assert.deepEqual(verdict(input({ thisHost: 'host-1', hours: [view(T0, 'sealed', 0)] })), { kind: 'resume' });
});

test('another host with nothing lost (renamed host, shared disk) resumes', () => {
  assert.deepEqual(verdict(input()), { kind: 'resume' });
  // A sealed hour whose file is in sealed/ here, a closed hour fully delivered.
  const v = verdict(input({ hours: [view(T0, 'sealed', 0), view(T0 + H, 'delivered', 2)], closedHours: [{ hour: T0, lastPart: 1 }, { hour: T0 + H, lastPart: 2 }], sealedHere: new Set([T0]) }));
  assert.deepEqual(v, { kind: 'resume' });
});

test('another host with lost open files: takeover from the oldest lost hour', () => {
  const v = verdict(input({ lostFiles: [{ hour: T0 + 2 * H, part: 1 }, { hour: T0 + H, part: 2 }] }));
  assert.deepEqual(v, { kind: 'takeover', from: T0 + H, previousHost: 'host-1', lostHours: [T0 + H, T0 + 2 * H], undelivered: [] });
});

test('a sealed, undelivered hour whose file is not here is lost; so is a closed late part the ledger does not hold', () => {
  const v = verdict(
    input({
      lostFiles: [{ hour: T0 + 3 * H, part: 1 }],
      // T0: sealed, never delivered. T0+H: part 1 delivered, a late part 2 closed and lost.
      // T0+2H: two parts closed, two delivered: complete.
      hours: [view(T0, 'sealed', 0), view(T0 + H, 'delivered', 1), view(T0 + 2 * H, 'delivered', 2)],
      closedHours: [
        { hour: T0, lastPart: 1 },
        { hour: T0 + H, lastPart: 2 },
        { hour: T0 + 2 * H, lastPart: 2 },
      ],
    }),
  );
  assert.equal(v.kind, 'takeover');
  assert.equal(v.kind === 'takeover' && v.from, T0);
  assert.deepEqual(v.kind === 'takeover' && v.lostHours, [T0, T0 + H, T0 + 3 * H]);
  assert.deepEqual(v.kind === 'takeover' && v.undelivered, [
    { hour: T0, lostParts: 1 },
    { hour: T0 + H, lostParts: 1 },
  ]);
});

test('parts an earlier takeover recorded lost are not lost again', () => {
  // T0: part 1 delivered, part 2 lost with host 0 (lostParts 1), part 3 rebuilt and delivered.
  const hours = [view(T0, 'delivered', 2, 1)];
  assert.deepEqual(verdict(input({ hours, closedHours: [{ hour: T0, lastPart: 3 }] })), { kind: 'resume' });
  // ... and a part 4 closed on host 1 and lost: 4 - 2 delivered = 2 local parts lost in all.
  const v = verdict(input({ hours, closedHours: [{ hour: T0, lastPart: 4 }] }));
  assert.deepEqual(v.kind === 'takeover' && v.undelivered, [{ hour: T0, lostParts: 2 }]);
});

test('lostFiles: open files with durable bytes missing from open/, closing files missing from open/ and sealed/', () => {
  const a = { hour: T0, part: 1, offset: 100, lines: 3 };
  const b = { hour: T0 + H, part: 1, offset: 0, lines: 0 };
  const c = { hour: T0 - H, part: 1, offset: 50, lines: 1 };
  const d = { hour: T0 - 2 * H, part: 2, offset: 50, lines: 1 };
  const state = { files: [a, b], closing: [c, d] };
  assert.deepEqual(lostFiles(state, new Set(), new Set()), [a, c, d]);
  assert.deepEqual(lostFiles(state, new Set([spoolFileName(a)]), new Set([spoolFileName(c)])), [d]);
  assert.deepEqual(withoutLost(state, [a, d]), { files: [b], closing: [c] });
});

function record(over: Partial<HourRecord>): HourRecord {
  return { start: new Date(T0), state: 'sealed', count: 0, bytes: 0, parts: [], updatedAt: new Date(T0), ...over };
}

test('hourViews reads delivered and lost parts', () => {
  const part = { key: 'k', part: 1, revision: 0, count: 5, bytes: 50, sha256: 'x', firstTimestamp: null, lastTimestamp: null, duplicatesRemoved: 0, sealedAt: '' };
  assert.deepEqual(hourViews([{ record: record({ state: 'delivered', parts: [part], lostParts: 2 }) }]), [view(T0, 'delivered', 1, 2)]);
});

test('lostHourFields: an hour rebuilt with documents waits for its new part; one rebuilt with none is delivered with its parts', () => {
  const part = { key: 'k', part: 1, revision: 0, count: 5, bytes: 50, sha256: 'x', firstTimestamp: null, lastTimestamp: null, duplicatesRemoved: 0, sealedAt: '' };
  const withDocs = lostHourFields(record({ parts: [part] }), { hour: T0, lostParts: 1 }, 3, 'host-1');
  assert.equal(withDocs.state, undefined, 'stays sealed until the seal delivers the new part');
  assert.equal(withDocs.lostParts, 1);
  assert.match(withDocs.lastError ?? '', /lost with host host-1/);
  const none = lostHourFields(record({ parts: [part] }), { hour: T0, lostParts: 2 }, 0, 'host-1');
  assert.deepEqual({ state: none.state, count: none.count, bytes: none.bytes, parts: none.parts, lostParts: none.lostParts }, { state: 'delivered', count: 5, bytes: 50, parts: [part], lostParts: 2 });
});
