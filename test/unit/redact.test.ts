import { test, beforeEach } from 'node:test';
import assert from 'node:assert/strict';

import { parseConfig } from '../../src/config/load.js';
import { CronLogError } from '../../src/errors.js';
import {
  clearRegisteredSecrets,
  redact,
  redactDeep,
  redactUri,
  registerSecrets,
  uriPassword,
  type RedactedError,
} from '../../src/redact.js';

beforeEach(() => clearRegisteredSecrets());

test('redactUri masks the password of mongodb, mongodb+srv and http(s) URIs', () => {
  assert.equal(redactUri('mongodb://admin:hunter2@db:27017/app'), 'mongodb://admin:****@db:27017/app');
  assert.equal(
    redactUri('mongodb+srv://admin:p%40ss@cluster0.example.net/app?retryWrites=true'),
    'mongodb+srv://admin:****@cluster0.example.net/app?retryWrites=true',
  );
  assert.equal(redactUri('mongodb://u:p:a@ss@h1:27017,h2:27017/app?replicaSet=rs0'), 'mongodb://u:****@h1:27017,h2:27017/app?replicaSet=rs0');
  assert.equal(redactUri('https://user:tok3n@example.com/hook'), 'https://user:****@example.com/hook');
  assert.equal(redactUri('https://ghp_abc123@github.com/org/repo'), 'https://****@github.com/org/repo');
  assert.equal(redactUri('https://example.com/x?X-Amz-Signature=abcdef&y=1'), 'https://example.com/x?X-Amz-Signature=****&y=1');
  // Nothing to hide: unchanged.
  assert.equal(redactUri('mongodb://localhost:27017/app'), 'mongodb://localhost:27017/app');
  assert.equal(redactUri('mongodb://CN=client@host/?authMechanism=MONGODB-X509'), 'mongodb://CN=client@host/?authMechanism=MONGODB-X509');
});

test('redactUri masks a password free text cannot delimit (spaces, @ : / % and unicode), and registered secrets', () => {
  assert.equal(redactUri('mongodb://archiver:pa ss wörd@db:27017/app'), 'mongodb://archiver:****@db:27017/app');
  assert.equal(redactUri('mongodb://u:p@ss w:rd/%ü€@h1:27017,h2/app?authSource=admin'), 'mongodb://u:****@h1:27017,h2/app?authSource=admin');
  assert.equal(redactUri('http://ak:SE CRET@minio:9000'), 'http://ak:****@minio:9000');
  assert.equal(uriPassword('mongodb://u:p@ss w:rd@h/app?x=a@b'), 'p@ss w:rd');
  assert.equal(uriPassword('mongodb://CN=client@host/?authMechanism=MONGODB-X509'), undefined);
  assert.equal(uriPassword('mongodb://host/app'), undefined);
  registerSecrets('TOPSECRET-42');
  assert.equal(redactUri('https://hooks.example.com/x?note=TOPSECRET-42'), 'https://hooks.example.com/x?note=****');
});

test('redact masks URI passwords anywhere in free text', () => {
  const text = 'connect ECONNREFUSED for mongodb://app:s3cret@10.0.0.1:27017,10.0.0.2/db (retry 2), see http://a:b@c/d.';
  const out = redact(text);
  assert.equal(out, 'connect ECONNREFUSED for mongodb://app:****@10.0.0.1:27017,10.0.0.2/db (retry 2), see http://a:****@c/d.');
  // Ordinary text with colons and @ is left alone.
  const plain = 'at 12:30 mail ops@example.com about http://host:8080/path';
  assert.equal(redact(plain), plain);
});

test('redact masks registered secrets, also percent-encoded, longest first', () => {
  registerSecrets('wJalrXUtnFEMI/K7MDENG', undefined, '', 'ab');
  registerSecrets('K7MD');
  assert.equal(redact('key=wJalrXUtnFEMI/K7MDENG'), 'key=****');
  assert.equal(redact('signed with wJalrXUtnFEMI%2FK7MDENG'), 'signed with ****');
  assert.equal(redact('ab stays, K7MD goes'), 'ab stays, **** goes');
});

test('redact masks bearer tokens and AWS signatures but not English words', () => {
  assert.equal(redact('Authorization: Bearer eyJhbGciOi.eyJzdWIi.sig'), 'Authorization: Bearer ****');
  assert.equal(
    redact('AWS4-HMAC-SHA256 Credential=AKIA/20240101, Signature=0123456789abcdef0123456789abcdef'),
    'AWS4-HMAC-SHA256 Credential=AKIA/20240101, Signature=****',
  );
  const english = 'Basic setup takes five minutes. Bearer tokens are supported.';
  assert.equal(redact(english), english);
});

test('loadConfig/parseConfig register the secrets of the config', () => {
  parseConfig(
    {
      dbUri: 'mongodb://archiver:Db%2FPassw0rd@db:27017/myapp',
      s3: { bucket: 'b-1', accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'SECRETKEYabc123', sessionToken: 'SESSIONtoken456' },
      webhookUrl: 'https://hooks.slack.com/services/T0/B0/HOOKtoken789',
    },
    {},
  );
  const text = 'x Db/Passw0rd y Db%2FPassw0rd z SECRETKEYabc123 SESSIONtoken456 POST https://hooks.slack.com/services/T0/B0/HOOKtoken789';
  const out = redact(text);
  for (const secret of ['Passw0rd', 'SECRETKEY', 'SESSIONtoken', 'HOOKtoken']) assert.ok(!out.includes(secret), out);
  assert.match(out, /POST https:\/\/hooks\.slack\.com\*\*\*\*$/);
});

test('redactDeep redacts strings, secret-named keys, and errors with their cause chain', () => {
  registerSecrets('TOPSECRET-42');
  const root = new CronLogError('DELIVERY_FAILED', 'upload to s3 failed with TOPSECRET-42', {
    cause: new AggregateError([new Error('part 3: mongodb://u:pw1234@h/db')], 'parts failed', {
      cause: new Error('inner TOPSECRET-42'),
    }),
  });
  const meta = {
    err: root,
    headers: { authorization: 'AWS4 whatever', 'x-amz-security-token': 'tok', accept: 'json' },
    credentials: { accessKeyId: 'AKIA', secretAccessKey: 'xyz' },
    password: 'pw',
    resumeToken: { _data: '8263A1' },
    list: ['TOPSECRET-42', 1n, new Date(0)],
  };
  const out = redactDeep(meta) as Record<string, unknown>;
  const text = JSON.stringify(out);
  assert.ok(!text.includes('TOPSECRET') && !text.includes('pw1234') && !text.includes('xyz'), text);
  const err = out.err as RedactedError;
  assert.equal(err.name, 'CronLogError');
  assert.equal(err.code, 'DELIVERY_FAILED');
  assert.equal(err.message, 'upload to s3 failed with ****');
  assert.match(String(err.stack), /^CronLogError: upload to s3 failed with \*\*\*\*\n\s+at /);
  const agg = err.cause as RedactedError;
  assert.equal(agg.message, 'parts failed');
  assert.equal((agg.errors?.[0] as RedactedError).message, 'part 3: mongodb://u:****@h/db');
  assert.equal((agg.cause as RedactedError).message, 'inner ****');
  assert.deepEqual(out.headers, { authorization: '****', 'x-amz-security-token': '****', accept: 'json' });
  assert.deepEqual(out.credentials, { accessKeyId: '****', secretAccessKey: '****' });
  assert.equal(out.password, '****');
  assert.deepEqual(out.resumeToken, { _data: '8263A1' }, 'resume tokens are not secrets');
  assert.deepEqual(out.list, ['****', '1', '1970-01-01T00:00:00.000Z']);
  // The input is not modified.
  assert.equal(meta.password, 'pw');
  assert.match(root.message, /TOPSECRET-42/);
});

test('redactDeep survives cycles and does not expand binary data', () => {
  const a: Record<string, unknown> = { name: 'a', buf: Buffer.alloc(1024) };
  a.self = a;
  const err = new Error('loop');
  (err as { cause?: unknown }).cause = err;
  const out = redactDeep({ a, err }) as { a: Record<string, unknown>; err: RedactedError };
  assert.equal(out.a.self, '[Circular]');
  assert.equal(out.a.buf, '[Buffer 1024 bytes]');
  assert.equal(out.err.cause, '[Circular]');
});
