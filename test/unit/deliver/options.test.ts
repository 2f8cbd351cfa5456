import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '../../../src/errors.js';
import { createDestination } from '../../../src/deliver/index.js';
import { objectKeyProblem, putInputProblems } from '../../../src/deliver/destination.js';
import { s3OptionProblems } from '../../../src/deliver/s3.js';

const base = { bucket: 'logs-bucket', region: 'eu-west-1' };

test('valid S3 options have no problems; defaults are optional', () => {
  assert.deepEqual(s3OptionProblems(base, 5), []);
  assert.deepEqual(
    s3OptionProblems(
      {
        ...base,
        accessKeyId: 'AKIDEXAMPLE',
        secretAccessKey: 'secret',
        sessionToken: 'token',
        endpoint: 'http://127.0.0.1:9000',
        forcePathStyle: true,
        partSizeMB: 5,
        queueSize: 8,
        checksumAlgorithm: 'CRC32C',
        serverSideEncryption: 'aws:kms',
        kmsKeyId: 'alias/logs',
        storageClass: 'STANDARD_IA',
        objectLockMode: 'COMPLIANCE',
        objectLockDays: 30,
      },
      0,
    ),
    [],
  );
});

test('every S3 option problem names the option and what is expected', () => {
  const problems = s3OptionProblems(
    {
      bucket: '',
      region: 'EU West',
      accessKeyId: 'AKID',
      endpoint: 'ftp://x',
      partSizeMB: 4,
      queueSize: 0,
      checksumAlgorithm: 'MD5' as 'SHA256',
      kmsKeyId: 'k',
      storageClass: 'COLD',
      objectLockMode: 'GOVERNANCE',
    },
    -1,
  );
  const expect = [
    /^s3\.bucket: expected a bucket name/,
    /^s3\.region: expected a region such as "us-east-1"/,
    /^s3\.accessKeyId and s3\.secretAccessKey: expected both or neither/,
    /^s3\.endpoint: expected an http:\/\/ or https:\/\/ URL/,
    /^s3\.partSizeMB: expected a number of MiB between 5 \(S3's minimum part size\) and 5120, got 4/,
    /^s3\.queueSize: expected an integer between 1 and 64, got 0/,
    /^s3\.checksumAlgorithm: expected "SHA256" or "CRC32C"/,
    /^s3\.kmsKeyId: expected only with s3\.serverSideEncryption "aws:kms"/,
    /^s3\.storageClass: expected one of .*STANDARD_IA/,
    /^s3\.objectLockMode and s3\.objectLockDays: expected both/,
    /^retryAttempts: expected an integer between 0 and 50, got -1/,
  ];
  for (const re of expect) assert.ok(problems.some((p) => re.test(p)), `${re} in ${JSON.stringify(problems, null, 1)}`);
  assert.equal(problems.length, expect.length);
});

test('createDestination throws one ConfigError listing all problems', () => {
  assert.throws(
    () => createDestination({ kind: 's3', s3: { ...base, partSizeMB: 1, queueSize: 100 }, retryAttempts: 3 }),
    (e: unknown) => e instanceof ConfigError && e.issues.length === 2 && /partSizeMB/.test(e.message) && /queueSize/.test(e.message),
  );
  assert.throws(() => createDestination({ kind: 'file', directory: '' }), /directory: expected the path/);
  assert.throws(() => createDestination({ kind: 'ftp' } as never), /unknown destination kind "ftp"/);
  const d = createDestination({ kind: 's3', s3: { ...base, secretAccessKey: 'abc', accessKeyId: 'AKIDEXAMPLE', endpoint: 'https://u:p@minio.local:9000' }, retryAttempts: 3 });
  assert.equal(d.kind, 's3');
  assert.equal(d.describe(), 's3://logs-bucket (endpoint https://minio.local:9000)');
  assert.ok(!d.describe().includes('abc'));
  void d.close();
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
