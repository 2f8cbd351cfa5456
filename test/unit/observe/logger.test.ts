import { test, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';

import { createLogger, silentLogger, type Logger } from '../../../src/observe/logger.js';
import { clearRegisteredSecrets, registerSecrets } from '../../../src/redact.js';

/** A logger writing into memory; `lines()` returns what was written so far. */
function capture(
  logging: Parameters<typeof createLogger>[0],
  options: { name?: string; tty?: boolean } = {},
): { log: Logger; lines: () => string[] } {
  const stream = new PassThrough() as PassThrough & { isTTY?: boolean };
  if (options.tty === true) stream.isTTY = true;
  const chunks: string[] = [];
  stream.on('data', (chunk: Buffer) => chunks.push(chunk.toString('utf8')));
  const log = createLogger(logging, { stream, ...(options.name === undefined ? {} : { name: options.name }) });
  return { log, lines: () => chunks.join('').split('\n').filter((l) => l !== '') };
}

beforeEach(() => clearRegisteredSecrets());

test('JSON lines carry timestamp, level, name, message and meta', () => {
  const { log, lines } = capture({ level: 'info', format: 'json' }, { name: 'seal' });
  log.info('sealed hour', { hour: '2024-01-15T00', count: 42 });
  log.info('no meta');
  const [first, second] = lines().map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.ok(first && second);
  assert.match(String(first.timestamp), /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
  assert.deepEqual({ ...first, timestamp: 'T' }, {
    timestamp: 'T',
    level: 'info',
    name: 'seal',
    message: 'sealed hour',
    meta: { hour: '2024-01-15T00', count: 42 },
  });
  assert.equal('meta' in second, false);
});

test('the level filters lines; child loggers add their metadata', () => {
  const { log, lines } = capture({ level: 'warn', format: 'json' });
  log.debug('d');
  log.info('i');
  log.warn('w');
  log.error('e');
  assert.deepEqual(lines().map((l) => (JSON.parse(l) as { level: string }).level), ['warn', 'error']);

  const c = capture({ level: 'debug', format: 'json' });
  const child = c.log.child({ hour: 'h1', attempt: 1 }).child({ attempt: 2 });
  child.debug('retry', { key: 'k' });
  assert.deepEqual((JSON.parse(c.lines()[0] ?? '{}') as { meta: unknown }).meta, { hour: 'h1', attempt: 2, key: 'k' });
});

test('enableConsole false writes nothing', () => {
  const { log, lines } = capture({ level: 'debug', enableConsole: false, format: 'json' });
  log.error('not written');
  assert.deepEqual(lines(), []);
});

test('silentLogger and its children write nothing to stdout or stderr', (t) => {
  const stdout = t.mock.method(process.stdout, 'write');
  const stderr = t.mock.method(process.stderr, 'write');
  const child = silentLogger.child({ a: 1 }).child({ b: 2 });
  for (const log of [silentLogger, child]) {
    log.error('not written', { err: new Error('boom') });
    log.warn('not written');
    log.info('not written');
    log.debug('not written');
  }
  const calls = [stdout.mock.callCount(), stderr.mock.callCount()];
  t.mock.restoreAll();
  assert.deepEqual(calls, [0, 0]);
});

test('auto format: pretty on a TTY, JSON otherwise', () => {
  const piped = capture({ level: 'info', format: 'auto' });
  piped.log.info('hello', { a: 1 });
  assert.doesNotThrow(() => JSON.parse(piped.lines()[0] ?? ''));
  const tty = capture({ level: 'info', format: 'auto' }, { tty: true, name: 'run' });
  tty.log.info('hello', { a: 1, path: '/x y' });
  const line = tty.lines()[0] ?? '';
  assert.throws(() => JSON.parse(line));
  // eslint-disable-next-line no-control-regex
  assert.match(line.replace(/\u001b\[\d+m/g, ''), /^\S+Z INFO {2}\[run\] hello a=1 path="\/x y"$/);
});

test('no secret reaches the output: message, meta and an Error with its cause', () => {
  const secret = 'wJalrXUtnFEMI/K7MDENG+bPxRfiCY';
  registerSecrets(secret);
  for (const format of ['json', 'pretty'] as const) {
    const { log, lines } = capture({ level: 'debug', format });
    const err = new Error(`signature mismatch for ${secret}`, {
      cause: new Error('connect mongodb://app:dbPa55word@db:27017/x failed'),
    });
    log.error(`upload failed using ${secret}`, { err, apiSecret: 'plain-value-123', detail: { uri: 'https://u:pw99@h/' } });
    const out = lines().join('\n');
    assert.ok(out.length > 0);
    for (const leaked of ['wJalrXUtnFEMI', 'dbPa55word', 'plain-value-123', 'pw99']) {
      assert.ok(!out.includes(leaked), `${format}: ${leaked} leaked in\n${out}`);
    }
    assert.match(out, /signature mismatch for \*\*\*\*/);
    assert.match(out, /mongodb:\/\/app:\*\*\*\*@db/);
  }
});

test('the error stack and cause are kept (redacted) in JSON', () => {
  const { log, lines } = capture({ level: 'info', format: 'json' });
  log.error('failed', { err: new TypeError('bad', { cause: { code: 'E1' } }) });
  const line = JSON.parse(lines()[0] ?? '{}') as { meta: { err: { name: string; stack: string; cause: unknown } } };
  assert.equal(line.meta.err.name, 'TypeError');
  assert.match(line.meta.err.stack, /TypeError: bad\n\s+at /);
  assert.deepEqual(line.meta.err.cause, { code: 'E1' });
});

test('a real process logs to stderr only, with every secret masked', () => {
  const fixture = fileURLToPath(new URL('./fixtures/log-secrets.ts', import.meta.url));
  const env = { ...process.env, TEST_DB_PASSWORD: 'db-Pass/word!9', TEST_SECRET_KEY: 'S3cretAccessKeyValue0123' };
  for (const format of ['json', 'pretty']) {
    const child = spawnSync(process.execPath, ['--import', 'tsx', fixture], {
      env: { ...env, TEST_LOG_FORMAT: format },
      encoding: 'utf8',
      timeout: 30_000,
    });
    assert.equal(child.status, 0, child.stderr);
    assert.equal(child.stdout, '{"done":true}\n', 'stdout holds only command output');
    const stderr = child.stderr;
    for (const leaked of ['db-Pass', 'db-Pass%2Fword', 'S3cretAccessKey']) {
      assert.ok(!stderr.includes(leaked), `${format}: ${leaked} leaked in\n${stderr}`);
    }
    assert.match(stderr, /connecting to mongodb:\/\/archiver:\*\*\*\*@db\.internal:27017\/myapp/);
    assert.match(stderr, /S3 rejected key \*\*\*\*/);
    assert.match(stderr, /auth failed for password \*\*\*\*/);
    assert.match(stderr, /debug line/);
    if (format === 'json') {
      const lines = stderr.trim().split('\n').map((l) => JSON.parse(l) as { level: string; name: string; meta?: { run?: number } });
      assert.deepEqual(lines.map((l) => l.level), ['info', 'warn', 'error', 'debug']);
      assert.ok(lines.every((l) => l.name === 'fixture' && l.meta?.run === 1));
    }
  }
});
