#!/usr/bin/env node
// Entry point installed as `cron-log-service`. In a checkout it runs the TypeScript sources
// through tsx (installed by `npm ci`); in an installed package (and the container image, the
// systemd unit), the bundled command that `npm run build` writes to dist/bundle/
// (scripts/bundle.ts: one file per chunk instead of hundreds of modules, for start-up time).
import { existsSync } from 'node:fs';

const source = new URL('../src/cli/main.ts', import.meta.url);
let main;
if (existsSync(source)) {
  const { register } = await import('tsx/esm/api');
  register();
  ({ main } = await import(source.href));
} else {
  ({ main } = await import('../dist/bundle/cli.js'));
}
process.exitCode = await main(process.argv.slice(2));
