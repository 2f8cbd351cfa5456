/**
 * The objects of one archived hour (src/seal/hour-objects.ts) and the audit prefix objects are
 * moved to (src/seal/superseded.ts), on the file destination: which keys belong to an hour (every
 * part and revision, not its manifest, not the other occurrence of a repeated local hour, not
 * another day); which are unlisted; reading an object back; a move that keeps a verified copy.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { test } from 'node:test';
import { HourClock } from '../../../src/hours/hour-clock.js';
import { DEFAULT_KEY_TEMPLATE, KeyLayout } from '../../../src/hours/keys.js';
import type { ManifestPart } from '../../../src/seal/manifest.js';
import { listHourObjects, newObjectRead, objectLines, partProblem, unlistedObjects } from '../../../src/seal/hour-objects.js';
import { SUPERSEDED_PREFIX, moveOutOfDataPrefix, supersededKey } from '../../../src/seal/superseded.js';
import { fileDestinationFixture } from '../../helpers/file-destination-fixture.js';

const fx = fileDestinationFixture('cls-hour-objects-');
const { put } = fx;
const keys = new KeyLayout(DEFAULT_KEY_TEMPLATE, 'api-logs');

function partOf(key: string, body: Buffer, count: number, index = 1): ManifestPart {
  return {
    key,
    part: index,
    revision: 0,
    count,
    bytes: body.length,
    sha256: createHash('sha256').update(body).digest('hex'),
    firstTimestamp: null,
    lastTimestamp: null,
    duplicatesRemoved: 0,
    sealedAt: new Date(0).toISOString(),
  };
}

test('an hour lists every part and revision at its keys, and nothing else', async () => {
  const slot = new HourClock('UTC').slotOf(Date.parse('2024-01-15T00:20:00Z'));
  const mine = ['api-logs/2024-01-15/00-01.ndjson.gz', 'api-logs/2024-01-15/00-01.part2.ndjson.gz', 'api-logs/2024-01-15/00-01.rev1.ndjson.gz', 'api-logs/2024-01-15/00-01.part3.rev2.ndjson.gz'];
  const others = [
    'api-logs/2024-01-15/00-01.manifest.json',
    'api-logs/2024-01-15/00-01.part1.ndjson.gz',
    'api-logs/2024-01-15/00-01.notes.ndjson.gz',
    'api-logs/2024-01-16/00-01.ndjson.gz',
    'api-logs/2024-01-15/01-02.ndjson.gz',
    `${SUPERSEDED_PREFIX}api-logs/2024-01-15/00-01.ndjson.gz.0123456789abcdef`,
  ];
  for (const key of [...mine, ...others]) await put(key, Buffer.from(key));
  const found = await listHourObjects(fx.destination(), keys, slot);
  assert.deepEqual(found.map((o) => o.key), mine.slice().sort());
  assert.deepEqual(
    found.map((o) => [o.part.index, o.part.revision]),
    [[1, 0], [2, 0], [3, 2], [1, 1]],
  );
  // A part the manifest lists, and a part a delivery in flight reserved, are not unlisted.
  const listed = [partOf(mine[0]!, Buffer.from(mine[0]!), 1)];
  assert.deepEqual(unlistedObjects(found, listed, new Set([2])).map((o) => o.key), [mine[3], mine[2]]);
});

test('the two occurrences of a local hour repeated by a DST fall-back are two hours', async () => {
  const clock = new HourClock('Europe/Berlin');
  const first = clock.slotOf(Date.parse('2024-10-27T00:20:00Z'));
  const second = clock.slotOf(Date.parse('2024-10-27T01:20:00Z'));
  assert.deepEqual([first.hour, first.fold, second.hour, second.fold], ['02', 0, '02', 1]);
  const a = keys.dataKey(first);
  const b = keys.dataKey(second);
  const b2 = keys.dataKey(second, { index: 2, revision: 0 });
  for (const key of [a, b, b2]) await put(key, Buffer.from(key));
  assert.deepEqual((await listHourObjects(fx.destination(), keys, first)).map((o) => o.key), [a]);
  assert.deepEqual((await listHourObjects(fx.destination(), keys, second)).map((o) => o.key), [b, b2]);
});

test('an object read back: its lines and _ids, SHA-256 and size; bytes that do not decode are a finding, not an exception', async () => {
  const good = gzipSync('{"_id":"a","n":1}\n{"_id":{"$oid":"0123456789abcdef01234567"}}\n\n{"n":2,"_id":3}\n');
  await put('t/good.ndjson.gz', good);
  const read = newObjectRead();
  const seen: string[] = [];
  for await (const { id } of objectLines(fx.destination(), 't/good.ndjson.gz', read)) seen.push(id);
  assert.deepEqual(seen, ['"a"', '{"$oid":"0123456789abcdef01234567"}', '3']);
  assert.deepEqual(read, { bytes: good.length, sha256: createHash('sha256').update(good).digest('hex'), lines: 3 });
  assert.equal(partProblem(partOf('t/good.ndjson.gz', good, 3), read), undefined);
  assert.match(partProblem(partOf('t/good.ndjson.gz', good, 4), read) ?? '', /holds 3 lines, the manifest says 4/);
  assert.match(partProblem({ ...partOf('t/good.ndjson.gz', good, 3), sha256: '0'.repeat(64) }, read) ?? '', /sha256/);

  for (const [name, body, why] of [
    ['t/not-gzip.ndjson.gz', Buffer.from('plain text\n'), /does not decode/],
    ['t/not-json.ndjson.gz', gzipSync('{"_id":1}\nnot json\n'), /does not decode: line 2 is not JSON/],
    ['t/truncated.ndjson.gz', gzipSync('{"_id":1}\n{"_id":2}\n').subarray(0, 20), /does not decode/],
  ] as const) {
    await put(name, body);
    const r = newObjectRead();
    for await (const line of objectLines(fx.destination(), name, r)) void line;
    assert.match(r.error ?? '', why, name);
    assert.match(partProblem(partOf(name, body, 2), r) ?? '', why, name);
  }
  await assert.rejects(async () => {
    for await (const line of objectLines(fx.destination(), 't/absent.ndjson.gz', newObjectRead())) void line;
  }, 'an absent object is the destination\'s error, not a decode finding');
});

test('a move out of the data prefix keeps a verified copy under _superseded/, then removes the data key; moving again is idempotent', async () => {
  const key = 'api-logs/2024-02-01/05-06.part2.ndjson.gz';
  const body = gzipSync('{"_id":"x"}\n');
  const sha = createHash('sha256').update(body).digest('hex');
  await put(key, body);
  const to = await moveOutOfDataPrefix(fx.destination(), key, join(fx.dir(), 'work'));
  assert.equal(to, supersededKey(key, sha));
  assert.equal(to, `_superseded/${key}.${sha.slice(0, 16)}`);
  assert.ok(!to.startsWith(keys.listPrefix()) && !to.endsWith('.ndjson.gz'), 'outside the data prefix, and no *.ndjson.gz glob matches it');
  assert.equal(await fx.destination().head(key), undefined);
  assert.deepEqual(await fs.readFile(join(fx.dir(), 'archive', ...to.split('/'))), body);
  // A move interrupted after its copy: the same bytes at the key again move to the same copy.
  await put(key, body);
  assert.equal(await moveOutOfDataPrefix(fx.destination(), key, join(fx.dir(), 'work')), to);
  assert.equal(await fx.destination().head(key), undefined);
  assert.deepEqual(await fs.readdir(join(fx.dir(), 'work')), [], 'no temp file is left behind');
});
