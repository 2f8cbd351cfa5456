/**
 * The `cron-log-service` command as the startup benchmark runs it: what bin/cron-log-service.js
 * does in an installed package (import dist/cli/main.js, run it on argv), compiled to plain
 * JavaScript with the rest of src/ by bench/lib/compile.ts (the compiled tree mirrors src/, not
 * dist/, hence this entry of its own).
 */
import { main } from '../../src/cli/main.js';

process.exitCode = await main(process.argv.slice(2));
