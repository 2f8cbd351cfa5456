/**
 * The MongoDB emulator in a child process of its own (the `mongo-emulator` command of the
 * workspace package @cron-log-service/mongo-emulator), so that its CPU is not the benchmarked
 * code's: like a real mongod next to the archiver. `cpuProfDir` starts it with --cpu-prof
 * (profile written on SIGTERM exit).
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

const SCRIPT = fileURLToPath(import.meta.resolve('@cron-log-service/mongo-emulator/bin'));

export interface EmulatorProcess {
  uri: string;
  pid: number;
  /** Peak RSS of the emulator process (VmHWM), MiB. */
  peakRssMiB(): Promise<number | undefined>;
  close(): Promise<void>;
}

export async function readVmHWM(pid: number): Promise<number | undefined> {
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const m = /^VmHWM:\s+(\d+)\s+kB/m.exec(status);
    return m?.[1] !== undefined ? Number(m[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

/**
 * `maxOldSpaceMiB`: the emulator's V8 heap limit (default 8192); an emulator holding hours of
 * 10,000,000 documents (and their restored copies) needs more.
 */
export async function startEmulatorProcess(options: { oplogSize?: number; cpuProfDir?: string; maxOldSpaceMiB?: number; leanDocuments?: boolean } = {}): Promise<EmulatorProcess> {
  const args = [
    ...(options.cpuProfDir !== undefined ? ['--cpu-prof', '--cpu-prof-dir', options.cpuProfDir] : []),
    `--max-old-space-size=${options.maxOldSpaceMiB ?? 8192}`,
    SCRIPT,
    '--port',
    '0',
    ...(options.oplogSize !== undefined ? ['--oplog-size', String(options.oplogSize)] : []),
    ...(options.leanDocuments === true ? ['--lean-documents'] : []),
  ];
  const child: ChildProcess = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = once(child, 'exit');
  let out = '';
  const uri = await new Promise<string>((resolve, reject) => {
    const onData = (chunk: Buffer): void => {
      out += chunk.toString();
      const nl = out.indexOf('\n');
      if (nl >= 0) {
        child.stdout?.off('data', onData);
        resolve(out.slice(0, nl).trim());
      }
    };
    child.stdout?.on('data', onData);
    child.once('exit', (code) => reject(new Error(`the emulator exited (code ${String(code)}) before printing its URI`)));
  });
  child.stdout?.resume();
  let closing: Promise<void> | undefined;
  return {
    uri,
    pid: child.pid as number,
    peakRssMiB: () => readVmHWM(child.pid as number),
    close() {
      closing ??= (async () => {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
        await exited;
      })();
      return closing;
    },
  };
}

/**
 * CPU seconds (user + system, all threads) a process has used so far, from /proc/<pid>/stat;
 * with `tid`, of that thread only (/proc/<pid>/task/<tid>/stat; the main thread's tid is the pid).
 */
export async function cpuSecondsOf(pid: number, tid?: number): Promise<number> {
  const stat = await readFile(tid === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${tid}/stat`, 'utf8');
  // Fields after the parenthesised command name: state is field 3, utime 14, stime 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

/** USER_HZ of Linux /proc (getconf CLK_TCK), 100 on every mainstream architecture. */
const CLOCK_TICKS = 100;

/** CPU seconds used by this process (all threads, including the libuv pool doing zlib). */
export function ownCpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}
