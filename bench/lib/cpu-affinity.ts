/**
 * Pins a running process (every thread of it: `taskset -a -p`) to a set of CPUs, and back: the
 * ceiling benchmark's run "on one core" (the archiver's process on one core, its source on
 * another). Threads started later inherit their starter's set. Linux with util-linux's taskset
 * only: `pinnable()` says whether it can be done here (and the machine has at least 2 CPUs).
 */
import { execFile } from 'node:child_process';
import { cpus } from 'node:os';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Every CPU of the machine, as taskset's list ("0-1"). */
export const ALL_CPUS = `0-${Math.max(0, cpus().length - 1)}`;

/** Whether taskset can pin processes here (and there are two CPUs to pin to). */
export async function pinnable(): Promise<boolean> {
  if (process.platform !== 'linux' || cpus().length < 2) return false;
  try {
    await run('taskset', ['-p', String(process.pid)]);
    return true;
  } catch {
    return false;
  }
}

/** Pins every thread of `pid` to `list` (taskset's CPU list: "1", "0", "0-1"). */
export async function pinProcess(pid: number, list: string): Promise<void> {
  await run('taskset', ['-a', '-p', '-c', list, String(pid)]);
}
