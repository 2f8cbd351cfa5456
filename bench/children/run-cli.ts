/**
 * Child process of the memory benchmark: the `cron-log-service` command line (src/cli/main.ts,
 * what bin/cron-log-service.js runs from dist/ in an installed package), with the process's own
 * memory figures sampled while it runs: `process.memoryUsage()` (rss, heapTotal, heapUsed,
 * external, arrayBuffers) every SAMPLE_MS, and at exit the kernel's peak RSS
 * (`process.resourceUsage().maxRSS`, /proc/self/status VmHWM) and its CPU seconds (user + system,
 * all threads). The samples and peaks are written
 * as JSON to the file named by BENCH_MEMORY_REPORT when the process exits.
 *
 * argv: the command line (e.g. `run --config cfg.json`), or `--loaded` alone: import every
 * module of the command line, print { loadedRssMiB } and exit (the fixed part of the RSS).
 */
import { readFileSync, writeFileSync } from 'node:fs';

const SAMPLE_MS = 50;
const MiB = 2 ** 20;

function vmHWMMiB(): number {
  const m = /^VmHWM:\s+(\d+)\s+kB/m.exec(readFileSync('/proc/self/status', 'utf8'));
  return m?.[1] !== undefined ? Number(m[1]) / 1024 : Number.NaN;
}

const argv = process.argv.slice(2);
if (argv[0] === '--loaded') {
  await import('../../src/cli/main.js');
  process.stdout.write(`${JSON.stringify({ loadedRssMiB: process.memoryUsage().rss / MiB })}\n`);
  process.exit(0);
}

const reportPath = process.env.BENCH_MEMORY_REPORT;
/** Flat rows: Date.now(), rss, heapTotal, heapUsed, external, arrayBuffers (MiB). */
const samples: number[] = [];
function sample(): void {
  const m = process.memoryUsage();
  samples.push(Date.now(), m.rss / MiB, m.heapTotal / MiB, m.heapUsed / MiB, m.external / MiB, m.arrayBuffers / MiB);
}
sample();
setInterval(sample, SAMPLE_MS).unref();
process.on('exit', () => {
  if (reportPath === undefined) return;
  sample();
  const cpu = process.cpuUsage();
  writeFileSync(
    reportPath,
    JSON.stringify({ sampleMs: SAMPLE_MS, samples, maxRssMiB: process.resourceUsage().maxRSS / 1024, vmHWMMiB: vmHWMMiB(), cpuSeconds: (cpu.user + cpu.system) / 1e6 }),
  );
});

const { main } = await import('../../src/cli/main.js');
process.exitCode = await main(argv);
