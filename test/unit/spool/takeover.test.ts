/**
 * Spool takeover from a previous owner that may still be writing (src/spool/spool.ts header,
 * DESIGN invariant 8): two Spool instances on one directory stand for a frozen process A and the
 * new owner B. Whatever A flushes after B opened the spool must never show up in the files B
 * writes (the files stay decodable, with exactly A's checkpointed lines and B's), A cannot
 * create or take over a file B created, and a file A created at a name B creates is moved aside.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CronLogError } from '../../../src/errors.js';
import { readGzipLines } from '../../../src/spool/gzip-members.js';
import { Spool } from '../../../src/spool/spool.js';
import type { KeptFile } from '../../../src/spool/spool.js';
import { spoolFileName, spoolLayout } from '../../../src/spool/spool-files.js';
import type { SpoolLayout } from '../../../src/spool/spool-files.js';

const H0 = Date.parse('2024-01-15T00:00:00Z');
const H1 = H0 + 3_600_000;

async function lines(path: string): Promise<string[]> {
  const out: string[] = [];
  for await (const l of readGzipLines(path)) out.push(l);
  return out;
}

async function layout(): Promise<SpoolLayout> {
  return spoolLayout(await fs.mkdtemp(join(tmpdir(), 'spool-takeover-')), 'app.apilogs');
}

const fenced = new CronLogError('FENCED', 'a newer owner holds the namespace');

test('taken over while A may still write: A\'s later flushes reach neither the file nor its sidecar that B appends to', async () => {
  const l = await layout();
  const a = new Spool({ layout: l, gzipLevel: 6, timestampField: 'createdAt' });
  await a.open(undefined);
  a.append({ hour: H0, part: 1 }, '{"a":1,"createdAt":"2024-01-15T00:00:01Z"}');
  const checkpointed = await a.flush(); // A's last checkpoint
  a.append({ hour: H0, part: 1 }, '{"a":2,"createdAt":"2024-01-15T00:00:02Z"}');
  await a.flush(); // after the checkpoint: the stream delivers this again to B
  a.append({ hour: H0, part: 1 }, '{"stale":1,"createdAt":"2024-01-15T00:00:03Z"}');

  const b = new Spool({ layout: l, gzipLevel: 6, timestampField: 'createdAt' });
  await b.open(checkpointed, { previousOwnerMayWrite: true });
  const path = join(l.open, spoolFileName({ hour: H0, part: 1 }));
  assert.deepEqual(await lines(path), ['{"a":1,"createdAt":"2024-01-15T00:00:01Z"}'], 'cut to the checkpointed prefix');
  // A resumes and flushes through its old descriptors, B writes at the same time.
  b.append({ hour: H0, part: 1 }, '{"a":2,"createdAt":"2024-01-15T00:00:02Z"}');
  await Promise.all([a.flush(), b.flush()]);
  a.append({ hour: H0, part: 1 }, '{"stale":2,"createdAt":"2024-01-15T00:00:04Z"}');
  await a.flush();
  b.append({ hour: H0, part: 1 }, '{"b":3,"createdAt":"2024-01-15T00:00:05Z"}');
  const state = await b.flush();
  await a.close();
  await b.close();
  const f = state.files[0]!;
  assert.equal((await fs.stat(path)).size, f.offset);
  assert.deepEqual(await lines(path), [
    '{"a":1,"createdAt":"2024-01-15T00:00:01Z"}',
    '{"a":2,"createdAt":"2024-01-15T00:00:02Z"}',
    '{"b":3,"createdAt":"2024-01-15T00:00:05Z"}',
  ]);
  assert.equal((await fs.stat(`${path}.facts`)).size, f.facts, 'the sidecar holds B\'s records only');
});

test('a stale writer that must create a file B created is refused by checkOwner and touches nothing; B moves a file A created aside', async () => {
  const l = await layout();
  const a = new Spool({ layout: l, gzipLevel: 6, checkOwner: () => Promise.reject(fenced) });
  await a.open(undefined);
  a.append({ hour: H0, part: 1 }, '{"a":1}');
  const checkpointed = await a.flush();

  const kept: KeptFile[] = [];
  const b = new Spool({ layout: l, gzipLevel: 6, checkOwner: () => Promise.resolve(), onKept: (k) => kept.push(k) });
  await b.open(checkpointed, { previousOwnerMayWrite: true });
  b.append({ hour: H1, part: 1 }, '{"b":1}');
  await b.flush();
  const h1 = join(l.open, spoolFileName({ hour: H1, part: 1 }));
  // A, frozen with lines of the next hour, resumes: the name is B's.
  a.append({ hour: H1, part: 1 }, '{"stale":1}');
  await assert.rejects(a.flush(), (err) => err === fenced);
  assert.deepEqual(await lines(h1), ['{"b":1}']);

  // The other order: A created a file (its checkpoint listed it) before B got to it.
  const h2 = join(l.open, spoolFileName({ hour: H1, part: 2 }));
  await fs.writeFile(h2, 'stale bytes');
  b.append({ hour: H1, part: 2 }, '{"b":2}');
  await b.flush();
  await a.close();
  await b.close();
  assert.deepEqual(await lines(h2), ['{"b":2}']);
  assert.equal(kept.length, 1);
  assert.equal(kept[0]!.file, h2);
  assert.match(kept[0]!.reason, /fenced out/);
  assert.ok(kept[0]!.keptAs.startsWith(l.unrecognized + '/'));
  assert.equal(await fs.readFile(kept[0]!.keptAs, 'utf8'), 'stale bytes', 'kept whole, never removed');
});

test('when the previous owner is provably dead the files are cut back in place (same inode)', async () => {
  const l = await layout();
  const a = new Spool({ layout: l, gzipLevel: 6 });
  await a.open(undefined);
  a.append({ hour: H0, part: 1 }, '{"a":1}');
  const checkpointed = await a.flush();
  a.append({ hour: H0, part: 1 }, '{"a":2}');
  await a.flush();
  await a.close();
  const path = join(l.open, spoolFileName({ hour: H0, part: 1 }));
  const { ino } = await fs.stat(path);
  const b = new Spool({ layout: l, gzipLevel: 6 });
  await b.open(checkpointed);
  await b.close();
  assert.equal((await fs.stat(path)).ino, ino);
  assert.deepEqual(await lines(path), ['{"a":1}']);
});
