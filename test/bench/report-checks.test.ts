/**
 * The bench report's target checks (bench/lib/report.ts): a check on a detail (the ceiling's
 * archiver pinned to one core) counts like the figure's and the ratio's, is named in the table
 * when it misses, and is left out when the detail was not measured (NaN: --quick).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildReport, renderTable } from '../../bench/lib/report.js';
import type { Benchmark } from '../../bench/lib/types.js';
import { ceilingBenchmark } from '../../bench/ceiling.js';

// The ceiling's own target, as `npm run bench` checks it.
const bench: Benchmark = ceilingBenchmark;

const samples = (oneCore: number[]) => oneCore.map((v, i) => ({ figure: 170_000 + i, baseline: 55_000, details: { archiverOneCoreEventsPerSecond: v } }));

test('a detail below its target misses the benchmark and is named in the table', () => {
  const r = buildReport(bench, { samples: samples([122_200, 140_000, 130_000]), sizes: {} }, 1);
  assert.equal(r.target.met, false);
  const one = r.target.checks.find((c) => c.on === 'detail');
  assert.equal(one?.actual, 130_000, 'the median of the runs');
  assert.equal(one?.met, false);
  assert.ok(r.target.checks.filter((c) => c.on !== 'detail').every((c) => c.met));
  assert.match(renderTable([r]), /NO \(archiverOneCoreEventsPerSecond 130,000 vs >= 150,000\)/);
});

test('met when the detail meets it too; left out when the detail was not measured', () => {
  assert.equal(buildReport(bench, { samples: samples([151_000, 152_000, 160_000]), sizes: {} }, 1).target.met, true);
  const quick = buildReport(bench, { samples: samples([Number.NaN]), sizes: {} }, 1);
  assert.deepEqual(quick.target.checks.map((c) => c.on), ['ratio', 'figure']);
  assert.equal(quick.target.met, true);
});
