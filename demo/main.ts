/**
 * `npm run demo`: the whole archiver on an embedded sandbox (demo.ts), with the flags, help and
 * exit codes of the other commands (it runs through the CLI's `runProgram`). Not part of the
 * shipped CLI: it needs the emulator package and s3rver, which only a checkout installs.
 *
 *   node --import tsx demo/main.ts [--s3 | --azure] [--follow] [--seconds N] [--dir PATH]
 */
import { Command, Option } from 'commander';
import { runProgram } from '../src/cli/main.js';
import { table, writeOut } from '../src/cli/output.js';
import { ExitCode, createLogger } from '../src/index.js';
import { runDemo } from './demo.js';

interface DemoFlags {
  s3?: boolean;
  azure?: boolean;
  follow?: boolean;
  seconds: string;
  dir: string;
}

export function demoCommand(): Command {
  const cmd = new Command('demo')
    .summary('run the whole archiver on an embedded sandbox (no setup)')
    .description(
      'Starts the project\'s MongoDB replica-set emulator, a traffic generator writing realistic API logs (history over ' +
        'the last 3 hours plus live requests) and the archiver itself, sealing every 5 seconds into ./demo-archive ' +
        '(--s3: into an s3rver bucket; --azure: into an Azurite container, Azure Blob Storage over real HTTP). Ends with the reconcile table of the finished hours and the list of files, and ' +
        'leaves nothing running. The current hour stays open (it is sealed after it ends): see it with --follow. ' +
        'The archiver also serves the dashboard (archive calendar, status) on a free port: its URL is printed at the start.',
    )
    .addOption(new Option('--s3', 'deliver to a local s3rver (S3 over real HTTP) instead of a directory').conflicts('azure'))
    .addOption(new Option('--azure', 'deliver to a local Azurite (Azure Blob Storage over real HTTP) instead of a directory'))
    .addOption(new Option('--follow', 'keep generating traffic and archiving until Ctrl-C'))
    .addOption(new Option('--seconds <n>', 'length of the live phase').default('25'))
    .addOption(new Option('--dir <path>', 'where the archive is written (emptied first)').default('demo-archive'))
    .showHelpAfterError('(add --help for usage)')
    .exitOverride()
    .configureOutput({ outputError: (str, write) => write(str) });
  cmd.addHelpText(
    'after',
    `
Examples:
  $ npm run demo
  $ npm run demo -- --s3
  $ npm run demo -- --azure
  $ npm run demo -- --follow`,
  );
  cmd.action(async (flags: DemoFlags) => {
    const tty = process.stdout.isTTY === true;
    const controller = new AbortController();
    const stop = (): void => controller.abort();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    const via = flags.s3 ? ' (via s3rver)' : flags.azure ? ' (an Azurite container)' : '';
    writeOut(`cron-log-service demo: emulator + traffic + archiver → ${flags.azure ? 'azure' : flags.dir}${via}\n`);
    let lastLog = 0;
    const result = await runDemo(
      {
        archiveDirectory: flags.dir,
        s3: flags.s3 ?? false,
        azure: flags.azure ?? false,
        follow: flags.follow ?? false,
        seconds: Number(flags.seconds) || 25,
        signal: controller.signal,
        dashboard: (url) => writeOut(`dashboard: ${url}${flags.follow ? ' (up until Ctrl-C)' : ` (up for the ${Number(flags.seconds) || 25} s of the live phase; --follow keeps it up)`}\n`),
        progress: (line, final) => {
          if (tty) writeOut(`\r\x1b[2K${line}${final ? '\n' : ''}`);
          else if (final || Date.now() - lastLog > 5000) {
            lastLog = Date.now();
            writeOut(`${line}\n`);
          }
        },
      },
      createLogger({ level: 'warn', enableConsole: true, format: 'auto' }, { name: 'demo' }),
    );
    process.removeListener('SIGINT', stop);
    process.removeListener('SIGTERM', stop);
    writeOut(`\nreconcile (finished hours)\n${table(['hour', 'mongo', 'archived', 'status'], result.rows.map((r) => [r.hour, r.mongo, r.archived, r.status]))}`);
    writeOut(`\nobjects in ${result.destination}\n${table(['file', 'bytes'], result.files.map((f) => [f.key, f.bytes]))}`);
    const sample = result.files.find((f) => f.key.endsWith('.ndjson.gz'))?.key;
    if (sample && !flags.s3 && !flags.azure) {
      const path = `${flags.dir}/${sample}`;
      writeOut(
        `\nLook inside:\n  zcat ${path} | head -n 2\n` +
          `  duckdb -c "SELECT status, count(*) AS requests, round(avg(latencyMs), 1) AS avg_ms FROM read_json_auto('${flags.dir}/**/*.ndjson.gz') GROUP BY status ORDER BY requests DESC"\n` +
          `  cat ${path.replace(/(\.part\d+)?(\.rev\d+)?\.ndjson\.gz$/, '.manifest.json')}\n`,
      );
    }
    const ok = result.rows.length > 0 && result.rows.every((r) => r.status === 'ok');
    process.exitCode = ok ? ExitCode.ok : ExitCode.checkFailed;
  });
  return cmd;
}

process.exitCode = await runProgram(demoCommand(), process.argv.slice(2));
