/**
 * A gap repair (src/source/gap-repair.ts) with a tiny `_id` budget takes the external way and
 * writes exactly what the in-memory way writes: every document of the repaired hours once,
 * none the spool or the delivered parts already hold, with `_id`s of several BSON types (ejson
 * mode fetches them back by `_id`). Its dedupe window answers like the Set: every archived or
 * written `_id` held, nothing else, from a file on disk (SortedKeyFile) once past the budget,
 * whether the budget is exceeded by the spool's keys alone or during the query.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Int32, Long, MongoClient, ObjectId } from 'mongodb';
import type { Collection, Document } from 'mongodb';
import { HourClock } from '../../../src/hours/hour-clock.js';
import { silentLogger } from '../../../src/log.js';
import { idKeyOf, idKeyOfLine } from '../../../src/spool/document-ids.js';
import { readGzipLines } from '../../../src/spool/gzip-members.js';
import type { JsonMode } from '../../../src/spool/json-lines.js';
import { lineEncoder } from '../../../src/spool/json-lines.js';
import { SortedKeyFile } from '../../../src/spool/sorted-key-file.js';
import { Spool } from '../../../src/spool/spool.js';
import { spoolFileName, spoolLayout } from '../../../src/spool/spool-files.js';
import type { Dedupe, GapRepairCapture } from '../../../src/source/gap-repair.js';
import { repairGap } from '../../../src/source/gap-repair.js';
import { startTestMongo, uniqueDbName } from '../../helpers/mongo.js';
import type { TestMongo } from '../../helpers/mongo.js';

const HOUR = 3_600_000;
const H0 = Math.floor(Date.now() / HOUR) * HOUR - 2 * HOUR;
const DOCS = 300;

let mongo: TestMongo;
let client: MongoClient;
let coll: Collection<Document>;
const docs: Document[] = [];

/** ObjectIds, Int32, Long and string `_id`s, over two hours. */
function idOf(i: number): unknown {
  if (i % 4 === 1) return new Int32(i);
  if (i % 4 === 2) return Long.fromNumber(1e12 + i);
  if (i % 4 === 3) return `s-${i}`;
  return new ObjectId();
}

before(async () => {
  mongo = await startTestMongo({});
  client = new MongoClient(mongo.uri);
  await client.connect();
  coll = client.db(uniqueDbName('gaprepair')).collection('apilogs');
  for (let i = 0; i < DOCS; i++) docs.push({ _id: idOf(i), n: i, createdAt: new Date(H0 + ((i * 37) % 120) * 60_000) });
  await coll.insertMany(docs.map((d) => ({ ...d })));
});
after(async () => {
  await coll.db.dropDatabase().catch(() => undefined);
  await client.close();
  await mongo.close();
});

interface Outcome {
  /** `_id` keys in the spool after the repair, sorted (repeats kept). */
  spooled: string[];
  written: number;
  dedupe: Dedupe;
}

/** The spool holds docs [0, 100), the delivered parts [100, 120); the repair runs with `keysInMemory`. */
async function repairWith(mode: JsonMode, keysInMemory: number, dir: string): Promise<Outcome> {
  const clock = new HourClock('UTC');
  const encode = lineEncoder(mode);
  const idKey = idKeyOf(mode);
  const spool = new Spool({ layout: spoolLayout(join(dir, 'spool'), 'app.apilogs'), gzipLevel: 1, timestampField: 'createdAt' });
  await spool.open(undefined);
  const fetched = await coll.find({}, { promoteValues: false, bsonRegExp: true }).sort({ n: 1 }).toArray();
  const append = (doc: Document): number => {
    const hour = clock.slotOf((doc.createdAt as Date).getTime()).start;
    spool.append({ hour, part: 1 }, encode(doc), doc);
    return hour;
  };
  for (const doc of fetched.slice(0, 100)) append(doc);
  await spool.flush();
  let dedupe: Dedupe | undefined;
  const capture: GapRepairCapture = {
    db: coll.db,
    collection: coll,
    spool,
    clock,
    log: silentLogger,
    timestampField: 'createdAt',
    jsonMode: mode,
    idKey,
    maxPendingBytes: 2048,
    keyBudget: { keysInMemory, directory: join(dir, 'tmp') },
    closedHours: () => [],
    append,
    checkpoint: async () => void (await spool.flush()),
    resumeAt: async (_startAt, d) => {
      dedupe = d;
      await spool.flush();
    },
  };
  const out = await repairGap(capture, H0, 'history-lost', {
    addArchived: async (into) => {
      for (const doc of fetched.slice(100, 120)) if (into.add(idKey(doc._id))) await into.flush();
    },
  });
  const spooled: string[] = [];
  for (const f of spool.openFiles()) for await (const line of readGzipLines(join(spool.layout.open, spoolFileName(f)), f.offset)) spooled.push(idKeyOfLine(line));
  await spool.close();
  assert.ok(dedupe !== undefined, 'the stream resumed with a dedupe window');
  return { spooled: spooled.sort(), written: out.written, dedupe };
}

for (const mode of ['analytics', 'ejson'] as const) {
  test(`${mode}: past the key budget (spool alone, or during the query) the repair writes what the in-memory way writes, and its window answers alike`, async () => {
    const root = await fs.mkdtemp(join(tmpdir(), 'gap-repair-'));
    try {
      const idKey = idKeyOf(mode);
      const all = docs.map((d) => idKey(d._id));
      const expected = [...all.slice(0, 100), ...all.slice(120)].sort();
      const absent = [idKey(new ObjectId()), idKey(new Int32(DOCS + 1)), idKey('s-x')];
      const outcomes: Array<[number, Outcome]> = [];
      // 1e6: the Set; 50: the spool's 100 keys spill; 150: the spool and delivered keys (120) fit, the query's do not.
      for (const budget of [1_000_000, 50, 150]) outcomes.push([budget, await repairWith(mode, budget, join(root, String(budget)))]);
      for (const [budget, o] of outcomes) {
        assert.deepEqual(o.spooled, expected, `budget ${budget}: every document once, none delivered already`);
        assert.equal(o.written, DOCS - 120, `budget ${budget}: documents written`);
        assert.equal(o.dedupe.ids instanceof SortedKeyFile, budget < DOCS, `budget ${budget}: window ids on disk past the budget`);
        assert.equal(o.dedupe.ids.size, DOCS);
        for (const k of all) assert.equal(o.dedupe.ids.has(k), true, `budget ${budget}: ${k} archived`);
        for (const k of absent) assert.equal(o.dedupe.ids.has(k), false, `budget ${budget}: ${k} not archived`);
        await o.dedupe.ids.close();
        assert.deepEqual(await fs.readdir(join(root, String(budget), 'tmp')).catch(() => []), [], `budget ${budget}: temp files removed`);
      }
    } finally {
      await fs.rm(root, { recursive: true, force: true });
    }
  });
}
