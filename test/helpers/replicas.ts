/**
 * Replicas of `run` as child processes for the standby tests: what each one says about its role
 * (its log lines, `/metrics` `cronlog_role`, `/readyz`), read the way an operator's tooling would.
 */
import type { RunningCli, StderrLine } from './archiver-process.js';

/** The complete JSON log lines a process wrote so far (a line being written is left out). */
export function logLines(run: RunningCli): StderrLine[] {
  const { stderr } = run.output();
  return stderr
    .slice(0, stderr.lastIndexOf('\n') + 1)
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as StderrLine);
}

/** The first log line whose message contains `text`, if any. */
export function logLine(run: RunningCli, text: string): StderrLine | undefined {
  return logLines(run).find((l) => l.message.includes(text));
}

/** The URL of the process's metrics/health server (METRICS_PORT=0), from its log. */
export async function metricsUrlOf(run: RunningCli): Promise<string> {
  await run.waitFor('metrics endpoint listening', 60_000);
  const url = logLine(run, 'metrics endpoint listening')?.meta?.url;
  if (typeof url !== 'string') throw new Error('the metrics URL is not logged');
  return url;
}

/** `cronlog_role` as scraped: the role whose gauge is 1, and both values. */
export async function scrapeRole(url: string): Promise<{ active: number; standby: number }> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const value = (role: string): number => {
    const m = new RegExp(`^cronlog_role\\{[^}]*role="${role}"[^}]*\\} (\\S+)$`, 'm').exec(text);
    if (!m) throw new Error(`no cronlog_role{role="${role}"} in /metrics`);
    return Number(m[1]);
  };
  return { active: value('active'), standby: value('standby') };
}

/** A counter of the process's `/metrics` (its own namespace label aside). */
export async function scrapeValue(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text);
  if (!m) throw new Error(`no ${name} in /metrics`);
  return Number(m[1]);
}

/** `/readyz`: its status and JSON body. */
export async function readyz(url: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${url}/readyz`);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}
