/**
 * Reading an hour's manifest (src/seal/manifest.ts readManifest) costs one request of the
 * destination: the get, which also says when there is none (no HEAD first: on S3 or Azure a
 * request less per hour for reconcile, purge, restore and repair). On the file destination.
 */
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import type { Destination } from '../../../src/deliver/destination.js';
import { HourClock } from '../../../src/hours/hour-clock.js';
import { DEFAULT_KEY_TEMPLATE, KeyLayout } from '../../../src/hours/keys.js';
import { InvalidManifestError, readManifest, writeManifest } from '../../../src/seal/manifest.js';
import { fileDestinationFixture } from '../../helpers/file-destination-fixture.js';

const fx = fileDestinationFixture('cls-manifest-read-');
const keys = new KeyLayout(DEFAULT_KEY_TEMPLATE, 'api-logs');
const clock = new HourClock('UTC');

/** The destination, counting its requests by name. */
function counting(calls: Map<string, number>): Destination {
  const destination = fx.destination();
  const count = (name: 'head' | 'get') => ({
    value: (key: string) => {
      calls.set(name, (calls.get(name) ?? 0) + 1);
      return destination[name](key);
    },
  });
  return Object.create(destination, { head: count('head'), get: count('get') }) as Destination;
}

test('a manifest is read with one get and no HEAD; a missing one is undefined after one get', async () => {
  const slot = clock.slotOf(Date.UTC(2024, 0, 15, 10));
  const key = keys.manifestKey(slot);
  const calls = new Map<string, number>();
  assert.equal(await readManifest(counting(calls), key), undefined);
  assert.deepEqual(Object.fromEntries(calls), { get: 1 });
  await writeManifest({ destination: fx.destination(), keys, namespace: 'app.apilogs', timestampField: 'createdAt', jsonMode: 'analytics' }, slot, []);
  calls.clear();
  const manifest = await readManifest(counting(calls), key);
  assert.equal(manifest?.hour, slot.id);
  assert.equal(manifest?.count, 0);
  assert.deepEqual(Object.fromEntries(calls), { get: 1 });
});

test('an object at the manifest key that is no manifest is an InvalidManifestError; other read errors are thrown', async () => {
  const slot = clock.slotOf(Date.UTC(2024, 0, 15, 11));
  const key = keys.manifestKey(slot);
  const path = join(fx.dir(), 'archive', ...key.split('/'));
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, '{"format":"something else"}');
  await assert.rejects(readManifest(fx.destination(), key), InvalidManifestError);
  const failing = Object.create(fx.destination(), { get: { value: () => Promise.reject(new Error('the destination is down')) } }) as Destination;
  await assert.rejects(readManifest(failing, key), /the destination is down/);
});
