import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '../../../src/errors.js';
import { createDestination } from '../../../src/deliver/index.js';
import { objectKeyProblem, putInputProblems } from '../../../src/deliver/destination.js';

const base = { bucket: 'logs-bucket', region: 'eu-west-1' };

test('createDestination throws one ConfigError listing all problems', () => {
  assert.throws(
    () => createDestination({ kind: 's3', s3: { ...base, partSizeMB: 1, queueSize: 100 }, retryAttempts: 3 }),
    (e: unknown) => e instanceof ConfigError && e.issues.length === 2 && /partSizeMB/.test(e.message) && /queueSize/.test(e.message),
  );
  assert.throws(() => createDestination({ kind: 'file', directory: '' }), /directory: expected the path/);
  assert.throws(() => createDestination({ kind: 'ftp' } as never), /unknown destination kind "ftp"/);
  const d = createDestination({ kind: 's3', s3: { ...base, secretAccessKey: 'abc', accessKeyId: 'AKIDEXAMPLE', endpoint: 'https://minio.local:9000/' }, retryAttempts: 3 });
  assert.equal(d.kind, 's3');
  assert.equal(d.describe(), 's3://logs-bucket (endpoint https://minio.local:9000)');
  assert.ok(!d.describe().includes('abc'));
  void d.close();
});

test('createDestination checks its options by the option table\'s rules, with the messages of a configuration file', () => {
  const issuesOf = (options: Parameters<typeof createDestination>[0]): readonly string[] => {
    try {
      void createDestination(options).close();
    } catch (e) {
      if (e instanceof ConfigError) return e.issues;
      throw e;
    }
    return [];
  };
  // The rules config/options.ts has for a configuration file, for a library user too.
  assert.deepEqual(issuesOf({ kind: 's3', s3: { ...base, bucket: 'Legacy_Bucket' }, retryAttempts: 3 }), [
    's3.bucket: expected an S3 bucket name: 3–63 characters of lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit, got "Legacy_Bucket"',
  ]);
  assert.deepEqual(issuesOf({ kind: 's3', s3: base, retryAttempts: 21 }), ['retryAttempts: expected an integer from 0 to 20, got 21']);
  assert.deepEqual(issuesOf({ kind: 's3', s3: { ...base, storageClass: 'COLD' }, retryAttempts: 3 }).length, 1);
  assert.match(issuesOf({ kind: 's3', s3: { ...base, endpoint: 'https://u:p@minio.local:9000' }, retryAttempts: 3 })[0] ?? '', /^s3\.endpoint: expected an http\(s\) URL .* without user:password/);
  assert.deepEqual(issuesOf({ kind: 's3', s3: { ...base, partSizeMb: 16 } as never, retryAttempts: 3 }), ['unknown option "s3.partSizeMb" (did you mean "s3.partSizeMB"?)']);
  // The file destination's retryAttempts too (a ConfigError, no longer a RangeError).
  assert.deepEqual(issuesOf({ kind: 'file', directory: '/tmp/x', retryAttempts: -1 }), ['retryAttempts: expected an integer from 0 to 20, got -1']);
});

test('object keys and put inputs are validated the same way for every destination', () => {
  assert.equal(objectKeyProblem('api-logs/2024-01-15/00-01.ndjson.gz'), undefined);
  assert.match(objectKeyProblem('') ?? '', /empty/);
  assert.match(objectKeyProblem('/abs') ?? '', /starts with "\/"/);
  assert.match(objectKeyProblem('a//b') ?? '', /empty path segment/);
  assert.match(objectKeyProblem('a/../b') ?? '', /"\." or "\.\." segment/);
  assert.match(objectKeyProblem('a\\b') ?? '', /contains "\\"/);
  assert.match(objectKeyProblem('a\nb') ?? '', /control character/);
  const ok = { key: 'a/b', source: { body: Buffer.from('x') }, size: 1, sha256: 'a'.repeat(64) };
  assert.deepEqual(putInputProblems(ok), []);
  const bad = putInputProblems({ ...ok, size: -1, sha256: 'XYZ', metadata: { Sha: 'x', ok: 'é' } });
  assert.equal(bad.length, 4);
});
