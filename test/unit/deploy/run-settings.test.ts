/**
 * The Docker image and the systemd unit start `run` with the node flags and environment that
 * bound its memory, the same the `memory` benchmark measures (bench/lib/run-settings.ts): a flag
 * or variable dropped from one of them would leave users with a process that peaks higher than
 * the documented figure.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { RUN_ENV, RUN_NODE_FLAGS } from '../../../bench/lib/run-settings.js';

const root = new URL('../../../', import.meta.url);

test('the Dockerfile starts run with the benchmarked node flags and environment', async () => {
  const text = await readFile(new URL('Dockerfile', root), 'utf8');
  const entry = /^ENTRYPOINT\s+(\[.*\])\s*$/m.exec(text);
  assert.ok(entry, 'the Dockerfile has an exec-form ENTRYPOINT');
  const argv = JSON.parse(entry[1] as string) as string[];
  assert.equal(argv[0], 'node');
  for (const flag of RUN_NODE_FLAGS) assert.ok(argv.includes(flag), `ENTRYPOINT ${JSON.stringify(argv)} lacks ${flag}`);
  for (const [name, value] of Object.entries(RUN_ENV)) {
    assert.match(text, new RegExp(`^ENV ${name}=${value}$`, 'm'), `the Dockerfile lacks ENV ${name}=${value}`);
  }
});

test('the systemd unit starts run with the benchmarked node flags and environment', async () => {
  const text = await readFile(new URL('deploy/cron-log-service.service', root), 'utf8');
  const options = /^Environment=NODE_OPTIONS=(.*)$/m.exec(text)?.[1]?.split(/\s+/) ?? [];
  for (const flag of RUN_NODE_FLAGS) assert.ok(options.includes(flag), `NODE_OPTIONS ${JSON.stringify(options)} lacks ${flag}`);
  for (const [name, value] of Object.entries(RUN_ENV)) {
    assert.match(text, new RegExp(`^Environment=${name}=${value}$`, 'm'), `the unit lacks Environment=${name}=${value}`);
  }
});
