/** Renders docs/configuration.md from the option table (scripts/gen-config-docs.ts writes it). */
import { crossRules } from './cross-rules.js';
import { optionList, type OptionEntry } from './option-list.js';

function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

function showDefault(entry: OptionEntry): string {
  const { option } = entry;
  if (option.required) return '**required**';
  if (option.requiredWhen !== undefined) return `required when ${option.requiredWhen}`;
  if (option.default === undefined) return '—';
  if (Array.isArray(option.default)) return `\`${option.default.join(',')}\``;
  return `\`${String(option.default)}\``;
}

function envExample(entry: OptionEntry): string {
  const { option } = entry;
  const value = option.example ?? (Array.isArray(option.default) ? option.default.join(',') : String(option.default ?? ''));
  const needed = option.required || option.requiredWhen !== undefined;
  return `${needed ? '' : '# '}${option.env}=${value}`;
}

function groupOf(entry: OptionEntry): string {
  return entry.keys.length > 1 ? (entry.keys[0] ?? '') : '';
}

const GROUP_TITLES: Readonly<Record<string, string>> = {
  '': 'General',
  collections: 'Collections (`collections.*`)',
  s3: 'S3 destination (`s3.*`)',
  mongoRetry: 'MongoDB outages (`mongoRetry.*`)',
  logging: 'Logging (`logging.*`)',
};

/** The complete Markdown of docs/configuration.md. */
export function renderConfigDocs(): string {
  const lines: string[] = [
    '# Configuration',
    '',
    '<!-- Generated from src/config/options.ts by scripts/gen-config-docs.ts. Do not edit by hand:',
    '     run `npx tsx scripts/gen-config-docs.ts`. -->',
    '',
    'Every option has a path in the config object (`s3.bucket`) and an environment variable',
    '(`S3_BUCKET`). Sources, **highest precedence first**:',
    '',
    '1. **overrides**: the config object passed to the library, or command-line flags;',
    '2. **config file**: `--config <file>`, a `.json` file or a `.js`/`.mjs`/`.cjs` module whose default',
    '   export is the config object (or a function returning it);',
    '3. **environment variables**;',
    '4. **`.env` file** in the working directory (read with dotenv; it never changes `process.env`);',
    '5. **defaults**.',
    '',
    'Rules:',
    '',
    '- Environment values are strings: integers are parsed, booleans accept `true`/`false`, `1`/`0`,',
    '  `yes`/`no`, lists are comma-separated (`insert,update`), enum values are case-insensitive. An',
    '  empty variable counts as unset.',
    '- In objects and config files, `undefined` and `null` count as unset, so',
    '  `{ s3: { bucket: process.env.S3_BUCKET } }` falls back to lower sources when the variable is unset.',
    '- Unknown options in objects and config files are errors (with a suggestion for typos).',
    '- Every problem is reported at once, naming the option (and its environment variable when the value',
    '  came from one) and what is expected. The values of secrets are never echoed. The command exits',
    '  with code 2.',
    '- The database is the path of `dbUri` (`mongodb://localhost:27017/myapp` → `myapp`).',
    '- Secrets (`s3.secretAccessKey`, `s3.sessionToken`, the password in `dbUri`, the path and query of',
    '  `webhookUrl`) are masked in every log line and error message.',
    '',
    '## Summary',
    '',
    '| Option | Environment variable | Type | Default |',
    '| --- | --- | --- | --- |',
  ];
  for (const entry of optionList) {
    lines.push(
      `| [\`${entry.path}\`](#${entry.path.replace(/\./g, '').toLowerCase()}) | \`${entry.option.env}\` | ${cell(entry.option.type)} | ${cell(showDefault(entry))} |`,
    );
  }

  let group: string | undefined;
  for (const entry of optionList) {
    const current = groupOf(entry);
    if (current !== group) {
      group = current;
      lines.push('', `## ${GROUP_TITLES[current] ?? `\`${current}.*\``}`);
    }
    const { option } = entry;
    lines.push('', `### ${entry.path}`, '', option.doc, '');
    lines.push(`- Environment variable: \`${option.env}\``);
    lines.push(`- Type: ${option.type}${option.choices !== undefined && option.envKind === 'enum' && option.choices.length > 4 ? ` (${option.choices.map((c) => `\`${c}\``).join(', ')})` : ''}`);
    lines.push(`- Default: ${showDefault(entry)}`);
    if (option.sensitive !== undefined) lines.push('- Sensitive: never logged or printed in full');
    if (option.example !== undefined) lines.push(`- Example: \`${option.example}\``);
  }

  lines.push('', '## Rules across options', '');
  for (const rule of crossRules) lines.push(`- ${rule.doc}`);

  lines.push(
    '',
    '## Examples',
    '',
    'A config object (library) or config file module:',
    '',
    '```js',
    'export default {',
    '  dbUri: process.env.DB_URI,',
    "  uploadProvider: 's3',",
    "  outputDirectory: 'production-api-logs',",
    '  collections: {',
    "    jobsCollectionName: 'backup_jobs',",
    "    logsCollectionName: 'backup_logs',",
    "    apiLogsCollectionName: 'api_requests',",
    '  },',
    '  s3: {',
    '    bucket: process.env.S3_BUCKET,',
    '    region: process.env.AWS_REGION,',
    '    accessKeyId: process.env.AWS_ACCESS_KEY_ID,',
    '    secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY,',
    '  },',
    '  retryAttempts: 5,',
    "  logging: { level: 'info', enableConsole: true },",
    '};',
    '```',
    '',
    'A `.env` file with every variable (commented-out lines show the default):',
    '',
    '```sh',
    ...optionList.map(envExample),
    '```',
    '',
  );
  return lines.join('\n');
}
