import { test } from 'node:test';
import assert from 'node:assert/strict';
import { planRecovery } from '../../../src/spool/recovery-plan.js';
import type { SpoolFileState } from '../../../src/spool/spool.js';
import { spoolFileName } from '../../../src/spool/spool-files.js';

const H0 = Date.parse('2024-01-15T00:00:00Z');
const H1 = H0 + 3_600_000;
const H2 = H1 + 3_600_000;

const state = (hour: number, part: number, offset = 100): SpoolFileState => ({ hour, part, offset, lines: 2 });
const name = (hour: number, part = 1): string => spoolFileName({ hour, part });
const facts = (hour: number, part = 1): string => `${name(hour, part)}.facts`;

test('files the checkpoint lists are resumed or their move finished; every other spool file is set aside, none removed', () => {
  const open = state(H1, 1);
  const closing = state(H0, 1, 300);
  const plan = planRecovery([name(H0), facts(H0), name(H1), facts(H1), name(H2), facts(H2), name(H0, 2), 'notes.txt'], { files: [open], closing: [closing] });
  assert.deepEqual(plan, [
    { action: 'finish-move', name: name(H0), state: closing },
    { action: 'with-file', name: facts(H0) },
    { action: 'set-aside', name: name(H0, 2), reason: 'the checkpoint does not list it' },
    { action: 'resume', name: name(H1), state: open },
    { action: 'with-file', name: facts(H1) },
    { action: 'set-aside', name: name(H2), reason: 'the checkpoint does not list it' },
    { action: 'set-aside', name: facts(H2), reason: 'the checkpoint does not list it (a facts sidecar)' },
    { action: 'ignore', name: 'notes.txt' },
  ]);
});

test('the bug of issue 15: a closed file the checkpoint dropped from `closing` is kept, not deleted', () => {
  // Hour H0 was detached, its move failed, and a later close overwrote the closing list.
  const plan = planRecovery([name(H0), name(H0, 2)], { files: [], closing: [state(H0, 2)] });
  assert.deepEqual(
    plan.map((s) => [s.name, s.action]),
    [
      [name(H0), 'set-aside'],
      [name(H0, 2), 'finish-move'],
    ],
  );
});

test('without a checkpoint every spool file is set aside', () => {
  assert.deepEqual(planRecovery([name(H0), facts(H0)], undefined), [
    { action: 'set-aside', name: name(H0), reason: 'there is no capture checkpoint' },
    { action: 'set-aside', name: facts(H0), reason: 'there is no capture checkpoint (a facts sidecar)' },
  ]);
});

test('sidecars: an open file keeps its sidecar even without its file; a closing file only with it', () => {
  const plan = planRecovery([facts(H0), facts(H1)], { files: [state(H0, 1, 0)], closing: [state(H1, 1)] });
  assert.deepEqual(plan, [
    { action: 'with-file', name: facts(H0) },
    { action: 'set-aside', name: facts(H1), reason: 'a facts sidecar whose closed spool file is gone' },
  ]);
});

test('a file listed both as open and as closing is finished as closing', () => {
  const closing = state(H0, 1, 50);
  assert.deepEqual(planRecovery([name(H0)], { files: [state(H0, 1, 80)], closing: [closing] }), [{ action: 'finish-move', name: name(H0), state: closing }]);
});
