/**
 * The Azure Blob Storage destination against Azurite (Microsoft's emulator, a child process on a
 * free port) over real HTTP, through the fault proxy (which records the requests, and damages,
 * holds or refuses some of them), with the official SDK. The destination contract runs here as
 * for the file and S3 destinations; then what is Azure's own: blocks and their Content-MD5, ids
 * that a restarted put reuses, the bound on blocks in flight, the commit's headers, the probe's
 * messages, secrets.
 */
import { after, before, beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CronLogError } from '../../../src/errors.js';
import { createDestination, type AzureOptions, type AzureTuning, type Destination } from '../../../src/deliver/index.js';
import { blockId } from '../../../src/deliver/azure-put.js';
import { azureOptions, startAzurite, type TestAzurite } from '../../helpers/azurite.js';
import { destinationContract, readAll } from '../../helpers/destination-contract.js';
import { startFaultProxy, type FaultProxy, type RequestRecord } from '../../helpers/fault-proxy.js';

const KiB = 1024;
const BLOCK = 256 * KiB;
let azurite: TestAzurite;
let proxy: FaultProxy;
let container: string;
let dir: string;
let big: { path: string; size: number; sha256: string; data: Buffer };
const open: Destination[] = [];

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const md5 = (b: Buffer): string => createHash('md5').update(b).digest('base64');

/** The Azure operation of a request the proxy saw (by its `comp` query). */
const isPutBlock = (r: RequestRecord): boolean => r.method === 'PUT' && r.query['comp'] === 'block';
const isCommit = (r: RequestRecord): boolean => r.method === 'PUT' && r.query['comp'] === 'blocklist';
const count = (pred: (r: RequestRecord) => boolean): number => proxy.requests.filter(pred).length;

function endpointThroughProxy(): string {
  return `${proxy.endpoint}/${azurite.account}`;
}

function dest(over: Partial<AzureOptions> = {}, retryAttempts = 2, tuning: AzureTuning = {}): Destination {
  const d = createDestination({
    kind: 'azure',
    azure: { ...azureOptions(azurite, container, endpointThroughProxy()), ...over },
    retryAttempts,
    tuning: { retryBaseDelayMs: 5, retryMaxDelayMs: 50, blockSizeBytes: BLOCK, ...tuning },
  });
  open.push(d);
  return d;
}

async function waitUntil(cond: () => boolean, what: string): Promise<void> {
  for (let waited = 0; !cond(); waited += 10) {
    assert.ok(waited < 20_000, `timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

before(async () => {
  azurite = await startAzurite();
  proxy = await startFaultProxy(`http://127.0.0.1:${new URL(azurite.endpoint).port}`);
  container = await azurite.createContainer('deliver');
  dir = await mkdtemp(join(tmpdir(), 'cls-azure-test-'));
  const data = randomBytes(5 * BLOCK + 17);
  const path = join(dir, 'hour.ndjson.gz');
  await writeFile(path, data);
  big = { path, size: data.length, sha256: sha256(data), data };
});

after(async () => {
  await Promise.all(open.map((d) => d.destroy()));
  await proxy.close();
  await azurite.close();
  await rm(dir, { recursive: true, force: true });
});

beforeEach(() => {
  proxy.clearRules();
  proxy.clearLog();
});

destinationContract('azure', () => ({
  make: () => dest(),
  describe: /^azure:\/\/devstoreaccount1\/deliver-[0-9a-f]+ \(endpoint http:\/\/127\.0\.0\.1:\d+\/devstoreaccount1\)$/,
  probeFirstStep: 'container',
  largeSize: 4 * BLOCK + 5,
}));

test('blocks carry the Content-MD5 of their bytes and ids from their index and SHA-256; the commit carries the sha256 metadata, the whole Content-MD5 and If-None-Match', async () => {
  const d = dest();
  const key = 'api-logs/2024-01-15/00-01.ndjson.gz';
  const r = await d.put({ key, source: { path: big.path }, size: big.size, sha256: big.sha256, noOverwrite: true, metadata: { hour: '2024-01-15T00', 'line-count': '42' } });
  assert.equal(r.attempts, 1);
  const blocks = proxy.requests.filter(isPutBlock).sort((a, b) => String(a.query['blockid']).localeCompare(String(b.query['blockid'])));
  assert.equal(blocks.length, 6);
  for (const [i, b] of blocks.entries()) {
    const bytes = big.data.subarray(i * BLOCK, (i + 1) * BLOCK);
    assert.equal(b.bodyBytes, bytes.length);
    assert.equal(b.headers['content-md5'], md5(bytes), `block ${i} carries the MD5 of its bytes`);
    assert.equal(b.query['blockid'], blockId(i, sha256(bytes)));
  }
  const commits = proxy.requests.filter(isCommit);
  assert.equal(commits.length, 1);
  assert.equal(commits[0]?.headers['x-ms-meta-sha256'], big.sha256);
  assert.equal(commits[0]?.headers['x-ms-meta-line_count'], '42', 'Azure metadata names are identifiers: "-" becomes "_"');
  assert.equal(commits[0]?.headers['x-ms-blob-content-md5'], md5(big.data));
  assert.equal(commits[0]?.headers['x-ms-blob-content-type'], 'application/gzip');
  assert.equal(commits[0]?.headers['if-none-match'], '*');
  assert.equal(commits[0]?.headers['x-ms-immutability-policy-until-date'], undefined);
  assert.ok((await readAll(await d.get(key))).equals(big.data));
  const props = await azurite.containerClient(container).getBlockBlobClient(key).getProperties();
  assert.equal(Buffer.from(props.contentMD5 ?? []).toString('base64'), md5(big.data));
  const list = await azurite.containerClient(container).getBlockBlobClient(key).getBlockList('all');
  assert.deepEqual(list.committedBlocks?.map((b) => b.name), blocks.map((b) => b.query['blockid']));
  assert.deepEqual(list.uncommittedBlocks, []);
});

test('a block damaged in transit is refused by its Content-MD5 and staged again; damaged every time, the put fails and nothing is committed', async () => {
  const d = dest();
  const key = 'damaged/2024-01-15/00-01.ndjson.gz';
  proxy.rule({ when: (r) => isPutBlock(r), skip: 2, times: 1, fault: { type: 'corrupt' } });
  const r = await d.put({ key, source: { path: big.path }, size: big.size, sha256: big.sha256 });
  assert.equal(r.attempts, 2, 'one retry: the damaged block');
  assert.equal(count((x) => isPutBlock(x) && x.fault === 'corrupt' && x.status === 400), 1, 'Azurite refused the damaged block');
  assert.ok((await readAll(await d.get(key))).equals(big.data), 'the blob holds the undamaged bytes');

  proxy.clearRules();
  proxy.clearLog();
  const other = 'damaged/2024-01-15/01-02.ndjson.gz';
  proxy.rule({ when: (x) => isPutBlock(x), skip: 1, fault: { type: 'corrupt' } });
  await assert.rejects(
    dest({}, 1).put({ key: other, source: { path: big.path }, size: big.size, sha256: big.sha256 }),
    (e: unknown) =>
      e instanceof CronLogError &&
      e.code === 'DELIVERY_FAILED' &&
      e.message.includes(`cannot deliver ${other}`) &&
      /PutBlock: the service refused a block whose bytes do not match its Content-MD5 .*damaged in transit \(after \d+ attempts\); nothing was committed at the key/.test(e.message),
  );
  assert.equal(count(isCommit), 0);
  assert.equal(await d.head(other), undefined);
});

test('a put stopped after staging some blocks leaves nothing visible; the next put of the same bytes reuses the staged blocks and commits once', async () => {
  const key = 'resume/2024-01-15/00-01.ndjson.gz';
  const first = dest({ concurrency: 1 });
  proxy.rule({ when: (r) => isPutBlock(r), skip: 3, fault: { type: 'stall', ms: 60_000 } });
  const put = first.put({ key, source: { path: big.path }, size: big.size, sha256: big.sha256 });
  put.catch(() => undefined);
  await waitUntil(() => count(isPutBlock) === 4, 'the 4th block to be held');
  await first.destroy();
  await assert.rejects(put, (e: unknown) => e instanceof CronLogError && e.code === 'ABORTED');
  const client = azurite.containerClient(container).getBlockBlobClient(key);
  const staged = await client.getBlockList('uncommitted');
  assert.equal(staged.uncommittedBlocks?.length, 3, 'three blocks staged, uncommitted');
  const d = dest();
  assert.equal(await d.head(key), undefined, 'staged blocks are not a blob');
  const listed: string[] = [];
  for await (const o of d.list('resume/')) listed.push(o.key);
  assert.deepEqual(listed, []);

  proxy.clearRules();
  proxy.clearLog();
  const r = await d.put({ key, source: { path: big.path }, size: big.size, sha256: big.sha256 });
  assert.equal(r.attempts, 1);
  assert.equal(count(isPutBlock), 3, 'only the 3 blocks the service did not hold were sent');
  assert.equal(count(isCommit), 1);
  assert.ok((await readAll(await d.get(key))).equals(big.data));
  const list = await client.getBlockList('all');
  assert.equal(list.committedBlocks?.length, 6);
  assert.deepEqual(list.uncommittedBlocks, []);
});

test('at most `concurrency` blocks are in flight (memory: blockSize × (concurrency + 1))', async () => {
  const d = dest({ concurrency: 2 });
  const key = 'bounded/2024-01-15/00-01.ndjson.gz';
  proxy.rule({ when: (r) => isPutBlock(r), fault: { type: 'stall', ms: 60_000 } });
  const put = d.put({ key, source: { path: big.path }, size: big.size, sha256: big.sha256 });
  put.catch(() => undefined);
  await waitUntil(() => count(isPutBlock) === 2, 'two blocks in flight');
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(count(isPutBlock), 2, 'no third block while two are unanswered');
  await d.destroy();
  await assert.rejects(put, (e: unknown) => e instanceof CronLogError && e.code === 'ABORTED');
});

test('immutability policy and legal hold travel with the commit (Azurite ignores them); the probe blob carries neither', async () => {
  const d = dest({ immutabilityDays: 7, immutabilityMode: 'locked', legalHold: true });
  const key = 'immutable/2024-01-15/00-01.ndjson.gz';
  const before = Date.now();
  const body = Buffer.from('{"keep":true}\n');
  await d.put({ key, source: { body }, size: body.length, sha256: sha256(body) });
  const commit = proxy.requests.find(isCommit);
  assert.ok(commit);
  const until = Date.parse(String(commit.headers['x-ms-immutability-policy-until-date']));
  assert.ok(Math.abs(until - (before + 7 * 86_400_000)) < 60_000, `until ${String(commit.headers['x-ms-immutability-policy-until-date'])}`);
  assert.equal(commit.headers['x-ms-immutability-policy-mode'], 'Locked');
  assert.equal(commit.headers['x-ms-legal-hold'], 'true');
  proxy.clearLog();
  const r = await d.probe('api-logs');
  assert.equal(r.ok, true, JSON.stringify(r));
  for (const x of proxy.requests) {
    assert.equal(x.headers['x-ms-immutability-policy-until-date'], undefined);
    assert.equal(x.headers['x-ms-legal-hold'], undefined);
  }
});

test('probe failures say what to fix: a missing container, a wrong key, a role without write, an unreachable endpoint; the key is never shown', async () => {
  const missing = await dest({ container: 'no-such-container' }, 0).probe('api-logs');
  assert.equal(missing.ok, false);
  assert.equal(missing.steps[0]?.reason, 'no-such-container');
  assert.match(missing.steps[0]?.message ?? '', /^container no-such-container does not exist in account devstoreaccount1 \(endpoint http:\/\/127\.0\.0\.1:\d+\/devstoreaccount1\): create it \(az storage container create --name no-such-container\) or set azure\.container \(AZURE_CONTAINER\)$/);

  // A HEAD has no body: its error code travels in x-ms-error-code. A missing container is not a missing blob.
  await assert.rejects(dest({ container: 'no-such-container' }, 0).head('api-logs/a.json'), (e: unknown) => e instanceof CronLogError && e.code === 'DESTINATION_UNAVAILABLE' && /container no-such-container does not exist/.test(e.message));

  const wrongKey = Buffer.from('not-the-account-key-of-devstoreaccount1').toString('base64');
  const denied = await dest({ accountKey: wrongKey }, 0).probe('api-logs');
  assert.equal(denied.steps[0]?.reason, 'invalid-credentials');
  assert.match(denied.steps[0]?.message ?? '', /^storage account devstoreaccount1 refused the credentials \(AuthorizationFailure \(HTTP 403\)\): check azure\.accountKey \(AZURE_STORAGE_KEY\)/);
  assert.deepEqual(denied.steps.map((s) => s.status), ['failed', 'failed', 'skipped', 'skipped']);
  assert.ok(!JSON.stringify(denied).includes(wrongKey) && !JSON.stringify(denied).includes(azurite.accountKey));

  proxy.rule({ when: (r) => r.method === 'PUT', fault: { type: 'error', status: 403, code: 'AuthorizationPermissionMismatch', message: 'This request is not authorized to perform this operation using this permission.' } });
  const readOnly = await dest({}, 0).probe('api-logs');
  assert.deepEqual(readOnly.steps.map((s) => s.status), ['ok', 'failed', 'skipped', 'skipped']);
  assert.equal(readOnly.steps[1]?.reason, 'access-denied');
  assert.match(readOnly.steps[1]?.message ?? '', /^access denied to container deliver-[0-9a-f]+ of account devstoreaccount1 \(AuthorizationPermissionMismatch \(HTTP 403\)\): check the credentials, and that the identity has the Storage Blob Data Contributor role/);
  proxy.clearRules();

  const unreachable = await dest({ endpoint: 'http://127.0.0.1:1/devstoreaccount1' }, 0).probe('api-logs');
  assert.equal(unreachable.steps[0]?.message, 'cannot reach the blob service http://127.0.0.1:1/devstoreaccount1: ECONNREFUSED');
  assert.equal(unreachable.steps[0]?.reason, 'network');

  // Azure AD (an account without a key) needs https; with it, and no credential on this host, the probe says how to give one.
  const plain = await dest({ accountKey: undefined }, 0).probe('api-logs');
  assert.equal(plain.steps[0]?.reason, 'aad-needs-https');
  const aad = await dest({ accountKey: undefined, endpoint: 'https://127.0.0.1:1/devstoreaccount1' }, 0).probe('api-logs');
  assert.equal(aad.steps[0]?.reason, 'no-credentials');
  assert.match(aad.steps[0]?.message ?? '', /^no Azure AD credential found for account devstoreaccount1: set azure\.accountKey \(AZURE_STORAGE_KEY\) or azure\.connectionString/);
});

test('a connection string reaches the same container; errors and describe() never show its key', async () => {
  const d = dest({ account: undefined, accountKey: undefined, endpoint: undefined, connectionString: azurite.connectionString(endpointThroughProxy()) });
  assert.match(d.describe(), /^azure:\/\/devstoreaccount1\/deliver-[0-9a-f]+ \(endpoint http:\/\/127\.0\.0\.1:\d+\/devstoreaccount1\)$/);
  const body = Buffer.from('{"via":"connection string"}\n');
  const key = 'connection/2024-01-15/00-01.ndjson.gz';
  await d.put({ key, source: { body }, size: body.length, sha256: sha256(body) });
  assert.deepEqual(await dest().head(key), { key, size: body.length, sha256: sha256(body) });
  proxy.rule({ when: isCommit, fault: { type: 'error', status: 500, code: 'InternalError', message: `echo ${azurite.accountKey}` } });
  const err = await d.put({ key: 'connection/x.json', source: { body }, size: body.length, sha256: sha256(body) }).then(
    () => assert.fail('the put should fail'),
    (e: unknown) => e as CronLogError,
  );
  assert.equal(err.code, 'DELIVERY_FAILED');
  assert.match(err.message, /PutBlockList: Azure Storage failed with InternalError \(HTTP 500\): echo \*\*\* \(after 3 attempts\)/);
  assert.ok(!err.message.includes(azurite.accountKey));
});

test('a commit whose answer is lost is settled by the blob\'s properties; a block refused with 503 is staged again', async () => {
  const d = dest();
  const key = 'faults/2024-01-15/00-01.ndjson.gz';
  proxy.rule({ when: isPutBlock, times: 1, fault: { type: 'error', status: 503, code: 'ServerBusy' } });
  proxy.rule({ when: isCommit, times: 1, fault: { type: 'reset-response' } });
  const r = await d.put({ key, source: { path: big.path }, size: big.size, sha256: big.sha256, noOverwrite: true });
  assert.equal(r.alreadyPresent, undefined);
  assert.ok(r.attempts >= 3, `attempts ${r.attempts}: the refused block and the commit were tried again`);
  const commits = proxy.requests.filter(isCommit);
  assert.equal(commits.length, 2);
  assert.equal(commits[1]?.status, 409, 'the commit sent again finds the blob the first one created (If-None-Match: *)');
  assert.ok((await readAll(await d.get(key))).equals(big.data));
  assert.deepEqual(await d.head(key), { key, size: big.size, sha256: big.sha256 });
});

test('noOverwrite holds at the commit: a blob another writer created after the key check is never replaced', async () => {
  const d = dest();
  const key = 'race/2024-01-15/00-01.ndjson.gz';
  let release!: () => void;
  let sourceRead = false;
  const put = d.put({ key, source: { path: big.path }, size: big.size, sha256: big.sha256, noOverwrite: true, after: new Promise<void>((r) => (release = r)), onSourceRead: () => (sourceRead = true) });
  put.catch(() => undefined);
  await waitUntil(() => sourceRead, 'the source to be read');
  const other = Buffer.from('{"written":"by someone else"}\n');
  await azurite.containerClient(container).getBlockBlobClient(key).upload(other, other.length, { metadata: { sha256: sha256(other) } });
  release();
  await assert.rejects(put, (e: unknown) => e instanceof CronLogError && e.code === 'DELIVERY_FAILED' && e.message.includes(`refusing to overwrite ${key}`) && e.message.includes(sha256(other)));
  assert.ok((await readAll(await d.get(key))).equals(other), 'the other writer\'s blob is intact');
});

test('a committed blob that fails its verification is put again (within retryAttempts), then reported as such', async () => {
  const key = 'verify/2024-01-15/00-01.ndjson.gz';
  const isHead = (r: RequestRecord): boolean => r.method === 'HEAD' && r.url.includes(`/${key}?`);
  // The key check's HEAD passes; the first verification answers another sha256.
  proxy.rule({ when: isHead, skip: 1, times: 1, fault: { type: 'answer-headers', headers: { 'x-ms-meta-sha256': 'f'.repeat(64) } } });
  const r = await dest().put({ key, source: { path: big.path }, size: big.size, sha256: big.sha256 });
  assert.equal(r.attempts, 2);
  assert.equal(count(isCommit), 2);
  assert.deepEqual(await dest().head(key), { key, size: big.size, sha256: big.sha256 });

  proxy.clearRules();
  proxy.rule({ when: isHead, skip: 1, fault: { type: 'answer-headers', headers: { 'x-ms-meta-sha256': 'f'.repeat(64) } } });
  await assert.rejects(
    dest({}, 1).put({ key, source: { body: Buffer.from('{"v":2}\n') }, size: 8, sha256: sha256(Buffer.from('{"v":2}\n')) }),
    (e: unknown) => e instanceof CronLogError && e.code === 'DELIVERY_FAILED' && /has sha256 metadata f{64} after the commit, expected [0-9a-f]{64} \(after 2 attempts\)$/.test(e.message),
  );
});
