import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { ObjectId } from 'mongodb';
import { encodeClosingRecord, factsPath } from '../../../src/spool/facts-file.js';
import { toAnalytics } from '../../../src/spool/json-lines.js';
import { archiveEnv, insertCaptured, startArchiver } from '../../helpers/archive-env.js';
import { HOUR, hourKey } from '../../helpers/archive-keys.js';
import type { ArchiveEnv } from '../../helpers/archive-env.js';
import { runCli } from '../../helpers/archiver-process.js';
import { startTestMongo } from '../../helpers/mongo.js';
import type { TestMongo } from '../../helpers/mongo.js';
import { gunzipLines, readArchiveDir } from '../../helpers/spool-reader.js';

let mongo: TestMongo;
before(async () => {
  mongo = await startTestMongo();
});
after(async () => {
  await mongo.close();
});

async function manifest(env: ArchiveEnv, start: number): Promise<{ count: number; parts: Array<{ key: string; count: number; sha256: string; part: number; revision: number }> }> {
  const path = join(env.archiveDirectory, hourKey(start, { ext: '.manifest.json' }));
  return JSON.parse(await fs.readFile(path, 'utf8')) as never;
}

/** `perHour` API-log documents spread over each hour of `hours`. */
function apiLogs(hours: number[], perHour: number): Map<number, Array<Record<string, unknown>>> {
  return new Map(
    hours.map((h) => [h, Array.from({ length: perHour }, (_, i) => ({ _id: new ObjectId(), createdAt: new Date(h + Math.floor((i * HOUR) / perHour)), path: `/api/${i}`, status: 200 + (i % 3) }))]),
  );
}

test('sealed hours are delivered at the documented keys, decode to the inserted documents, manifests match, reconcile passes', async () => {
  const env = await archiveEnv(mongo);
  try {
    const now = Date.now();
    const h0 = Math.floor(now / HOUR) * HOUR - 3 * HOUR;
    const hours = [h0, h0 + HOUR, h0 + 2 * HOUR];
    const archiver = await startArchiver(env.config());
    const byHour = apiLogs(hours, 120);
    await insertCaptured(env, archiver, [...byHour.values()].flat());
    const report = await archiver.sealNow();
    assert.equal(report.failed, 0, JSON.stringify(report));
    assert.deepEqual(report.hours.filter((h) => h.status === 'delivered').map((h) => h.start).sort(), hours);

    for (const h of hours) {
      const lines = await gunzipLines(join(env.archiveDirectory, hourKey(h)));
      const expected = byHour.get(h)!.map((d) => JSON.stringify(toAnalytics(d))).sort();
      assert.deepEqual(lines.slice().sort(), expected, `hour ${new Date(h).toISOString()} holds exactly its documents`);
      const m = await manifest(env, h);
      assert.equal(m.count, 120);
      assert.equal(m.parts.length, 1);
      assert.equal(m.parts[0]!.key, hourKey(h));
    }
    assert.ok(report.reconciled.length >= 3 && report.reconciled.every((r) => r.status === 'ok'), JSON.stringify(report.reconciled));
    // The spool file is removed once delivered; the ledger says verified.
    assert.deepEqual(await fs.readdir(join(env.spoolDirectory, `${env.db}.apilogs`, 'sealed')), []);
    const day = await env.client.db(env.db).collection('jobs').findOne({ kind: 'day' });
    assert.ok(Object.values(day!.hours as Record<string, { state: string }>).every((h) => h.state === 'verified'));
    const ops = await env.client.db(env.db).collection('logs').distinct('op');
    assert.deepEqual(ops.sort(), ['deliver', 'reconcile', 'seal']);
    // Each hour was checked from the facts the spool recorded while capturing, not decoded.
    assert.deepEqual(await env.client.db(env.db).collection('logs').distinct('details.checkedBy', { op: 'seal' }), ['facts']);

    // A late document for a sealed hour makes a second part; reconcile still says ok.
    await insertCaptured(env, archiver, [{ createdAt: new Date(h0 + 30 * 60_000), path: '/late' }]);
    const again = await archiver.sealNow();
    assert.equal(again.failed, 0);
    const m0 = await manifest(env, h0);
    assert.equal(m0.count, 121);
    assert.deepEqual(m0.parts.map((p) => p.key), [hourKey(h0), hourKey(h0, { part: '.part2' })]);
    assert.equal((await gunzipLines(join(env.archiveDirectory, hourKey(h0, { part: '.part2' })))).length, 1);
    await archiver.close();

    const from = new Date(h0).toISOString();
    const to = new Date(h0 + 3 * HOUR).toISOString();
    const plain = await runCli(['reconcile', '--no-env-file', '--from', from, '--to', to], env.env());
    assert.equal(plain.code, 0, plain.stdout + plain.stderr);
    assert.match(plain.stdout, /3 hour\(s\), 3 ok, 0 not ok/);
    const deep = await runCli(['reconcile', '--no-env-file', '--from', from, '--to', to, '--deep', '--json'], env.env());
    assert.equal(deep.code, 0, deep.stdout + deep.stderr);
    assert.deepEqual(
      JSON.parse(deep.stdout).map((r: { mongo: number; archived: number; status: string }) => [r.mongo, r.archived, r.status]),
      [[121, 121, 'ok'], [120, 120, 'ok'], [120, 120, 'ok']],
    );
  } finally {
    await env.close();
  }
});

test('a sealed file whose facts do not match its bytes is not delivered from them; the next run decodes and delivers it', async () => {
  const env = await archiveEnv(mongo);
  try {
    const h0 = Math.floor(Date.now() / HOUR) * HOUR - 2 * HOUR;
    const archiver = await startArchiver(env.config());
    const byHour = apiLogs([h0], 50);
    await insertCaptured(env, archiver, byHour.get(h0)!);
    // First run: the destination is unusable (a file where its directory should be), so the
    // hour stays in sealed/ with its facts.
    await fs.writeFile(env.archiveDirectory, 'not a directory');
    const first = await archiver.sealNow();
    assert.equal(first.failed, 1, JSON.stringify(first));
    const sealed = join(env.spoolDirectory, `${env.db}.apilogs`, 'sealed');
    const name = (await fs.readdir(sealed)).find((n) => n.endsWith('.ndjson.gz'))!;
    // The facts now claim another SHA-256 (a valid closing record with a wrong digest).
    const sidecar = await fs.readFile(factsPath(join(sealed, name)));
    const size = (await fs.stat(join(sealed, name))).size;
    const wrong = encodeClosingRecord(size, 50, Buffer.alloc(32, 7));
    await fs.writeFile(factsPath(join(sealed, name)), Buffer.concat([sidecar.subarray(0, sidecar.length - wrong.length), wrong]));
    await fs.rm(env.archiveDirectory);
    const second = await archiver.sealNow();
    assert.equal(second.failed, 1, 'the upload found the bytes differ from the facts and did not complete');
    assert.match(second.hours[0]!.error ?? '', /source changed after it was sealed/);
    await assert.rejects(fs.stat(factsPath(join(sealed, name))), { code: 'ENOENT' }, 'the facts are dropped');
    await assert.rejects(fs.stat(join(env.archiveDirectory, hourKey(h0))), { code: 'ENOENT' }, 'nothing was delivered');
    const third = await archiver.sealNow();
    assert.equal(third.failed, 0, JSON.stringify(third));
    const lines = await gunzipLines(join(env.archiveDirectory, hourKey(h0)));
    assert.deepEqual(lines.sort(), byHour.get(h0)!.map((d) => JSON.stringify(toAnalytics(d))).sort());
    const checks = await env.client.db(env.db).collection('logs').find({ op: 'seal' }).sort({ at: 1 }).toArray();
    assert.deepEqual(checks.map((c) => (c.details as { checkedBy: string }).checkedBy), ['facts', 'facts', 'decode']);
    await archiver.close();
  } finally {
    await env.close();
  }
});

test('reconcile catches a tampered object, a missing object and a count mismatch; --repair fixes them', async () => {
  const env = await archiveEnv(mongo);
  try {
    const h0 = Math.floor(Date.now() / HOUR) * HOUR - 4 * HOUR;
    const hours = [h0, h0 + HOUR, h0 + 2 * HOUR];
    const archiver = await startArchiver(env.config());
    await insertCaptured(env, archiver, [...apiLogs(hours, 50).values()].flat());
    assert.equal((await archiver.sealNow()).failed, 0);
    await archiver.close();

    // Tamper with hour 0 (same size, other bytes), delete hour 1's object, add a document to hour 2 in MongoDB only.
    const p0 = join(env.archiveDirectory, hourKey(h0));
    const bytes = await fs.readFile(p0);
    bytes[bytes.length - 9] = (bytes[bytes.length - 9]! + 1) % 256;
    await fs.writeFile(p0, bytes);
    await fs.rm(join(env.archiveDirectory, hourKey(h0 + HOUR)));
    await env.client.db(env.db).collection('apilogs').insertOne({ createdAt: new Date(h0 + 2 * HOUR + 1000), path: '/mongo-only' });

    const args = ['reconcile', '--no-env-file', '--from', new Date(h0).toISOString(), '--to', new Date(h0 + 3 * HOUR).toISOString(), '--json'];
    const shallow = await runCli(args, env.env());
    assert.equal(shallow.code, 1);
    assert.deepEqual(JSON.parse(shallow.stdout).map((r: { status: string }) => r.status), ['ok', 'missing', 'mismatch']);
    const deep = await runCli([...args, '--deep'], env.env());
    assert.equal(deep.code, 1);
    const deepRows = JSON.parse(deep.stdout) as Array<{ status: string; detail?: string }>;
    assert.deepEqual(deepRows.map((r) => r.status), ['mismatch', 'missing', 'mismatch']);
    assert.match(deepRows[0]!.detail!, /sha256|decode/);

    const repaired = await runCli([...args, '--repair'], env.env());
    assert.equal(repaired.code, 0, repaired.stdout + repaired.stderr);
    const rows = JSON.parse(repaired.stdout) as Array<{ status: string; mongo: number; archived: number; repaired?: boolean }>;
    assert.deepEqual(rows.map((r) => [r.status, r.mongo, r.archived, r.repaired ?? false]), [
      ['ok', 50, 50, false],
      ['ok', 50, 50, true],
      ['ok', 51, 51, true],
    ]);
    const after = await runCli([...args, '--deep'], env.env());
    assert.equal(after.code, 1, 'hour 0 was only wrong in --deep, so plain repair left it');
    const fixed = await runCli([...args, '--deep', '--repair'], env.env());
    assert.equal(fixed.code, 0, fixed.stdout);
    // Repair is append-only: each hour got a new part holding what it lacked; the tampered
    // object left the data prefix for _superseded/ (kept, not deleted) once its replacement was listed.
    for (const [h, count] of [[h0, 50], [h0 + HOUR, 50], [h0 + 2 * HOUR, 1]] as const) {
      const m = await manifest(env, h);
      assert.deepEqual(m.parts.map((p) => [p.key, p.part, p.revision]), [
        ...(h === h0 + 2 * HOUR ? [[hourKey(h), 1, 0]] : []),
        [hourKey(h, { part: '.part2' }), 2, 0],
      ]);
      assert.equal(m.parts[m.parts.length - 1]!.count, count);
    }
    await assert.rejects(fs.stat(p0), { code: 'ENOENT' }, 'the tampered object is no longer under the data prefix');
    const kept = await fs.readdir(join(env.archiveDirectory, '_superseded', hourKey(h0).split('/').slice(0, -1).join('/')));
    assert.equal(kept.length, 1);
    assert.ok(kept[0]!.startsWith(`${hourKey(h0).split('/').pop()!}.`), kept[0]);
    assert.ok((await fs.readFile(join(env.archiveDirectory, '_superseded', hourKey(h0).split('/').slice(0, -1).join('/'), kept[0]!))).equals(bytes));
  } finally {
    await env.close();
  }
});

test('backfill archives past hours with no tailer; re-running it changes nothing', async () => {
  const env = await archiveEnv(mongo);
  try {
    const h0 = Math.floor(Date.now() / HOUR) * HOUR - 30 * HOUR;
    await env.client.db(env.db).collection('apilogs').insertMany([...apiLogs([h0, h0 + 2 * HOUR], 40).values()].flat());
    const args = ['backfill', '--no-env-file', '--from', new Date(h0).toISOString(), '--to', new Date(h0 + 3 * HOUR).toISOString(), '--json'];
    const first = await runCli(args, env.env());
    assert.equal(first.code, 0, first.stdout + first.stderr);
    const report = JSON.parse(first.stdout) as { hours: Array<{ action: string; count?: number; status?: string }> };
    assert.deepEqual(report.hours.map((h) => [h.action, h.count, h.status]), [
      ['archived', 40, 'ok'],
      ['archived', 0, 'ok'],
      ['archived', 40, 'ok'],
    ]);
    const files = await readArchiveDir(env.archiveDirectory);
    assert.deepEqual(files.map((f) => [f.key, f.lines.length]), [
      [hourKey(h0), 40],
      [hourKey(h0 + 2 * HOUR), 40],
    ]);
    const mtimes = await Promise.all(files.map(async (f) => (await fs.stat(join(env.archiveDirectory, f.key))).mtimeMs));
    const second = await runCli(args, env.env());
    assert.equal(second.code, 0);
    assert.deepEqual((JSON.parse(second.stdout) as typeof report).hours.map((h) => h.action), ['skipped-verified', 'skipped-verified', 'skipped-verified']);
    const after = await readArchiveDir(env.archiveDirectory);
    assert.deepEqual(after, files);
    assert.deepEqual(await Promise.all(after.map(async (f) => (await fs.stat(join(env.archiveDirectory, f.key))).mtimeMs)), mtimes);
    const empty = JSON.parse(await fs.readFile(join(env.archiveDirectory, hourKey(h0 + HOUR, { ext: '.manifest.json' })), 'utf8'));
    assert.equal(empty.count, 0, 'an empty hour still gets a manifest');
  } finally {
    await env.close();
  }
});
