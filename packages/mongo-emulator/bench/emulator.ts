/**
 * Speed figures of the MongoDB emulator, printed as JSON:
 *   - insertMany of 20,000 documents of ~400 bytes in batches of 1,000 (docs/s), while a change
 *     stream receives all of them (count, and delay of the last event after the last insert);
 *     a first (cold) run on a fresh server, then BENCH_RUNS (default 3) warm runs;
 *   - cost of a change stream getMore with an oplog of 1,000 vs 200,000 entries, idle
 *     (maxTimeMS 1) and with one new event.
 * Usage: npm run bench [-- --child]   (in packages/mongo-emulator; --child: the emulator in its
 * own process, the `mongo-emulator` command)
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { MongoClient, ObjectId } from 'mongodb';
import type { Db, Document } from 'mongodb';
import { startEmulator } from '../src/index.js';

const useChild = process.argv.includes('--child');

async function startServer(): Promise<{ uri: string; close(): Promise<void> }> {
  if (!useChild) {
    const emu = await startEmulator({ port: 0 });
    return { uri: emu.uri, close: () => emu.close() };
  }
  const script = fileURLToPath(new URL('../bin/mongo-emulator.js', import.meta.url));
  const child: ChildProcess = spawn(process.execPath, [script, '--port', '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const [chunk] = (await once(child.stdout!, 'data')) as [Buffer];
  return {
    uri: chunk.toString().trim(),
    close: async () => {
      child.kill('SIGTERM');
      await once(child, 'exit');
    },
  };
}

function makeDoc(i: number): Document {
  return {
    _id: new ObjectId(),
    createdAt: new Date(),
    method: i % 3 === 0 ? 'POST' : 'GET',
    path: `/api/v1/customers/${i}/orders?page=${i % 17}`,
    status: 200 + (i % 5),
    durationMs: (i % 997) / 3,
    ip: `10.${i % 255}.${(i >> 8) % 255}.${i % 7}`,
    userAgent: 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36',
    headers: { host: 'api.example.com', accept: 'application/json', 'x-request-id': `req-${i.toString(16).padStart(12, '0')}` },
    bytes: 1000 + (i % 5000),
    tags: ['prod', 'eu-west-1', `shard-${i % 4}`],
  };
}

async function insertAndStream(db: Db): Promise<Document> {
  const coll = db.collection('bench_apilogs');
  const total = 20_000;
  const batch = 1_000;
  const docs = Array.from({ length: total }, (_, i) => makeDoc(i));
  const stream = coll.watch([], { maxAwaitTimeMS: 500 });
  // The first tryNext opens the stream's cursor: every later insert is delivered.
  if ((await stream.tryNext()) !== null) throw new Error('unexpected event');
  let received = 0;
  let lastEventAt = 0;
  const seen = new Set<string>();
  const done = (async () => {
    while (received < total) {
      const ev = (await stream.next()) as Document;
      seen.add(String((ev.documentKey as Document)._id));
      received++;
    }
    lastEventAt = performance.now();
  })();
  const t0 = performance.now();
  for (let i = 0; i < total; i += batch) await coll.insertMany(docs.slice(i, i + batch));
  const t1 = performance.now();
  await Promise.race([done, new Promise((_, reject) => setTimeout(() => reject(new Error(`only ${received} events`)), 30_000))]);
  await stream.close();
  return {
    documents: total,
    batchSize: batch,
    bytesPerDocument: Buffer.byteLength(JSON.stringify(docs[0])),
    insertSeconds: +((t1 - t0) / 1000).toFixed(3),
    insertDocsPerSecond: Math.round(total / ((t1 - t0) / 1000)),
    eventsReceived: received,
    distinctDocuments: seen.size,
    lastEventAfterLastInsertMs: +(lastEventAt - t1).toFixed(1),
  };
}

async function getMoreCost(oplogFill: number): Promise<Document> {
  const server = await startServer();
  const client = new MongoClient(server.uri);
  try {
    await client.connect();
    const db = client.db('bench_getmore');
    const filler = db.collection('fill');
    for (let i = 0; i < oplogFill; i += 10_000) {
      await filler.insertMany(Array.from({ length: Math.min(10_000, oplogFill - i) }, () => ({ v: 1 })));
    }
    const watched = db.collection('watched');
    const open = await db.command({ aggregate: 'watched', pipeline: [{ $changeStream: {} }], cursor: {} }, { promoteLongs: false });
    const id = (open.cursor as Document).id;
    const getMore = (maxTimeMS: number): Promise<Document> => db.command({ getMore: id, collection: 'watched', maxTimeMS }, { promoteLongs: false });
    for (let i = 0; i < 50; i++) await getMore(1);
    const rounds = 500;
    let t = performance.now();
    for (let i = 0; i < rounds; i++) await getMore(1);
    const idle = (performance.now() - t) / rounds;
    t = performance.now();
    for (let i = 0; i < rounds; i++) {
      await watched.insertOne({ i });
      const r = await getMore(1000);
      if (((r.cursor as Document).nextBatch as unknown[]).length !== 1) throw new Error('expected one event');
    }
    const withEvent = (performance.now() - t) / rounds;
    // Resuming from a token near the end: a binary search in the oplog, not a scan.
    const resumeToken = (open.cursor as Document).postBatchResumeToken;
    t = performance.now();
    for (let i = 0; i < 50; i++) {
      const r = await db.command({ aggregate: 'watched', pipeline: [{ $changeStream: { resumeAfter: resumeToken } }], cursor: {} }, { promoteLongs: false });
      await db.command({ killCursors: 'watched', cursors: [(r.cursor as Document).id] });
    }
    const resume = (performance.now() - t) / 50;
    const stats = await client.db('admin').command({ serverStatus: 1 });
    return {
      oplogEntries: (stats.oplogTruncation as Document | undefined)?.oplogEntries ?? null,
      idleGetMoreMs: +idle.toFixed(3),
      insertThenGetMoreMs: +withEvent.toFixed(3),
      resumeAggregateMs: +resume.toFixed(3),
    };
  } finally {
    await client.close();
    await server.close();
  }
}

/** One server; the first run is cold (the emulator's JIT warms up), the next ones are warm. */
async function streamRuns(runs: number): Promise<Document> {
  const server = await startServer();
  const client = new MongoClient(server.uri);
  const results: Document[] = [];
  try {
    await client.connect();
    for (let r = 0; r <= runs; r++) results.push(await insertAndStream(client.db(`bench_${r}`)));
  } finally {
    await client.close();
    await server.close();
  }
  const [cold, ...warm] = results;
  const rates = warm.map((x) => x.insertDocsPerSecond as number).sort((a, b) => a - b);
  const lags = warm.map((x) => x.lastEventAfterLastInsertMs as number).sort((a, b) => a - b);
  return {
    cold,
    warm,
    warmInsertDocsPerSecond: { median: rates[Math.floor(rates.length / 2)], best: rates.at(-1), worst: rates[0] },
    warmLastEventAfterLastInsertMs: { median: lags[Math.floor(lags.length / 2)], worst: lags.at(-1) },
  };
}

const stream = await streamRuns(Number(process.env.BENCH_RUNS ?? 3));
const small = await getMoreCost(1_000);
const large = await getMoreCost(200_000);
console.log(
  JSON.stringify(
    { emulator: useChild ? 'child process' : 'in process', cpus: (await import('node:os')).cpus().length, changeStream: stream, getMore: { small, large } },
    null,
    2,
  ),
);
