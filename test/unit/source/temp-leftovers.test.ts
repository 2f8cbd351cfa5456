/**
 * The temp directories of the external `_id` passes (src/spool/key-files.ts) that a process
 * killed on this host left under the spool directory are removed when capture next recovers
 * the spool (Tailer.recover); those of a live process, of another host, and names of another
 * form stay. The killed process is a real child, SIGKILLed while its directory holds a file.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { openSharedContext } from '../../../src/archive-context.js';
import { tailerFor } from '../../../src/archiver.js';
import { silentLogger } from '../../../src/log.js';
import { keyTempDirectory } from '../../../src/spool/key-files.js';
import { HOST_TAG } from '../../../src/spool/local-process.js';
import { archiveEnv } from '../../helpers/archive-env.js';
import { startTestMongo } from '../../helpers/mongo.js';
import type { TestMongo } from '../../helpers/mongo.js';

let mongo: TestMongo;
before(async () => {
  mongo = await startTestMongo();
});
after(async () => {
  await mongo.close();
});

/** A child that makes a key temp directory under `dir`, writes into it and waits to be killed. */
async function killedChildDirectory(dir: string): Promise<{ name: string; pid: number }> {
  const keyFiles = pathToFileURL(join(import.meta.dirname, '../../../src/spool/key-files.ts')).href;
  const script = `
    import { writeFileSync } from 'node:fs';
    import { join } from 'node:path';
    const { keyTempDirectory } = await import(${JSON.stringify(keyFiles)});
    const d = await keyTempDirectory(${JSON.stringify(dir)}, 'repair-ids');
    writeFileSync(join(d, 'keys-0'), '1 {"$oid":"000000000000000000000000"}\\n');
    process.stdout.write(d + '\\n');
    setInterval(() => {}, 1000);
  `;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.setEncoding('utf8');
  for await (const chunk of child.stdout) {
    out += chunk as string;
    if (out.includes('\n')) break;
  }
  const exited = once(child, 'exit');
  child.kill('SIGKILL');
  await exited;
  return { name: out.trim().split('/').pop()!, pid: child.pid! };
}

test('capture start removes the key temp directories a killed process of this host left, and only those', async () => {
  const env = await archiveEnv(mongo);
  const ctx = openSharedContext(env.config(), env.client, silentLogger);
  try {
    const spool = env.spoolDirectory;
    const dead = await killedChildDirectory(spool);
    assert.match(dead.name, new RegExp(`^repair-ids-${dead.pid}-${HOST_TAG}-`));
    assert.deepEqual(await fs.readdir(join(spool, dead.name)), ['keys-0']);
    const live = (await keyTempDirectory(spool, 'gap-repair')).split('/').pop()!;
    const otherHost = `dedupe-ids-${dead.pid}-${HOST_TAG === '00000000' ? '11111111' : '00000000'}-AbC123`;
    const olderForm = 'archived-ids-Xy9Z01';
    const namespaceLike = `purge-ids-${dead.pid}-${HOST_TAG}-toolong1`;
    for (const name of [otherHost, olderForm, namespaceLike]) await fs.mkdir(join(spool, name));

    const tailer = tailerFor(env.config(), env.client, silentLogger, undefined, ctx);
    await tailer.recover();
    await tailer.stop();

    const left = await fs.readdir(spool);
    assert.ok(!left.includes(dead.name), `the killed child's ${dead.name} is removed`);
    for (const name of [live, otherHost, olderForm, namespaceLike]) assert.ok(left.includes(name), `${name} stays`);
    await fs.rm(join(spool, live), { recursive: true });
  } finally {
    await ctx.close();
    await env.close();
  }
});
