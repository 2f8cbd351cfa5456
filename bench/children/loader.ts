/**
 * Load generator of the capture benchmark, in its own process like the application that writes
 * the logs: generates `count` API-log documents once (untimed) and prints "ready". Then, for each
 * line "go <db> [n]" on stdin, inserts them (or the first n) into <db>.<collection> with
 * insertMany in batches of `batch`, one batch after the other, and prints one JSON line
 * { insertSeconds }. Exits at the end of stdin.
 *
 * argv[2]: JSON { uri, collection, count, batch, seed, from, to }
 */
import { createInterface } from 'node:readline';
import { MongoClient } from 'mongodb';
import type { Document } from 'mongodb';
import { apiLogsBetween, rng } from '@cron-log-service/mongo-emulator/traffic';

const a = JSON.parse(process.argv[2] ?? '') as { uri: string; collection: string; count: number; batch: number; seed: number; from: number; to: number };
const docs = apiLogsBetween(rng(a.seed), a.count, a.from, a.to) as Document[];
const client = new MongoClient(a.uri, { maxPoolSize: 2 });
await client.connect();
await client.db('admin').command({ ping: 1 });
process.stdout.write('ready\n');
for await (const line of createInterface({ input: process.stdin })) {
  const [cmd, db, n] = line.trim().split(/\s+/);
  if (cmd !== 'go' || db === undefined) continue;
  const count = n === undefined ? docs.length : Math.min(docs.length, Number(n));
  const coll = client.db(db).collection(a.collection);
  const t0 = performance.now();
  for (let i = 0; i < count; i += a.batch) await coll.insertMany(docs.slice(i, Math.min(count, i + a.batch)));
  process.stdout.write(`${JSON.stringify({ insertSeconds: (performance.now() - t0) / 1000 })}\n`);
}
await client.close();
