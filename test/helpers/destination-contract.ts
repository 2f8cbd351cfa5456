/**
 * The destination contract (src/deliver/destination.ts) as tests that every destination passes:
 * the file destination on real files, S3 against s3rver and Azure against Azurite, each over its
 * real transport. A test file calls `destinationContract(name, subject)` at top level; each
 * contract test gets fresh destinations from `subject.make()` and keys under a prefix of its own.
 *
 * What every destination promises: put from a file and from a body (bytes, size and sha256 read
 * back through get/head/list), idempotent re-puts, `noOverwrite` (identical: alreadyPresent;
 * other content: refused, the old object intact), `replace`, a source that does not match its
 * declared size or sha256 is never visible, `after` gates the object and its rejection is the
 * put's, an aborted put leaves nothing, list in key order with prefix filtering, get/delete (a
 * missing key: ObjectNotFound / undefined / no error), the probe, close() and destroy().
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CronLogError } from '../../src/errors.js';
import { isObjectNotFound, type Destination } from '../../src/deliver/index.js';

export interface ContractSubject {
  /** A new destination on the same store (the contract closes it). */
  make(): Destination;
  /** `describe()` of a destination from make(). */
  describe: RegExp;
  /** Name of the probe's first step. */
  probeFirstStep: 'bucket' | 'container' | 'directory';
  /** A source size that spans several parts or blocks of this destination. */
  largeSize: number;
}

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

export async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(Buffer.isBuffer(c) ? c : Buffer.from(c));
  return Buffer.concat(chunks);
}

async function keysOf(d: Destination, prefix: string): Promise<string[]> {
  const out: string[] = [];
  for await (const o of d.list(prefix)) out.push(o.key);
  return out;
}

/** Registers the contract tests for `name`; `subject` is called once, before the first test. */
export function destinationContract(name: string, subject: () => ContractSubject): void {
  let n = 0;
  const run = randomBytes(4).toString('hex');
  /** A key prefix of its own for each test. */
  const prefix = (): string => `contract-${run}-${++n}`;
  const withDest = async (fn: (d: Destination, s: ContractSubject, p: string, dir: string) => Promise<void>): Promise<void> => {
    const s = subject();
    const d = s.make();
    const dir = await mkdtemp(join(tmpdir(), 'cls-contract-'));
    try {
      await fn(d, s, prefix(), dir);
    } finally {
      await d.close();
      await rm(dir, { recursive: true, force: true });
    }
  };

  test(`${name} contract: put from a file spanning several parts; get, head and list return its bytes, size and sha256`, async () => {
    await withDest(async (d, s, p, dir) => {
      assert.match(d.describe(), s.describe);
      const data = randomBytes(s.largeSize);
      const src = join(dir, 'hour.ndjson.gz');
      await writeFile(src, data);
      const key = `${p}/2024-01-15/00-01.ndjson.gz`;
      const r = await d.put({ key, source: { path: src }, size: data.length, sha256: sha256(data), metadata: { hour: '2024-01-15T00', count: '7' } });
      assert.deepEqual({ key: r.key, size: r.size, sha256: r.sha256, attempts: r.attempts }, { key, size: data.length, sha256: sha256(data), attempts: 1 });
      assert.equal(r.alreadyPresent, undefined);
      assert.ok((await readAll(await d.get(key))).equals(data));
      assert.deepEqual(await d.head(key), { key, size: data.length, sha256: sha256(data) });
      const listed: unknown[] = [];
      for await (const o of d.list(`${p}/`)) listed.push(o);
      assert.deepEqual(listed, [{ key, size: data.length }]);
    });
  });

  test(`${name} contract: re-puts are idempotent; noOverwrite reports an identical object and refuses other content; replace overwrites`, async () => {
    await withDest(async (d, _s, p) => {
      const key = `${p}/2024-01-15/01-02.ndjson.gz`;
      const v1 = Buffer.from('{"v":1}\n');
      const v2 = Buffer.from('{"v":2}\n');
      await d.put({ key, source: { body: v1 }, size: v1.length, sha256: sha256(v1) });
      await d.put({ key, source: { body: v1 }, size: v1.length, sha256: sha256(v1) });
      assert.deepEqual(await keysOf(d, `${p}/`), [key], 'one object after the same bytes twice');
      const same = await d.put({ key, source: { body: v1 }, size: v1.length, sha256: sha256(v1), noOverwrite: true });
      assert.equal(same.alreadyPresent, true);
      await assert.rejects(
        d.put({ key, source: { body: v2 }, size: v2.length, sha256: sha256(v2), noOverwrite: true }),
        (e: unknown) => e instanceof CronLogError && e.code === 'DELIVERY_FAILED' && e.message.includes(`refusing to overwrite ${key}`) && e.message.includes(sha256(v1)),
      );
      assert.ok((await readAll(await d.get(key))).equals(v1), 'the old object is intact');
      // Without noOverwrite, other bytes replace the object; with replace, without looking first.
      await d.put({ key, source: { body: v2 }, size: v2.length, sha256: sha256(v2) });
      assert.deepEqual(await d.head(key), { key, size: v2.length, sha256: sha256(v2) });
      const r = await d.put({ key, source: { body: v1 }, size: v1.length, sha256: sha256(v1), replace: true });
      assert.equal(r.alreadyPresent, undefined);
      assert.ok((await readAll(await d.get(key))).equals(v1));
      await assert.rejects(d.put({ key, source: { body: v1 }, size: v1.length, sha256: sha256(v1), replace: true, noOverwrite: true }), (e: unknown) => e instanceof CronLogError && e.code === 'USAGE');
    });
  });

  test(`${name} contract: a source that does not match its size or sha256, a missing source, an aborted put: nothing new is visible`, async () => {
    await withDest(async (d, s, p, dir) => {
      const key = `${p}/2024-01-15/05-06.ndjson.gz`;
      const fresh = `${p}/2024-01-15/06-07.ndjson.gz`;
      const v1 = Buffer.from('version 1\n');
      await d.put({ key, source: { body: v1 }, size: v1.length, sha256: sha256(v1) });
      const data = randomBytes(s.largeSize);
      const src = join(dir, 'v2.bin');
      await writeFile(src, data);
      for (const k of [key, fresh]) {
        await assert.rejects(
          d.put({ key: k, source: { path: src }, size: data.length, sha256: sha256(v1) }),
          (e: unknown) => e instanceof CronLogError && e.code === 'DELIVERY_FAILED' && e.message.includes(k) && /the source changed after it was sealed/.test(e.message) && (e.cause as CronLogError).code === 'INTEGRITY_MISMATCH',
        );
        await assert.rejects(d.put({ key: k, source: { path: src }, size: data.length + 1, sha256: sha256(data) }), new RegExp(`has ${data.length} bytes, expected ${data.length + 1}`));
        await assert.rejects(d.put({ key: k, source: { body: v1 }, size: v1.length, sha256: 'e'.repeat(64) }), /the source changed after it was sealed/);
        await assert.rejects(d.put({ key: k, source: { path: join(dir, 'missing') }, size: 1, sha256: sha256(v1) }), /does not exist \(ENOENT\)/);
        const aborted = AbortSignal.abort(new Error('shutdown'));
        await assert.rejects(d.put({ key: k, source: { path: src }, size: data.length, sha256: sha256(data), signal: aborted }), (e: unknown) => e instanceof CronLogError && e.code === 'ABORTED');
      }
      assert.ok((await readAll(await d.get(key))).equals(v1), 'the old object is intact');
      assert.equal(await d.head(fresh), undefined, 'nothing at the new key');
      assert.deepEqual(await keysOf(d, `${p}/`), [key]);
      for (const bad of ['../escape', '/abs', 'a//b', '']) {
        await assert.rejects(d.put({ key: bad, source: { body: v1 }, size: v1.length, sha256: sha256(v1) }), (e: unknown) => e instanceof CronLogError && e.code === 'USAGE');
      }
    });
  });

  test(`${name} contract: \`after\` gates the object (onSourceRead comes once, before it); a rejected \`after\` is the put's error and creates nothing`, async () => {
    await withDest(async (d, s, p, dir) => {
      const key = `${p}/2024-01-15/06-07.ndjson.gz`;
      const data = randomBytes(s.largeSize);
      const src = join(dir, 'gated.bin');
      await writeFile(src, data);
      let release!: () => void;
      let sourceRead = 0;
      const put = d.put({ key, source: { path: src }, size: data.length, sha256: sha256(data), noOverwrite: true, after: new Promise<void>((r) => (release = r)), onSourceRead: () => sourceRead++ });
      for (let waited = 0; sourceRead === 0; waited += 20) {
        assert.ok(waited < 20_000, 'onSourceRead was not called while `after` was pending');
        await new Promise((r) => setTimeout(r, 20));
      }
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(await d.head(key), undefined, 'nothing at the key before `after` resolved');
      assert.deepEqual(await keysOf(d, `${p}/`), []);
      release();
      await put;
      assert.equal(sourceRead, 1);
      assert.ok((await readAll(await d.get(key))).equals(data));
      const failure = new Error('the ledger write failed');
      const other = `${p}/2024-01-15/07-08.ndjson.gz`;
      const rejected = new Promise<void>((_, reject) => setTimeout(() => reject(failure), 50));
      await assert.rejects(d.put({ key: other, source: { path: src }, size: data.length, sha256: sha256(data), after: rejected }), (e: unknown) => e === failure);
      assert.equal(await d.head(other), undefined);
      assert.deepEqual(await keysOf(d, `${p}/`), [key]);
    });
  });

  test(`${name} contract: list in key order with prefix filtering; get, head and delete of present, empty and missing objects`, async () => {
    await withDest(async (d, _s, p) => {
      const keys = [`${p}/2024-01-16/00-01.ndjson.gz`, `${p}/2024-01-15/01-02.ndjson.gz`, `${p}/2024-01-15/00-01.ndjson.gz`, `${p}/2024-01-15/00-01.manifest.json`, `other-${p}/x.json`, `${p}x/y.json`];
      for (const key of keys) {
        const body = Buffer.from(key);
        await d.put({ key, source: { body }, size: body.length, sha256: sha256(body) });
      }
      const all = [`${p}/2024-01-15/00-01.manifest.json`, `${p}/2024-01-15/00-01.ndjson.gz`, `${p}/2024-01-15/01-02.ndjson.gz`, `${p}/2024-01-16/00-01.ndjson.gz`];
      assert.deepEqual(await keysOf(d, `${p}/`), all);
      assert.deepEqual(await keysOf(d, `${p}/2024-01-15/00`), all.slice(0, 2));
      assert.deepEqual(await keysOf(d, `${p}/2024-01-1`), all);
      assert.deepEqual(await keysOf(d, p), [...all, `${p}x/y.json`]);
      assert.deepEqual(await keysOf(d, `${p}/missing/`), []);
      for await (const o of d.list(`other-${p}/`)) assert.deepEqual(o, { key: `other-${p}/x.json`, size: `other-${p}/x.json`.length });

      const empty = Buffer.alloc(0);
      await d.put({ key: `${p}/empty.ndjson.gz`, source: { body: empty }, size: 0, sha256: sha256(empty) });
      assert.deepEqual(await d.head(`${p}/empty.ndjson.gz`), { key: `${p}/empty.ndjson.gz`, size: 0, sha256: sha256(empty) });
      assert.equal((await readAll(await d.get(`${p}/empty.ndjson.gz`))).length, 0);

      const key = `other-${p}/x.json`;
      assert.equal((await readAll(await d.get(key))).toString(), key);
      await d.delete(key);
      await d.delete(key);
      assert.equal(await d.head(key), undefined);
      await assert.rejects(d.get(key), (e: unknown) => isObjectNotFound(e) && e.code === 'OBJECT_NOT_FOUND' && (e as Error).message.includes(`no object at ${key}`));
      assert.deepEqual(await keysOf(d, `other-${p}/`), []);
    });
  });

  test(`${name} contract: the probe checks reachability, put, get and delete, and leaves nothing behind`, async () => {
    await withDest(async (d, s, p) => {
      const r = await d.probe(p);
      assert.equal(r.ok, true, JSON.stringify(r));
      assert.equal(r.destination, d.describe());
      assert.deepEqual(r.steps.map((step) => [step.name, step.status]), [[s.probeFirstStep, 'ok'], ['put', 'ok'], ['get', 'ok'], ['delete', 'ok']]);
      assert.deepEqual(await keysOf(d, p), []);
    });
  });

  test(`${name} contract: close() waits for a put in flight and refuses new work; destroy() aborts one (ABORTED, nothing at the key); both idempotent`, async () => {
    const s = subject();
    const body = Buffer.from('{"close":"waits"}\n');
    const p = prefix();
    const key = `${p}/2024-01-15/10-11.ndjson.gz`;
    const d = s.make();
    let release!: () => void;
    const put = d.put({ key, source: { body }, size: body.length, sha256: sha256(body), after: new Promise<void>((r) => (release = r)) });
    let closed = false;
    const closing = d.close().then(() => (closed = true));
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(closed, false, 'close() waits while the put runs');
    await assert.rejects(d.put({ key: `${p}/other.json`, source: { body }, size: body.length, sha256: sha256(body) }), (e: unknown) => e instanceof CronLogError && e.code === 'DESTINATION_UNAVAILABLE' && /is closed/.test(e.message));
    await assert.rejects(d.head(key), /is closed/);
    release();
    assert.equal((await put).key, key);
    await closing;
    await d.close();
    await d.destroy();
    await d[Symbol.asyncDispose]();

    const e = s.make();
    const waiting = `${p}/2024-01-15/11-12.ndjson.gz`;
    const gated = e.put({ key: waiting, source: { body }, size: body.length, sha256: sha256(body), after: new Promise<void>(() => undefined) });
    gated.catch(() => undefined);
    await new Promise((r) => setTimeout(r, 50));
    await e.destroy();
    await assert.rejects(gated, (err: unknown) => err instanceof CronLogError && err.code === 'ABORTED' && err.message.includes(waiting) && /was destroyed/.test(err.message));
    await e.close();
    const check = s.make();
    try {
      assert.deepEqual(await check.head(key), { key, size: body.length, sha256: sha256(body) });
      assert.equal(await check.head(waiting), undefined);
      assert.deepEqual(await keysOf(check, `${p}/`), [key]);
    } finally {
      await check.close();
    }
  });
}
