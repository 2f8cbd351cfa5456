/**
 * An archived hour for tests of reconcile's verdicts: `inMongo` documents of the hour inserted
 * into the watched collection, one small object at the hour's first data key, a manifest and a
 * `delivered` ledger record that say the hour holds `archived` documents.
 */
import { createHash } from 'node:crypto';
import type { SharedContext } from '../../src/archive-context.js';
import type { HourSlot } from '../../src/hours/hour-clock.js';
import { writeManifest } from '../../src/seal/manifest.js';

export async function archivedHour(ctx: SharedContext, slot: HourSlot, archived: number, inMongo: number): Promise<void> {
  if (inMongo > 0) await ctx.collection.insertMany(Array.from({ length: inMongo }, (_, i) => ({ createdAt: new Date(slot.start + i * 1000), i })));
  const body = Buffer.from(`${archived} lines, as far as this test is concerned\n`);
  const sha256 = createHash('sha256').update(body).digest('hex');
  const key = ctx.keys.dataKey(slot, { index: 1, revision: 0 });
  await ctx.destination.put({ key, source: { body }, size: body.length, sha256, contentType: 'application/x-ndjson' });
  const part = { key, part: 1, revision: 0, count: archived, bytes: body.length, sha256, firstTimestamp: null, lastTimestamp: null, duplicatesRemoved: 0, sealedAt: new Date().toISOString() };
  const manifestKey = await writeManifest(ctx, slot, [part]);
  await ctx.ledger.update(slot, { state: 'delivered', count: archived, bytes: body.length, parts: [part], manifestKey, lastError: null });
}
