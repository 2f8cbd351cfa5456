/** Turns benchmark outputs into reports, and reports into the readable table. */
import { round, spread } from './stats.js';
import type { Benchmark, BenchOutput, BenchmarkReport, TargetCheck } from './types.js';

export function buildReport(b: Benchmark, out: BenchOutput, seconds: number): BenchmarkReport {
  const figures = out.samples.map((s) => s.figure);
  const baselines = out.samples.map((s) => s.baseline);
  const ratios = out.samples.map((s) => s.figure / s.baseline);
  const fig = spread(figures);
  const base = spread(baselines);
  const ratio = fig.median / base.median;
  const detailKeys = new Set(out.samples.flatMap((s) => Object.keys(s.details ?? {})));
  const details: Record<string, number> = {};
  for (const k of detailKeys) {
    const values = out.samples.map((s) => s.details?.[k]).filter((v): v is number => typeof v === 'number');
    details[k] = round(spread(values).median);
  }
  const measured = (c: TargetCheck): boolean => c.on !== 'detail' || Number.isFinite(details[c.detail ?? '']);
  const checks = b.target.checks.filter(measured).map((c: TargetCheck) => {
    const actual = c.on === 'ratio' ? ratio : c.on === 'detail' ? (details[c.detail ?? ''] as number) : fig.median;
    const met = c.op === '>=' ? actual >= c.value : actual <= c.value;
    // Margin: how far past the limit (positive = met by, negative = missed by), relative to it.
    const margin = c.op === '>=' ? actual / c.value - 1 : 1 - actual / c.value;
    return { ...c, actual: round(actual), met, margin: round(margin, 3) };
  });
  const r = (s: ReturnType<typeof spread>) => ({ median: round(s.median), min: round(s.min), max: round(s.max), runs: s.runs.map((v) => round(v)) });
  return {
    name: b.name,
    title: b.title,
    unit: b.unit,
    better: b.better,
    figure: round(fig.median),
    baseline: round(base.median),
    ratio: round(ratio),
    spread: { figure: r(fig), baseline: r(base), ratio: r(spread(ratios)) },
    details,
    figureMeaning: b.figure,
    baselineMeaning: b.baseline,
    target: { text: b.target.text, met: checks.every((c) => c.met), checks },
    sizes: out.sizes,
    notes: out.notes ?? [],
    runs: out.samples.length,
    seconds: round(seconds, 3),
  };
}

function fmt(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  if (a >= 10_000) return Math.round(v).toLocaleString('en-US');
  if (a >= 100) return v.toFixed(0);
  if (a >= 10) return v.toFixed(1);
  return v.toFixed(2);
}

function pad(cells: string[][]): string {
  const widths = cells[0]?.map((_, i) => Math.max(...cells.map((row) => (row[i] ?? '').length))) ?? [];
  return cells.map((row) => row.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd()).join('\n');
}

export function renderTable(reports: readonly BenchmarkReport[]): string {
  const rows: string[][] = [['benchmark', 'unit', 'figure (median [min–max])', 'baseline (median [min–max])', 'ratio [min–max]', 'target', 'met', 'runs', 'seconds']];
  for (const r of reports) {
    if (r.error !== undefined) {
      rows.push([r.name, r.unit, `ERROR: ${r.error}`, '', '', r.target.text, 'no', '', r.seconds.toFixed(1)]);
      continue;
    }
    const f = r.spread.figure;
    const b = r.spread.baseline;
    const q = r.spread.ratio;
    rows.push([
      r.name,
      r.unit,
      `${fmt(f.median)} [${fmt(f.min)}–${fmt(f.max)}]`,
      `${fmt(b.median)} [${fmt(b.min)}–${fmt(b.max)}]`,
      `${r.ratio.toFixed(2)} [${q.min.toFixed(2)}–${q.max.toFixed(2)}]`,
      r.target.text,
      r.target.met ? 'yes' : `NO (${r.target.checks.filter((c) => !c.met).map((c) => `${c.on === 'detail' ? c.detail : c.on} ${fmt(c.actual)} vs ${c.op} ${fmt(c.value)}`).join('; ')})`,
      String(r.runs),
      r.seconds.toFixed(1),
    ]);
  }
  return pad(rows);
}
