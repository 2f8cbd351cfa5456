import { Command, Option } from 'commander';
import { destinationOf } from '../archive-context.js';
import type { Config } from '../config/index.js';
import { ConfigError, ExitCode } from '../errors.js';
import { createLogger } from '../observe/logger.js';
import type { DoctorCheck } from '../ops/doctor.js';
import { checkDestination, checkMongo, checkNode, checkSpool, DOCTOR_LIMITS, mongoUnreachable } from '../ops/doctor.js';
import { connectMongo } from '../source/mongo-client.js';
import { configFromFlags, withConfigFlags } from './common.js';
import type { ConfigFlags } from './common.js';
import { printJson, writeOut } from './output.js';

interface DoctorFlags extends ConfigFlags {
  json?: boolean;
  timeout: string;
}

function print(checks: DoctorCheck[], json: boolean): void {
  if (json) {
    printJson({ ok: checks.every((c) => c.ok), checks });
    return;
  }
  for (const c of checks) {
    writeOut(`${c.ok ? 'ok  ' : 'FAIL'}  ${c.name.padEnd(22)} ${c.message}\n`);
    if (!c.ok && c.hint) writeOut(`${' '.repeat(29)}hint: ${c.hint}\n`);
  }
}

export function doctorCommand(): Command {
  const cmd = new Command('doctor')
    .summary('check the configuration, MongoDB, the destination and the spool directory')
    .description(
      'Runs every check and prints one verdict per line with a hint for each failure: configuration valid; MongoDB ' +
        'reachable with the configured credentials; its version (MongoDB 4.4 or later; what an older release lacks) and sessions; a replica set (change streams) or why not; the API-log collection and ' +
        `an index on the timestamp field; the oplog window (at least 2 × (1 h + sealGraceSeconds)); the destination ` +
        `(bucket, container or directory reachable, put/get/delete of a probe object under the prefix); the spool directory writable ` +
        `with at least ${DOCTOR_LIMITS.minFreeBytes / 1048576} MiB free; clock skew under ${DOCTOR_LIMITS.maxClockSkewSeconds}s; the Node.js version (22 or later recommended).`,
    )
    .addOption(new Option('--json', 'print { ok, checks: [{ name, ok, message, hint? }] }'))
    .addOption(new Option('--timeout <ms>', 'how long to wait for MongoDB').default('5000'));
  withConfigFlags(cmd);
  cmd.addHelpText(
    'after',
    `
Exit codes: 0 every check passed; 1 a check failed; 2 the configuration is invalid.

Examples:
  $ cron-log-service doctor
  $ cron-log-service doctor --config ./cron-log-service.json --json`,
  );
  cmd.action(async (flags: DoctorFlags) => {
    const checks: DoctorCheck[] = [];
    let config: Config;
    try {
      config = await configFromFlags(flags);
      checks.push({ name: 'configuration', ok: true, message: 'valid' });
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      checks.push({ name: 'configuration', ok: false, message: err.issues.join('; '), hint: 'see docs/configuration.md' });
      print(checks, flags.json ?? false);
      process.exitCode = ExitCode.badInput;
      return;
    }
    const log = createLogger({ ...config.logging, level: 'error' }, { name: 'doctor' });
    try {
      const client = await connectMongo(config.dbUri, { serverSelectionTimeoutMS: Number(flags.timeout) || 5000 });
      try {
        await client.db(config.database).command({ ping: 1 });
        checks.push({ name: 'mongodb', ok: true, message: 'reachable, authenticated' });
        checks.push(...(await checkMongo(config, client)));
      } finally {
        await client.close();
      }
    } catch (err) {
      checks.push(mongoUnreachable(config, (err as { cause?: unknown }).cause ?? err));
    }
    const destination = destinationOf(config, log);
    try {
      checks.push(...(await checkDestination(config, destination)));
    } finally {
      await destination.close();
    }
    checks.push(await checkSpool(config));
    checks.push(checkNode());
    print(checks, flags.json ?? false);
    process.exitCode = checks.every((c) => c.ok) ? ExitCode.ok : ExitCode.checkFailed;
  });
  return cmd;
}
