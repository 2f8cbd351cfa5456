/**
 * Counts this process's V8 collections (mark-compacts and scavenges) from perf_hooks' 'gc'
 * entries, pending entries included when read: the ceiling benchmark's children and scripts.
 */
import { PerformanceObserver, constants as perfConstants } from 'node:perf_hooks';
import type { PerformanceEntry } from 'node:perf_hooks';

export class GcCounter {
  majors = 0;
  minors = 0;
  private readonly observer = new PerformanceObserver((list) => this.add(list.getEntries()));

  private add(entries: readonly PerformanceEntry[]): void {
    for (const e of entries) {
      const kind = (e as unknown as { detail?: { kind?: number } | null }).detail?.kind;
      if (kind === perfConstants.NODE_PERFORMANCE_GC_MAJOR) this.majors++;
      else if (kind === perfConstants.NODE_PERFORMANCE_GC_MINOR) this.minors++;
    }
  }

  start(): void {
    this.observer.observe({ entryTypes: ['gc'] });
  }

  /** The counts so far, entries not yet delivered included. */
  counts(): { majors: number; minors: number } {
    this.add(this.observer.takeRecords());
    return { majors: this.majors, minors: this.minors };
  }

  stop(): void {
    this.add(this.observer.takeRecords());
    this.observer.disconnect();
  }
}
