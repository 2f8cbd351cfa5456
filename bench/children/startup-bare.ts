/**
 * The startup benchmark's baseline: a bare driver process doing what a restarted archiver must
 * do before its first checkpoint, with no archiving: connect, open `watch()` at a cluster time,
 * read the `count` events written since, save a token in a collection. It prints `open` once the
 * stream's aggregate answered and `checkpoint` once the token is saved, each as a JSON line with
 * the process's uptime, like the archiver's own start-up lines.
 *
 * argv[2]: JSON { uri, db, collection, jobs, startAt: { t, i }, count }
 */
import { MongoClient, Timestamp } from 'mongodb';

interface Args {
  uri: string;
  db: string;
  collection: string;
  jobs: string;
  startAt: { t: number; i: number };
  count: number;
}

const args = JSON.parse(process.argv[2] ?? '') as Args;
const line = (message: string): void => void process.stdout.write(`${JSON.stringify({ message, processUptimeMs: Math.round(performance.now()) })}\n`);
const client = new MongoClient(args.uri);
await client.connect();
const db = client.db(args.db);
const stream = db.collection(args.collection).watch([], { startAtOperationTime: new Timestamp({ t: args.startAt.t, i: args.startAt.i }) });
let seen = 0;
// The first tryNext() sends the aggregate: the stream is open once it returns.
if ((await stream.tryNext()) !== null) seen++;
line('open');
while (seen < args.count) {
  await stream.next();
  seen++;
}
await db.collection(args.jobs).updateOne({ _id: 'bare' as never }, { $set: { token: stream.resumeToken } }, { upsert: true });
line('checkpoint');
await stream.close();
await client.close();
