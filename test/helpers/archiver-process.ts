/**
 * Runs `cron-log-service <command>` as a real child process (bin/cron-log-service.js, the
 * installed entry point) with a test environment, and collects its output.
 */
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ConnectionString } from 'mongodb-connection-string-url';

export const BIN = fileURLToPath(new URL('../../bin/cron-log-service.js', import.meta.url));
export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** The URI with `db` as its database path (works for multi-host URIs too). */
export function uriWithDb(uri: string, db: string): string {
  const cs = new ConnectionString(uri);
  cs.pathname = `/${db}`;
  return cs.toString();
}

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Environment with nothing inherited that could change the config (AWS_*, DB_URI, ...). */
export function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const k of ['PATH', 'HOME', 'TMPDIR', 'NODE_OPTIONS', 'LANG']) if (process.env[k] !== undefined) env[k] = process.env[k];
  return { ...env, LOG_FORMAT: 'json', ...extra };
}

/**
 * Why a child cannot be given its own host name here (undefined: it can): that takes
 * `unshare --uts` (util-linux) and root, which CI has.
 */
export function hostNameUnsupported(): string | undefined {
  if (process.platform !== 'linux') return 'host names per child need Linux UTS namespaces';
  if (process.getuid?.() !== 0) return 'host names per child need root (unshare --uts)';
  const probe = spawnSync('unshare', ['--uts', 'true'], { stdio: 'ignore' });
  if (probe.error !== undefined || probe.status !== 0) return 'unshare --uts is not available (util-linux)';
  return undefined;
}

/**
 * The command line of the CLI child: node BIN args, or, with `host`, the same under
 * `unshare --uts` with the host name set to `host` (os.hostname() says `host`; same pid: exec).
 */
function cliCommand(args: readonly string[], host: string | undefined): [string, string[]] {
  if (host === undefined) return [process.execPath, [BIN, ...args]];
  return ['unshare', ['--uts', 'sh', '-c', 'hostname "$0" && exec "$@"', host, process.execPath, BIN, ...args]];
}

/** Runs the CLI to completion (with `host`: under that host name, see hostNameUnsupported). */
export function runCli(args: readonly string[], env: Record<string, string>, opts: { timeoutMs?: number; cwd?: string; host?: string } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const [command, argv] = cliCommand(args, opts.host);
    const child = spawn(command, argv, { env: cleanEnv(env), cwd: opts.cwd ?? ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

export interface RunningCli {
  child: ChildProcess;
  output(): { stdout: string; stderr: string };
  /** Resolves when a log line contains `text`. */
  waitFor(text: string, timeoutMs?: number): Promise<void>;
  exited: Promise<CliResult>;
}

/** Starts a long-running CLI command (e.g. `run`); with `host`, under that host name. */
export function startCli(args: readonly string[], env: Record<string, string>, opts: { host?: string } = {}): RunningCli {
  const [command, argv] = cliCommand(args, opts.host);
  const child = spawn(command, argv, { env: cleanEnv(env), cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  const waiters: Array<{ text: string; resolve: () => void }> = [];
  const check = (): void => {
    for (const w of [...waiters]) {
      if (stderr.includes(w.text) || stdout.includes(w.text)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
    }
  };
  child.stdout?.on('data', (d: Buffer) => {
    stdout += d.toString();
    check();
  });
  child.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
    check();
  });
  const exited = new Promise<CliResult>((resolve) => {
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
  return {
    child,
    output: () => ({ stdout, stderr }),
    exited,
    waitFor(text, timeoutMs = 30_000) {
      return new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`timed out waiting for "${text}"; stderr so far:\n${stderr.slice(-3000)}`)), timeoutMs);
        waiters.push({
          text,
          resolve: () => {
            clearTimeout(timer);
            resolve();
          },
        });
        exited.then(() => {
          clearTimeout(timer);
          reject(new Error(`process exited while waiting for "${text}"; stderr:\n${stderr.slice(-3000)}`));
        }, reject);
        check();
      });
    },
  };
}

/** One line the CLI wrote to stderr under LOG_FORMAT=json (cleanEnv's default). */
export interface StderrLine {
  timestamp: string;
  level: string;
  name?: string;
  message: string;
  meta?: Record<string, unknown>;
}

/** Every stderr line parsed as JSON; throws naming the first line that is not a JSON object. */
export function stderrLines(stderr: string): StderrLine[] {
  return stderr
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => {
      let parsed: unknown;
      try {
        parsed = JSON.parse(line);
      } catch {
        throw new Error(`a stderr line is not JSON: ${line}`);
      }
      if (parsed === null || typeof parsed !== 'object' || typeof (parsed as StderrLine).message !== 'string') {
        throw new Error(`a stderr line is not a log line: ${line}`);
      }
      return parsed as StderrLine;
    });
}

/** The messages of the stderr lines, one per line (for matching text). */
export function stderrText(stderr: string): string {
  return stderrLines(stderr)
    .map((l) => l.message)
    .join('\n');
}
