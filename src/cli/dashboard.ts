/**
 * `dashboard`: the archive calendar, the hour drill-down and the "Now" panel of `run`'s
 * `metricsPort` (src/ops/dashboard/), served without a running archiver. Read-only: it reads
 * `jobs`, `logs` and the manifests and objects through the destination; it takes no lease and
 * writes nothing. Serves until SIGINT/SIGTERM.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { startHttpServer } from '../observe/http-server.js';
import { dashboardRoutes, isLoopback } from '../ops/dashboard/routes.js';
import { withConfigFlags } from './common.js';
import type { ConfigFlags } from './common.js';
import { printJson, writeOut } from './output.js';
import { withSession } from './session.js';

interface DashboardFlags extends ConfigFlags {
  port: number;
  host: string;
  json?: boolean;
}

export const DEFAULT_DASHBOARD_PORT = 9465;

function port(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n > 65535) throw new InvalidArgumentError(`expected a port from 0 to 65535, got "${value}"`);
  return n;
}

export function dashboardCommand(): Command {
  const cmd = new Command('dashboard')
    .summary('serve the archive calendar and the status page without a running archiver (read-only)')
    .description(
      'Serves the dashboard that `run` also serves on METRICS_PORT: the archive calendar (every hour of the last days in the ' +
        'configured time zone, coloured and labelled by state: verified, mismatch, missing, not archived, sealed and awaiting ' +
        'delivery, open, purged...), the drill-down of an hour (manifest, reconcile verdict, operation records, the first lines), ' +
        'and the status panel, with its JSON API (/api/hours, /api/hour, /api/status; see docs/dashboard.md). Read-only: it reads ' +
        'the jobs and logs collections and the manifests, takes no lease and writes nothing. Binds 127.0.0.1 unless --host says ' +
        'otherwise; without DASHBOARD_TOKEN only loopback clients are served, with it every client must send the token.',
    )
    .addOption(new Option('--port <n>', 'port to listen on (0: a free port)').argParser(port).default(DEFAULT_DASHBOARD_PORT))
    .addOption(new Option('--host <address>', 'interface to bind (0.0.0.0 or :: for every interface: set DASHBOARD_TOKEN)').default('127.0.0.1'))
    .addOption(new Option('--json', 'print {"url", "host", "port", "token"} as one JSON line once listening'));
  withConfigFlags(cmd);
  cmd.addHelpText(
    'after',
    `
Exit codes: 0 stopped by SIGINT/SIGTERM; 2 bad input (flags, configuration, the port is in use); 3 MongoDB cannot be reached.

Examples:
  $ cron-log-service dashboard                               # http://127.0.0.1:${DEFAULT_DASHBOARD_PORT}/
  $ cron-log-service dashboard --port 8080 --json
  $ DASHBOARD_TOKEN=$(openssl rand -hex 24) cron-log-service dashboard --host 0.0.0.0
  $ curl -H "Authorization: Bearer $DASHBOARD_TOKEN" 'http://127.0.0.1:${DEFAULT_DASHBOARD_PORT}/api/hours?days=7'`,
  );
  cmd.action(async (flags: DashboardFlags) => {
    await withSession(flags, 'dashboard', async ({ config, ctx, client, log }) => {
      const http = await startHttpServer({
        port: flags.port,
        host: flags.host,
        purpose: 'the dashboard (--port)',
        ready: () => ({ ready: true }),
        routes: [dashboardRoutes({ ctx, client, token: config.dashboardToken, log })],
      });
      try {
        const url = `${http.url}/`;
        if (flags.json) printJson({ url, host: flags.host, port: http.port, token: config.dashboardToken !== undefined });
        else writeOut(`dashboard listening on ${url}${config.dashboardToken ? ' (DASHBOARD_TOKEN required)' : ''}\n`);
        const local = isLoopback(flags.host) || flags.host === 'localhost';
        if (!local && config.dashboardToken === undefined) {
          log.warn('the dashboard is bound beyond this host but DASHBOARD_TOKEN is not set: clients other than loopback get 403', { host: flags.host });
        }
        await new Promise<void>((resolve) => {
          process.once('SIGINT', () => resolve());
          process.once('SIGTERM', () => resolve());
        });
      } finally {
        await http.close();
      }
    });
  });
  return cmd;
}
