/**
 * Stopping the bench's child processes when the bench itself is told to stop. The benchmarks
 * start the emulator, s3rver, archiver `run`s and load generators as children and stop them
 * when they finish; a SIGTERM, SIGINT or SIGHUP to the harness used to end it at once and leave
 * them running (an orphaned emulator held 1.9 GB). `stopChildrenOnSignals()` makes each of these
 * signals stop every live descendant of this process (found in /proc, so children started by
 * any benchmark or helper, and their own children, are included): SIGTERM, up to 5 s to exit
 * (an emulator started with --cpu-prof writes its profile then), SIGKILL for the rest; then the
 * harness exits with 128 + the signal's number. Linux only, like the rest of bench/ (/proc).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { constants } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';

const SIGNALS = ['SIGTERM', 'SIGINT', 'SIGHUP'] as const;
const GRACE_MS = 5_000;

/** Parent pid and state of a process from /proc/<pid>/stat; undefined when it is gone. */
function statOf(pid: number): { ppid: number; state: string } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { state: fields[0] ?? '', ppid: Number(fields[1]) };
  } catch {
    return undefined;
  }
}

/** Whether a process exists and is not a zombie (exited, not reaped yet). */
export function processRunning(pid: number): boolean {
  const s = statOf(pid);
  return s !== undefined && s.state !== 'Z';
}

/** The pids of every running descendant of `root` (children first, then theirs). */
export function descendantsOf(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const s = statOf(Number(name));
    if (s === undefined || s.state === 'Z') continue;
    const list = children.get(s.ppid) ?? [];
    list.push(Number(name));
    children.set(s.ppid, list);
  }
  const out: number[] = [];
  const queue = [root];
  while (queue.length > 0) {
    for (const child of children.get(queue.shift()!) ?? []) {
      out.push(child);
      queue.push(child);
    }
  }
  return out;
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // gone meanwhile
  }
}

/** SIGTERM to every descendant, SIGKILL to those still running after the grace period. */
export async function stopDescendants(graceMs = GRACE_MS): Promise<void> {
  const pids = descendantsOf(process.pid);
  for (const pid of pids) signal(pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline && pids.some(processRunning)) await sleep(50);
  for (const pid of [...pids, ...descendantsOf(process.pid)]) if (processRunning(pid)) signal(pid, 'SIGKILL');
}

/** On SIGTERM, SIGINT or SIGHUP: stop every descendant, then exit 128 + the signal number. */
export function stopChildrenOnSignals(): void {
  let stopping = false;
  for (const sig of SIGNALS) {
    process.on(sig, () => {
      if (stopping) return;
      stopping = true;
      process.stderr.write(`bench: ${sig}: stopping its child processes\n`);
      void stopDescendants().finally(() => process.exit(128 + constants.signals[sig]));
    });
  }
}
