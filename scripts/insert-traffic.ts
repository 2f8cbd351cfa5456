/**
 * Inserts API-log documents continuously into a collection, for the crash tests and by hand:
 *   node --import tsx scripts/insert-traffic.ts --uri URI --collection apilogs \
 *     --count 5000 --batch 50 --interval-ms 20 --hours 3 [--until-hours-ago 0] [--seed 1] [--ids-out FILE]
 * createdAt is spread over the last `--hours` hours (so several hour files receive documents),
 * ending `--until-hours-ago` hours before now.
 * After each acknowledged insertMany, the inserted _ids are appended to --ids-out (one hex per
 * line), so a test knows exactly what MongoDB acknowledged. Prints a JSON summary at the end.
 */
import { appendFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { MongoClient } from 'mongodb';
import { apiLogsBetween, rng } from '@cron-log-service/mongo-emulator/traffic';

const { values } = parseArgs({
  options: {
    uri: { type: 'string' },
    db: { type: 'string' },
    collection: { type: 'string', default: 'apilogs' },
    count: { type: 'string', default: '1000' },
    batch: { type: 'string', default: '50' },
    'interval-ms': { type: 'string', default: '20' },
    hours: { type: 'string', default: '3' },
    'until-hours-ago': { type: 'string', default: '0' },
    seed: { type: 'string', default: '1' },
    'ids-out': { type: 'string' },
  },
});
if (!values.uri) {
  console.error('insert-traffic: --uri is required');
  process.exit(2);
}
const count = Number(values.count);
const batch = Number(values.batch);
const interval = Number(values['interval-ms']);
const hours = Number(values.hours);
const untilHoursAgo = Number(values['until-hours-ago']);
const r = rng(Number(values.seed));
const client = new MongoClient(values.uri);
await client.connect();
const coll = client.db(values.db).collection(values.collection);
const now = Date.now();
let inserted = 0;
const started = Date.now();
while (inserted < count) {
  const n = Math.min(batch, count - inserted);
  const docs = apiLogsBetween(r, n, now - hours * 3_600_000, now - untilHoursAgo * 3_600_000);
  await coll.insertMany(docs, { ordered: true });
  inserted += n;
  if (values['ids-out']) appendFileSync(values['ids-out'], docs.map((d) => `${d._id.toHexString()} ${d.createdAt.toISOString()}\n`).join(''));
  if (interval > 0) await new Promise((res) => setTimeout(res, interval));
}
await client.close();
console.log(JSON.stringify({ inserted, durationMs: Date.now() - started }));
