/**
 * Issue 17: a failed reconcile must never make a seal run report a failure for hours that were
 * delivered. On MongoDB 4.4 every seal run used to end `seal run failed: … Unrecognized
 * expression '$dateTrunc'` (exit 3) after delivering its hours. Here the server refuses the
 * reconcile's count (the `failCommand` fail point answers the archiver's `aggregate` with 168
 * InvalidPipelineOperator, as 4.4 answered `$dateTrunc`): a real `seal` process delivers every
 * hour, reports them delivered, reports the reconcile failure on its own and exits 0; the next
 * seal run, with the count working again, reconciles those hours `ok`.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { MongoClient } from 'mongodb';
import { archiveEnv } from '../helpers/archive-env.js';
import { HOUR, hourKey } from '../helpers/archive-keys.js';
import { runCli, stderrLines } from '../helpers/archiver-process.js';
import { captureThenSeal, deliveredKeysById } from '../helpers/capture-run.js';
import { lockFailCommand, setFailCommand, startTestMongo } from '../helpers/mongo.js';
import type { TestMongo } from '../helpers/mongo.js';

/** The archiver's appName (src/source/mongo-client.ts). */
const APP = 'cron-log-service';

interface Report {
  hours: Array<{ hour: string; key?: string; count: number; status: string }>;
  reconciled: Array<{ hour: string; mongo: number; archived: number; status: string }>;
  reconcileError?: string;
  failed: number;
}

let mongo: TestMongo;
before(async () => {
  mongo = await startTestMongo();
});
after(async () => {
  await mongo.close();
});

test('seal: the reconcile count fails, the hours are still reported delivered (exit 0) and the failure on its own; the next run reconciles them', { timeout: 180_000 }, async () => {
  const env = await archiveEnv(mongo);
  const admin = new MongoClient(mongo.uri);
  await admin.connect();
  const unlock = await lockFailCommand(admin);
  try {
    const vars = env.env();
    const h = Math.floor(Date.now() / HOUR) * HOUR - 3 * HOUR;
    const docs = [
      ...Array.from({ length: 10 }, (_, i) => ({ createdAt: new Date(h + i * 60_000) })),
      ...Array.from({ length: 5 }, (_, i) => ({ createdAt: new Date(h + HOUR + i * 60_000) })),
    ];
    const seal = await captureThenSeal(env, vars, docs, 60_000, async () => {
      await setFailCommand(admin, APP, 'alwaysOn', { failCommands: ['aggregate'], namespace: `${env.db}.apilogs`, errorCode: 168 });
    });
    assert.equal(seal.code, 0, seal.stdout + seal.stderr.slice(-2000));
    const report = JSON.parse(seal.stdout) as Report;
    assert.equal(report.failed, 0);
    const data = report.hours.filter((x) => x.count > 0);
    assert.deepEqual(data.map((x) => [x.key, x.count, x.status]), [
      [hourKey(h), 10, 'delivered'],
      [hourKey(h + HOUR), 5, 'delivered'],
    ]);
    assert.ok(report.hours.every((x) => x.status !== 'failed'), JSON.stringify(report.hours));
    assert.deepEqual(report.reconciled, []);
    assert.match(report.reconcileError ?? '', /InvalidPipelineOperator \(code 168\)/);
    // One error log line names the cause and the hours that stay delivered.
    const line = stderrLines(seal.stderr).find((l) => /reconcile after the seal run failed/.test(l.message));
    assert.ok(line, seal.stderr.slice(-2000));
    assert.equal(line.level, 'error');
    assert.match(String(line.meta?.error), /code 168/);
    assert.ok((line.meta?.delivered as string[]).length >= 2);
    // No CLI error ("seal run failed: …" before the fix).
    assert.deepEqual(stderrLines(seal.stderr).filter((l) => l.name === 'cli'), []);
    // Every document is in the archive once.
    const keys = await deliveredKeysById(env.archiveDirectory);
    assert.equal(keys.size, docs.length);
    assert.ok([...keys.values()].every((k) => k.length === 1));

    // The text output says it too.
    const text = await runCli(['seal', '--no-env-file'], vars, { timeoutMs: 60_000 });
    assert.equal(text.code, 0, text.stderr.slice(-2000));
    assert.match(text.stdout, /reconcile failed: .*code 168/);

    // The count works again: the next run reconciles the delivered hours.
    await setFailCommand(admin, APP, 'off');
    const next = await runCli(['seal', '--no-env-file', '--json'], vars, { timeoutMs: 60_000 });
    assert.equal(next.code, 0, next.stderr.slice(-2000));
    const after = JSON.parse(next.stdout) as Report;
    assert.equal(after.reconcileError, undefined);
    const verdicts = new Map(after.reconciled.map((r) => [r.hour, r]));
    for (const x of data) assert.deepEqual(verdicts.get(x.hour), { hour: x.hour, mongo: x.count, archived: x.count, status: 'ok' });
  } finally {
    await setFailCommand(admin, APP, 'off').catch(() => undefined);
    await unlock();
    await admin.close();
    await env.close();
  }
});
