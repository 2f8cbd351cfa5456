/**
 * Processes of this host: whether one is alive (by pid), and this host's tag, which names of
 * temp files and directories carry with the pid of the process that made them, so that a later
 * start can tell the leftovers of a dead process of this host from those of a live one (or of
 * another host sharing the directory: never touched).
 */
import { createHash } from 'node:crypto';
import { hostname } from 'node:os';

/** Whether a process with this pid exists on this host. */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** This host in temp names: 8 hex digits of its name's SHA-256. */
export const HOST_TAG: string = createHash('sha256').update(hostname()).digest('hex').slice(0, 8);

/** Whether a temp name's `pid` and `hostTag` say its process is certainly gone (this host, pid dead). */
export function leftByDeadProcess(pid: number, hostTag: string): boolean {
  return hostTag === HOST_TAG && pid !== process.pid && !processAlive(pid);
}
