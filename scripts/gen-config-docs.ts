/**
 * Writes docs/configuration.md from the option table (src/config/options.ts).
 * Usage: npx tsx scripts/gen-config-docs.ts [--check]
 *   --check  write nothing; exit 1 when docs/configuration.md is out of date.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { renderConfigDocs } from '../src/config/docs.js';

const docsPath = fileURLToPath(new URL('../docs/configuration.md', import.meta.url));

function current(): string | undefined {
  try {
    return readFileSync(docsPath, 'utf8');
  } catch {
    return undefined;
  }
}

const expected = renderConfigDocs();
if (process.argv.includes('--check')) {
  if (current() !== expected) {
    process.stderr.write('docs/configuration.md is out of date: run `npx tsx scripts/gen-config-docs.ts`\n');
    process.exitCode = 1;
  }
} else if (current() !== expected) {
  writeFileSync(docsPath, expected);
  process.stderr.write(`wrote ${docsPath}\n`);
}
