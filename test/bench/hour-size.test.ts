import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseHourSize } from '../../bench/lib/hour-size.js';

test('--hour-size reads 10k, 100k, 1m, 10m (any case) and whole numbers; refuses the rest', () => {
  assert.equal(parseHourSize('10k'), 10_000);
  assert.equal(parseHourSize('100K'), 100_000);
  assert.equal(parseHourSize('1m'), 1_000_000);
  assert.equal(parseHourSize('10M'), 10_000_000);
  assert.equal(parseHourSize('3m'), 3_000_000);
  assert.equal(parseHourSize('250000'), 250_000);
  for (const bad of ['', 'm', '1g', '1.5m', '-1m', '10', 'ten']) assert.throws(() => parseHourSize(bad), /--hour-size expects/, bad);
});
