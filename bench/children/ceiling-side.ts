/**
 * Child process of the ceiling benchmark (bench/ceiling.ts): one side of the pair in a process
 * of its own, as `cron-log-service run` is, so that V8 collects its garbage as it would there
 * (beside the bench harness, or the other side's decoding loop, the heap and its limits are not
 * the archiver's own: see src/source/young-garbage.ts).
 *
 * argv[2]: JSON { side: 'archiver' | 'baseline', uri }.
 * stdin: one JSON command a line; stdout: one JSON reply a line.
 *  - { op: 'prepare', db, dir, count }: opens the side's change stream (archiver: a Tailer of the
 *    default config, as `tailerFor` builds it, started; baseline: a driver `watch()` loop, its
 *    first `next()` sent) → { ready: true }. The replay source holds the stream until "go".
 *  - { op: 'arm' }: collects the garbage of what ran before (settle), starts counting V8's
 *    collections and waits for the side to be done: → { armed: true } at once, then
 *    { done: true, capturedMsBeforeDone, majorGcs, minorGcs, eventLoopUtilization, eventLoopIdleMs,
 *    burstMembers, spoolBytes } once the archiver's spool has every document durable (or the loop
 *    has read them all); eventLoopUtilization: perf_hooks' over the window (1: the main thread
 *    never waited).
 *  - { op: 'finish' }: stops the tailer / closes the stream → { finished: true }.
 * CPU time is read by the parent from /proc (this process, and its main thread).
 */
import { createInterface } from 'node:readline';
import { MongoClient } from 'mongodb';
import type { ChangeStream } from 'mongodb';
import { tailerFor } from '../../src/archiver.js';
import type { Tailer } from '../../src/source/tailer.js';
import { RAW_CHANGE_STREAM_BATCH_SIZE } from '../../src/source/stream-client.js';
import { benchConfig, quietLog, settle, until } from '../lib/common.js';
import { GcCounter } from '../lib/gc-counter.js';

const args = JSON.parse(process.argv[2] ?? '') as { side: 'archiver' | 'baseline'; uri: string };
const client = new MongoClient(args.uri);
await client.connect();

const gcs = new GcCounter();

let tailer: Tailer | undefined;
let stream: ChangeStream | undefined;
let first: Promise<unknown> | undefined;
let count = 0;

const reply = (o: object): void => {
  process.stdout.write(`${JSON.stringify(o)}\n`);
};

function durableLines(state: { files: Array<{ lines: number }> }): number {
  let n = 0;
  for (const f of state.files) n += f.lines;
  return n;
}

async function run(): Promise<object> {
  if (tailer !== undefined) {
    const t = tailer;
    let capturedAt = 0;
    await until(
      () => {
        if (capturedAt === 0 && t.stats().captured >= count) capturedAt = performance.now();
        return durableLines(t.spool.state()) >= count;
      },
      'the tailer to make every document durable',
      300_000,
      2,
    );
    const doneAt = performance.now();
    return {
      capturedMsBeforeDone: doneAt - capturedAt,
      burstMembers: t.stats().gzipBurstMembers,
      spoolBytes: t.spool.state().files.reduce((n, f) => n + f.offset, 0),
    };
  }
  const s = stream as ChangeStream;
  await first;
  for (let n = 1; n < count; n++) await s.next();
  return {};
}

async function handle(cmd: { op: string; db?: string; dir?: string; count?: number }): Promise<void> {
  if (cmd.op === 'prepare') {
    count = cmd.count as number;
    if (args.side === 'archiver') {
      tailer = tailerFor(benchConfig(args.uri, cmd.db as string, cmd.dir as string), client, quietLog);
      await tailer.start();
    } else {
      stream = client.db(cmd.db as string).collection('apilogs').watch([], { batchSize: RAW_CHANGE_STREAM_BATCH_SIZE, maxAwaitTimeMS: 1000 });
      first = stream.next();
      first.catch(() => undefined);
    }
    reply({ ready: true });
  } else if (cmd.op === 'arm') {
    await settle();
    const gc0 = gcs.counts();
    gcs.start();
    const elu0 = performance.eventLoopUtilization();
    reply({ armed: true });
    const out = await run();
    const elu = performance.eventLoopUtilization(elu0);
    gcs.stop();
    reply({ done: true, majorGcs: gcs.majors - gc0.majors, minorGcs: gcs.minors - gc0.minors, eventLoopUtilization: elu.utilization, eventLoopIdleMs: elu.idle, ...out });
  } else if (cmd.op === 'finish') {
    await tailer?.stop();
    await stream?.close();
    tailer = undefined;
    stream = undefined;
    reply({ finished: true });
  } else if (cmd.op === 'exit') {
    await client.close();
    process.exit(0);
  }
}

const lines = createInterface({ input: process.stdin });
lines.on('line', (line) => {
  handle(JSON.parse(line) as { op: string }).catch((err: unknown) => {
    process.stderr.write(`ceiling-side (${args.side}): ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  });
});
