/** What a benchmark module provides, and what the harness makes of it. */

export type SizeProfile = 'quick' | 'default' | 'full';

/** One paired run: the measured figure and its baseline, measured back to back. */
export interface RunSample {
  figure: number;
  baseline: number;
  /** Secondary measurements of this run (e.g. p50, MB/s), reported as medians. */
  details?: Record<string, number>;
}

export interface TargetCheck {
  /**
   * What is compared: the median figure, the ratio of the medians, or the median of one of the
   * details (`detail` names it; a check of a detail that was not measured, NaN, is left out).
   */
  on: 'figure' | 'ratio' | 'detail';
  detail?: string;
  op: '>=' | '<=';
  value: number;
}

export interface BenchContext {
  runs: number;
  profile: SizeProfile;
  /** A fresh temp directory for this benchmark, removed afterwards. */
  dir: string;
  /** Where child processes (emulator, archiver child) write CPU profiles, when profiling. */
  cpuProfDir: string | undefined;
  /** Progress line on stderr. */
  log(message: string): void;
  /**
   * `--hour-size`: the largest hour (documents) a size-aware benchmark builds; undefined: each
   * benchmark's default.
   */
  hourSize?: number | undefined;
}

export interface BenchOutput {
  samples: RunSample[];
  /** Sizes actually used (documents, bytes, ...), reported as is. */
  sizes: Record<string, number | string>;
  notes?: string[];
}

export interface Benchmark {
  name: string;
  title: string;
  /** Unit of the figure and of the baseline. */
  unit: string;
  /** Whether a higher figure is better (throughput) or a lower one (time, memory, latency). */
  better: 'higher' | 'lower';
  figure: string;
  baseline: string;
  target: { text: string; checks: TargetCheck[] };
  /** Run only when named in `--only` (a long or special-purpose benchmark outside the default run). */
  optIn?: boolean;
  /**
   * Paired runs when `--runs` is not given (default and --full sizes; --quick runs 1): fewer than
   * the harness's 3 for a long benchmark whose figure varies little from run to run.
   */
  defaultRuns?: number;
  run(ctx: BenchContext): Promise<BenchOutput>;
}

export interface Spread {
  median: number;
  min: number;
  max: number;
  runs: number[];
}

export interface BenchmarkReport {
  name: string;
  title: string;
  unit: string;
  better: 'higher' | 'lower';
  /** Median figure over the runs. */
  figure: number;
  /** Median baseline over the runs. */
  baseline: number;
  /** figure / baseline (of the medians). */
  ratio: number;
  spread: { figure: Spread; baseline: Spread; ratio: Spread };
  details: Record<string, number>;
  figureMeaning: string;
  baselineMeaning: string;
  target: {
    text: string;
    met: boolean;
    checks: Array<TargetCheck & { actual: number; met: boolean; margin: number }>;
  };
  sizes: Record<string, number | string>;
  notes: string[];
  /** Paired runs made. */
  runs: number;
  /** Wall seconds of the whole benchmark: set-up, every run, tear-down. */
  seconds: number;
  error?: string;
}
