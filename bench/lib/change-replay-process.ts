/**
 * The change-stream replay source (bench/children/change-replay.ts) in a child process of its own,
 * in front of an upstream server (the emulator): start it, set how many events a cursor serves,
 * wait for a stream to open, release it, read its CPU time.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const SCRIPT = fileURLToPath(new URL('../children/change-replay.ts', import.meta.url));

export interface ChangeReplayProcess {
  /** mongodb:// URI of the replay server (directConnection=true). */
  uri: string;
  pid: number;
  /** Change-stream cursors opened from now on serve `n` events. */
  serve(n: number): Promise<void>;
  /** New cursors wait for `go` before serving events. */
  hold(): Promise<void>;
  /** Resolves at the next change-stream cursor opened (count from the call). */
  opened(): Promise<void>;
  /** Releases every cursor; returns performance.now() when the signal was sent. */
  go(): Promise<number>;
  close(): Promise<void>;
}

export async function startChangeReplay(options: { upstream: string; count: number; from: number; to: number; seed?: number; cpuProfDir?: string }): Promise<ChangeReplayProcess> {
  const up = new URL(options.upstream);
  const a = { upstream: `${up.hostname}:${up.port}`, count: options.count, from: options.from, to: options.to, seed: options.seed ?? 3 };
  const child = spawn(
    process.execPath,
    [...(options.cpuProfDir !== undefined ? ['--cpu-prof', '--cpu-prof-dir', options.cpuProfDir] : []), '--max-old-space-size=4096', '--import', 'tsx', SCRIPT, JSON.stringify(a)],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  const exited = once(child, 'exit');
  const lines = createInterface({ input: child.stdout });
  let waiters: Array<{ want: string; resolve: () => void }> = [];
  let uri = '';
  const ready = new Promise<void>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`the change replay source exited (code ${String(code)}) before it was ready`)));
    lines.on('line', (line) => {
      if (line.startsWith('ready ')) {
        uri = line.slice(6).trim();
        resolve();
        return;
      }
      const i = waiters.findIndex((w) => w.want === line.trim());
      if (i >= 0) {
        const [w] = waiters.splice(i, 1);
        w?.resolve();
      }
    });
  });
  await ready;
  const wait = (want: string): Promise<void> => new Promise((resolve) => waiters.push({ want, resolve }));
  const command = async (line: string): Promise<void> => {
    const ok = wait('ok');
    child.stdin.write(`${line}\n`);
    await ok;
  };
  return {
    uri,
    pid: child.pid as number,
    serve: (n) => command(`serve ${n}`),
    hold: () => command('hold'),
    opened: () => wait('opened'),
    async go() {
      const t = performance.now();
      await command('go');
      return t;
    },
    async close() {
      waiters = [];
      child.stdin.end();
      await exited;
    },
  };
}
