/** The CLI's shared helpers: instants from flags, and the aligned tables of the report commands. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseInstant } from '../../../src/cli/common.js';
import { table } from '../../../src/cli/output.js';
import { CronLogError } from '../../../src/errors.js';

test('parseInstant takes an ISO-8601 date-time and names the flag when the value is not one', () => {
  assert.equal(parseInstant('--from', '2024-01-15T00:30:00Z').toISOString(), '2024-01-15T00:30:00.000Z');
  assert.equal(parseInstant('--from', '2024-01-15T02:30:00+02:00').toISOString(), '2024-01-15T00:30:00.000Z');
  for (const bad of ['yesterday', '1705278600000', '15/01/2024', '2024-13-45T00:00:00Z']) {
    assert.throws(
      () => parseInstant('--to', bad),
      (err: unknown) => err instanceof CronLogError && err.code === 'USAGE' && err.message.includes('--to') && err.message.includes(`"${bad}"`),
      bad,
    );
  }
});

test('table aligns columns under their headers and shows a missing value as "-"', () => {
  const out = table(['hour', 'mongo', 'status'], [
    ['2024-01-15T00', 1200, 'ok'],
    ['2024-01-15T01', null, 'not-archived'],
  ]);
  assert.equal(
    out,
    [
      'hour           mongo  status',
      '-------------  -----  ------------',
      '2024-01-15T00  1200   ok',
      '2024-01-15T01  -      not-archived',
      '',
    ].join('\n'),
  );
});
