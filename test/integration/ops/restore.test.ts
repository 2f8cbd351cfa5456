/**
 * `restore` end to end: documents of every BSON type captured by `run`'s capture (in process),
 * sealed and delivered to a directory, purged from the source by `purge` (a real process: the
 * source is emptied, reconcile says `purged`), restored by the CLI into a new collection.
 * `ejson`: every document equal byte for byte (BSON as the server returns it); `analytics`: every
 * field the type summary covers equal exactly, and what it cannot restore said. Then the faults:
 * a tampered object, a missing object, a legacy manifest, the watched collection held by a `run`,
 * and SIGKILL during a restore followed by a rerun.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { BSON, BSONRegExp, BSONSymbol, Binary, Code, DBRef, Decimal128, Double, EJSON, Int32, Long, MaxKey, MinKey, ObjectId, Timestamp, UUID } from 'bson';
import type { Document } from 'mongodb';
import { archiveEnv, insertCaptured, startArchiver, waitFor } from '../../helpers/archive-env.js';
import type { ArchiveEnv } from '../../helpers/archive-env.js';
import { runCli, startCli, stderrText } from '../../helpers/archiver-process.js';
import { startTestMongo } from '../../helpers/mongo.js';
import type { TestMongo } from '../../helpers/mongo.js';

const HOUR = 3_600_000;
let mongo: TestMongo;

before(async () => {
  mongo = await startTestMongo();
});
after(async () => {
  await mongo.close();
});

/** Documents of every BSON type the driver writes, spread over three past hours. */
function everyType(h0: number): Document[] {
  const docs: Document[] = [];
  for (let h = 0; h < 3; h++) {
    for (let k = 0; k < 4; k++) {
      const n = h * 4 + k;
      docs.push({
        _id: new ObjectId(),
        createdAt: new Date(h0 + h * HOUR + k * 60_000 + 123),
        i32: new Int32(42 + n),
        i64: Long.fromString('9007199254740993'),
        i64small: Long.fromNumber(n),
        dbl: new Double(1.5 + n),
        dblIntegral: new Double(3),
        nan: new Double(Number.NaN),
        inf: new Double(Number.NEGATIVE_INFINITY),
        dec: Decimal128.fromString('1234.50'),
        bool: n % 2 === 0,
        nul: null,
        str: 'héllo "quoted" \n\u0001 ✓',
        nested: { a: { b: new Int32(1), c: [new Int32(1), new Int32(2)], when: new Date(h0 - 1000) } },
        arr: ['x', new Int32(1), { k: new Long(5) }],
        bin: new Binary(Buffer.from([0, 1, 2, 250, 255]), 0),
        uuid: new UUID(),
        bin5: new Binary(Buffer.from('opaque'), 5),
        regex: new BSONRegExp('^a.b/c$', 'imsx'),
        ts: new Timestamp({ t: 1_700_000_000 + n, i: 7 }),
        minKey: new MinKey(),
        maxKey: new MaxKey(),
        code: new Code('function () { return 1; }'),
        symbol: new BSONSymbol('sym'),
        ref: new DBRef('other', new ObjectId()),
        // Mixed: int32 in some documents, double in others (5.0 included).
        latency: n % 3 === 0 ? new Int32(n) : new Double(n % 3 === 1 ? n + 0.25 : n),
      });
    }
    // Only types the capture's BSON line writer handles itself (src/spool/bson-lines.ts): its
    // line and type summary come from the bytes, without a decode.
    docs.push({
      _id: new ObjectId(),
      createdAt: new Date(h0 + h * HOUR + 30 * 60_000),
      i32: new Int32(-7),
      i64: Long.fromString('-9007199254740995'),
      dbl: new Double(0.1),
      str: 'plain',
      nested: { a: { b: new Int32(2), c: [], when: new Date(h0) } },
      bin: new Binary(Buffer.from('bytes'), 0),
      uuid: new UUID(),
      ts: new Timestamp({ t: 5, i: 6 }),
      bool: true,
      nul: null,
    });
  }
  return docs;
}

/** Every document of a collection, as BSON bytes by `_id` hex. */
async function rawById(env: ArchiveEnv, collection: string): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  const docs = (await env.client.db(env.db).collection(collection).find({}, { raw: true }).toArray()) as unknown as Buffer[];
  for (const raw of docs) {
    const d = BSON.deserialize(raw, { promoteValues: false });
    out.set((d._id as ObjectId).toHexString(), Buffer.from(raw));
  }
  return out;
}

async function archived(env: ArchiveEnv, mode: 'analytics' | 'ejson', docs: Document[]): Promise<void> {
  const archiver = await startArchiver(env.config({ jsonMode: mode }));
  try {
    await insertCaptured(env, archiver, docs);
    const report = await archiver.sealNow();
    assert.equal(report.failed, 0, JSON.stringify(report));
  } finally {
    await archiver.close();
  }
}

function restoreArgs(h0: number, hours: number, extra: string[] = []): string[] {
  return ['restore', '--no-env-file', '--from', new Date(h0).toISOString(), '--to', new Date(h0 + hours * HOUR).toISOString(), '--json', ...extra];
}

async function manifests(env: ArchiveEnv): Promise<string[]> {
  const out: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    for (const e of await fs.readdir(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) await walk(p);
      else if (e.name.endsWith('.json') && !e.name.includes('.tmp')) out.push(p);
    }
  };
  await walk(env.archiveDirectory);
  return out.sort();
}

/** Keys of the analytics fields the round trip cannot give back exactly (asserted separately). */
const ANALYTICS_LOSSY = new Set(['latency']);

for (const mode of ['ejson', 'analytics'] as const) {
  test(`${mode}: archive → purge → restore into a new collection gives the documents back`, { timeout: 120_000 }, async () => {
    const env = await archiveEnv(mongo);
    try {
      const h0 = Math.floor(Date.now() / HOUR) * HOUR - 4 * HOUR;
      const docs = everyType(h0);
      await archived(env, mode, docs);
      const [first] = await manifests(env);
      const manifest = JSON.parse(await fs.readFile(first as string, 'utf8'));
      assert.ok(manifest.parts[0].types.paths, 'the manifest lists the part type summary');
      assert.deepEqual(manifest.parts[0].types.paths.i64, ['long']);
      assert.deepEqual(manifest.parts[0].types.paths['nested.a.c[]'], ['int']);
      assert.ok(manifest.mixedTypes.includes('latency'), `mixed types flagged: ${manifest.mixedTypes}`);

      // Purge the archived hours: the source is emptied, reconcile says purged.
      const source = await rawById(env, 'apilogs');
      assert.equal(source.size, docs.length);
      const purged = await runCli(['purge', '--no-env-file', '--older-than', '1h', '--from', new Date(h0).toISOString(), '--json'], env.env({ JSON_MODE: mode }));
      assert.equal(purged.code, 0, purged.stdout + purged.stderr);
      assert.equal((JSON.parse(purged.stdout) as { deleted: number }).deleted, docs.length);
      assert.equal(await env.client.db(env.db).collection('apilogs').countDocuments(), 0, 'the source is empty');
      const rec = await runCli(['reconcile', '--no-env-file', '--from', new Date(h0).toISOString(), '--to', new Date(h0 + 3 * HOUR).toISOString(), '--json'], env.env({ JSON_MODE: mode }));
      assert.equal(rec.code, 0, rec.stdout + rec.stderr);
      assert.deepEqual((JSON.parse(rec.stdout) as Array<{ status: string }>).map((x) => x.status), ['purged', 'purged', 'purged']);

      const r = await runCli(restoreArgs(h0, 3, ['--into', `${env.db}.restored`]), env.env({ JSON_MODE: mode }));
      assert.equal(r.code, 0, r.stdout + r.stderr);
      const report = JSON.parse(r.stdout);
      assert.equal(report.totals.restored, docs.length);
      assert.deepEqual(report.hours.map((h: { status: string }) => h.status), ['restored', 'restored', 'restored']);
      assert.ok(report.mixedTypes.includes('latency'));

      const restored = await rawById(env, 'restored');
      assert.equal(restored.size, source.size);
      for (const [id, raw] of source) {
        const back = restored.get(id);
        assert.ok(back, `${id} restored`);
        if (mode === 'ejson') {
          if (!back.equals(raw)) {
            const show = (b: Buffer): string => EJSON.stringify(BSON.deserialize(b, { promoteValues: false, bsonRegExp: true }), { relaxed: false });
            assert.fail(`${id}: BSON bytes differ\n${show(raw)}\n${show(back)}`);
          }
          continue;
        }
        const a = BSON.deserialize(raw, { promoteValues: false, bsonRegExp: true });
        const b = BSON.deserialize(back, { promoteValues: false, bsonRegExp: true });
        assert.deepEqual(Object.keys(b), Object.keys(a), 'field order kept');
        for (const key of Object.keys(a)) {
          if (ANALYTICS_LOSSY.has(key)) continue;
          assert.equal(EJSON.stringify({ v: b[key] }, { relaxed: false }), EJSON.stringify({ v: a[key] }, { relaxed: false }), `${id}.${key}`);
        }
        // The mixed field: a double with an integral value comes back as int32 (reported above).
        if (a.latency === undefined) continue;
        const la = a.latency as { _bsontype: string; valueOf(): number };
        const lb = b.latency as { _bsontype: string; valueOf(): number };
        assert.equal(lb.valueOf(), la.valueOf());
        if (!Number.isInteger(la.valueOf())) assert.equal(lb._bsontype, 'Double');
      }
      // The per-hour summary is recorded in `logs`.
      const logs = await env.client.db(env.db).collection('logs').find({ op: 'restore' }).toArray();
      assert.equal(logs.length, 3);
      assert.ok(logs.every((l) => l.outcome === 'ok' && l.details.target === `${env.db}.restored`));

      // A rerun changes nothing: every document is already present.
      const again = await runCli(restoreArgs(h0, 3, ['--into', `${env.db}.restored`]), env.env({ JSON_MODE: mode }));
      assert.equal(again.code, 0, again.stderr);
      const r2 = JSON.parse(again.stdout);
      assert.equal(r2.totals.restored, 0);
      assert.equal(r2.totals.alreadyPresent, docs.length);
      assert.equal(await env.client.db(env.db).collection('restored').countDocuments(), docs.length);
    } finally {
      await env.close();
    }
  });
}

test('faults: a tampered and a missing object fail their hour (exit 1, nothing of it written); a legacy manifest revives _id and the timestamp', { timeout: 120_000 }, async () => {
  const env = await archiveEnv(mongo);
  try {
    const h0 = Math.floor(Date.now() / HOUR) * HOUR - 5 * HOUR;
    const docs = everyType(h0);
    await archived(env, 'analytics', docs);
    const files = await manifests(env);
    assert.equal(files.length, 3);
    const parts = await Promise.all(files.map(async (f) => JSON.parse(await fs.readFile(f, 'utf8')).parts[0] as { key: string; sha256: string; bytes: number }));
    // Hour 0: one byte of its object changed. Hour 1: its object removed.
    const tampered = join(env.archiveDirectory, parts[0]!.key);
    const bytes = await fs.readFile(tampered);
    bytes[bytes.length - 10] = (bytes[bytes.length - 10] as number) ^ 0x55;
    await fs.writeFile(tampered, bytes);
    await fs.rm(join(env.archiveDirectory, parts[1]!.key));
    const r = await runCli(restoreArgs(h0, 3, ['--into', `${env.db}.faulty`]), env.env());
    assert.equal(r.code, 1, r.stderr);
    const report = JSON.parse(r.stdout);
    const [h0r, h1r, h2r] = report.hours;
    assert.equal(h0r.status, 'failed');
    assert.equal(h0r.failedKey, parts[0]!.key);
    assert.match(h0r.error, new RegExp(`sha256 expected ${parts[0]!.sha256}, actual [0-9a-f]{64}`));
    assert.equal(h1r.status, 'failed');
    assert.match(h1r.error, /is missing/);
    assert.ok(h1r.error.includes(parts[1]!.key));
    assert.equal(h2r.status, 'restored');
    assert.equal(h2r.restored, 5);
    const faulty = env.client.db(env.db).collection('faulty');
    assert.equal(await faulty.countDocuments({ createdAt: { $lt: new Date(h0 + 2 * HOUR) } }), 0, 'nothing of the failed hours written');
    assert.equal(await faulty.countDocuments(), 5);
    const errors = await env.client.db(env.db).collection('logs').countDocuments({ op: 'restore', outcome: 'error' });
    assert.equal(errors, 2, 'failed hours are recorded in logs');

    // Legacy: the manifest of hour 2 written before type summaries.
    const legacyFile = files[2] as string;
    const legacy = JSON.parse(await fs.readFile(legacyFile, 'utf8'));
    for (const p of legacy.parts) delete p.types;
    delete legacy.mixedTypes;
    delete legacy.partsWithoutTypes;
    await fs.writeFile(legacyFile, JSON.stringify(legacy, null, 2));
    const l = await runCli(restoreArgs(h0 + 2 * HOUR, 1, ['--into', `${env.db}.legacy`]), env.env());
    assert.equal(l.code, 0, l.stderr);
    const lr = JSON.parse(l.stdout).hours[0];
    assert.match(lr.notRevivedReason, /without a type summary/);
    const back = await env.client.db(env.db).collection('legacy').find({}, { promoteValues: false }).toArray();
    assert.equal(back.length, 5);
    for (const d of back) {
      assert.equal(d._id?._bsontype, 'ObjectId');
      assert.ok(d.createdAt instanceof Date);
      assert.equal(typeof d.nested.a.when, 'string', 'other fields keep their JSON values');
      if (d.dec !== undefined) assert.equal(typeof d.dec, 'string');
    }
  } finally {
    await env.close();
  }
});

test('the watched collection is refused while a run holds it, unless --force; --into and --dry-run work meanwhile', { timeout: 120_000 }, async () => {
  const env = await archiveEnv(mongo);
  try {
    const h0 = Math.floor(Date.now() / HOUR) * HOUR - 3 * HOUR;
    const docs = everyType(h0).slice(0, 4);
    await archived(env, 'analytics', docs);
    const archiver = await startArchiver(env.config());
    try {
      const refused = await runCli(restoreArgs(h0, 1), env.env());
      assert.equal(refused.code, 3, refused.stderr);
      assert.match(stderrText(refused.stderr), /refusing to restore into .*apilogs: "run" on .* holds it/);
      const dry = await runCli(restoreArgs(h0, 1, ['--dry-run']), env.env());
      assert.equal(dry.code, 0, dry.stderr);
      const dr = JSON.parse(dry.stdout);
      assert.deepEqual([dr.hours[0].status, dr.totals.skipped, dr.totals.restored], ['dry-run', 4, 0], 'a dry run verifies and decodes, writes nothing');
      const into = await runCli(restoreArgs(h0, 1, ['--into', 'copy']), env.env());
      assert.equal(into.code, 0, into.stderr);
      assert.equal(JSON.parse(into.stdout).totals.restored, 4);
      const forced = await runCli(restoreArgs(h0, 1, ['--force']), env.env());
      assert.equal(forced.code, 0, forced.stderr);
      assert.equal(JSON.parse(forced.stdout).totals.alreadyPresent, 4, 'the documents are still there: nothing duplicated or overwritten');
    } finally {
      await archiver.close();
    }
  } finally {
    await env.close();
  }
});

test('SIGKILL during a restore, then a rerun: the same collection, nothing duplicated', { timeout: 180_000 }, async () => {
  const env = await archiveEnv(mongo);
  try {
    const h0 = Math.floor(Date.now() / HOUR) * HOUR - 4 * HOUR;
    const docs: Document[] = [];
    for (let i = 0; i < 1500; i++) docs.push({ _id: new ObjectId(), createdAt: new Date(h0 + (i % 3) * HOUR + i * 1000), n: new Int32(i), big: Long.fromString('9007199254740993'), path: `/api/${i}` });
    await archived(env, 'analytics', docs);
    const target = env.client.db(env.db).collection('killed');
    const vars = env.env({ RESTORE_BATCH_SIZE: '10' });
    const run = startCli(restoreArgs(h0, 3, ['--into', `${env.db}.killed`]), vars);
    await waitFor(async () => (await target.countDocuments()) >= 100, 60_000, 'the restore under way');
    run.child.kill('SIGKILL');
    await run.exited;
    const partial = await target.countDocuments();
    assert.ok(partial < docs.length, `killed mid-way (${partial} of ${docs.length})`);
    const rerun = await runCli(restoreArgs(h0, 3, ['--into', `${env.db}.killed`]), vars);
    assert.equal(rerun.code, 0, rerun.stderr);
    const report = JSON.parse(rerun.stdout);
    assert.equal(report.totals.restored + report.totals.alreadyPresent, docs.length);
    assert.ok(report.totals.alreadyPresent >= partial - 10);
    assert.deepEqual(await fs.readdir(join(env.spoolDirectory, 'restore')), [], 'the killed restore\'s temp copies are removed by the rerun');
    const killed = await rawById(env, 'killed');
    const clean = await runCli(restoreArgs(h0, 3, ['--into', `${env.db}.clean`]), env.env());
    assert.equal(clean.code, 0, clean.stderr);
    const once = await rawById(env, 'clean');
    assert.equal(killed.size, docs.length);
    assert.deepEqual([...killed.keys()].sort(), [...once.keys()].sort());
    for (const [id, raw] of once) assert.ok(killed.get(id)?.equals(raw), `${id} equal`);
  } finally {
    await env.close();
  }
});

/** The summary of the one part of the manifest of the hour starting at `start`. */
async function partTypes(env: ArchiveEnv, start: number): Promise<{ paths: Record<string, string[]> }> {
  for (const f of await manifests(env)) {
    const m = JSON.parse(await fs.readFile(f, 'utf8'));
    if (Date.parse(m.start) === start) {
      assert.equal(m.parts.length, 1);
      return m.parts[0].types;
    }
  }
  throw new Error(`no manifest for ${new Date(start).toISOString()}`);
}

test('parts written from a query record the summary too: backfill, and capture\'s first-hour rebuild (the host-takeover path)', { timeout: 120_000 }, async () => {
  const env = await archiveEnv(mongo);
  try {
    const coll = env.client.db(env.db).collection('apilogs');
    // Backfill (reconcile --repair and late parts write their parts the same way: seal/rebuild.ts).
    const h0 = Math.floor(Date.now() / HOUR) * HOUR - 6 * HOUR;
    const past = everyType(h0).filter((d) => (d.createdAt as Date).getTime() < h0 + HOUR);
    await coll.insertMany(past);
    const b = await runCli(['backfill', '--no-env-file', '--from', new Date(h0).toISOString(), '--to', new Date(h0 + HOUR).toISOString(), '--json'], env.env());
    assert.equal(b.code, 0, b.stderr);
    const backfilled = await partTypes(env, h0);
    assert.deepEqual(backfilled.paths.i32, ['int']);
    assert.deepEqual(backfilled.paths.dec, ['decimal']);
    assert.deepEqual(backfilled.paths.latency, ['double', 'int']);

    // First start: capture rebuilds its current hour from a query (repairGap, as after a host takeover).
    const now = Math.floor(Date.now() / HOUR) * HOUR;
    const current = everyType(now).filter((d) => (d.createdAt as Date).getTime() < now + HOUR);
    await coll.insertMany(current);
    const archiver = await startArchiver(env.config());
    try {
      await waitFor(() => archiver.stats().capture.repaired >= current.length, 20_000, 'the first hour rebuilt from a query');
      const report = await archiver.sealNow(now + 2 * HOUR);
      assert.equal(report.failed, 0);
    } finally {
      await archiver.close();
    }
    const rebuilt = await partTypes(env, now);
    assert.deepEqual(rebuilt, backfilled, 'the same documents give the same summary by either path');
    const r = await runCli(restoreArgs(now, 1, ['--into', `${env.db}.rebuilt`]), env.env());
    assert.equal(r.code, 0, r.stderr);
    const back = await env.client.db(env.db).collection('rebuilt').find({}, { promoteValues: false, bsonRegExp: true }).toArray();
    assert.equal(back.length, current.length);
    for (const d of back) {
      assert.equal((d.i64 as { _bsontype: string })._bsontype, 'Long');
      if (d.dec !== undefined) assert.equal((d.dec as { _bsontype: string })._bsontype, 'Decimal128');
    }
  } finally {
    await env.close();
  }
});
