import { test } from 'node:test';
import assert from 'node:assert/strict';
import { retryAttemptsProblems, s3OptionProblems } from '../../../src/config/index.js';

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
  // Unset is undefined or null, as in a configuration object.
  assert.deepEqual(s3OptionProblems({ ...base, endpoint: undefined, kmsKeyId: null }, 20), []);
});

test('every S3 option problem names the option and what is expected (the option table\'s rules and words)', () => {
  const problems = s3OptionProblems(
    {
      bucket: 'ab',
      region: 'EU West',
      accessKeyId: 'AKID',
      endpoint: 'ftp://x',
      partSizeMB: 4,
      queueSize: 0,
      checksumAlgorithm: 'CRC64NVME',
      kmsKeyId: 'k',
      storageClass: 'COLD',
      objectLockMode: 'GOVERNANCE',
    },
    -1,
  );
  const expect = [
    /^s3\.bucket: expected an S3 bucket name: 3–63 characters .*, got "ab"$/,
    /^s3\.region: expected a region name such as "us-east-1" \(lowercase letters, digits and hyphens\), got "EU West"$/,
    /^s3\.secretAccessKey: required when s3\.accessKeyId is set/,
    /^s3\.endpoint: expected an http\(s\) URL such as "http:\/\/localhost:9000", got a ftp:\/\/ URL$/,
    /^s3\.partSizeMB: expected an integer from 5 to 5120 \(MiB\), got 4$/,
    /^s3\.queueSize: expected an integer from 1 to 64, got 0$/,
    /^s3\.checksumAlgorithm: expected one of "SHA256", "CRC32C", "MD5" or "NONE", got "CRC64NVME"$/,
    /^s3\.kmsKeyId: only valid with s3\.serverSideEncryption "aws:kms"/,
    /^s3\.storageClass: expected one of .*"STANDARD_IA".*, got "COLD"$/,
    /^s3\.objectLockDays: required when s3\.objectLockMode is set/,
    /^retryAttempts: expected an integer from 0 to 20, got -1$/,
  ];
  for (const re of expect) assert.ok(problems.some((p) => re.test(p)), `${re} in ${JSON.stringify(problems, null, 1)}`);
  assert.equal(problems.length, expect.length, JSON.stringify(problems, null, 1));
});

test('what deliver accepted and the option table does not is refused now, by the table\'s rule', () => {
  // Uppercase and "_" (legacy us-east-1 names), a fractional part size, more than 20 retries,
  // credentials in the endpoint URL, an empty access key.
  assert.match(s3OptionProblems({ ...base, bucket: 'Legacy_Bucket' }, 1)[0] ?? '', /^s3\.bucket: expected an S3 bucket name/);
  assert.deepEqual(s3OptionProblems({ ...base, partSizeMB: 5.5 }, 1), ['s3.partSizeMB: expected an integer from 5 to 5120 (MiB), got 5.5']);
  assert.deepEqual(s3OptionProblems(base, 50), ['retryAttempts: expected an integer from 0 to 20, got 50']);
  assert.match(s3OptionProblems({ ...base, endpoint: 'https://u:p@minio.local' }, 1)[0] ?? '', /without user:password/);
  assert.ok(s3OptionProblems({ ...base, accessKeyId: '', secretAccessKey: '' }, 1).some((p) => /^s3\.accessKeyId: expected an access key ID, not an empty string/.test(p)));
});

test('secrets are never shown, required options are named, unknown keys and non-objects refused', () => {
  const problems = s3OptionProblems({ ...base, accessKeyId: 'AKID', secretAccessKey: 'has a space' }, 1);
  assert.deepEqual(problems, ['s3.secretAccessKey: expected a secret access key without whitespace']);
  assert.deepEqual(s3OptionProblems({ region: 'eu-west-1' }, 1), [
    's3.bucket: required when uploadProvider is "s3"; expected an S3 bucket name: 3–63 characters of lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit',
  ]);
  assert.deepEqual(s3OptionProblems(base, undefined), ['retryAttempts: required; expected an integer from 0 to 20']);
  assert.deepEqual(s3OptionProblems({ ...base, bukket: 'x' }, 1), ['unknown option "s3.bukket" (did you mean "s3.bucket"?)']);
  assert.deepEqual(s3OptionProblems('logs-bucket', 1), ['s3: expected an object with the s3.* options (at least s3.bucket), got "logs-bucket"']);
  assert.deepEqual(s3OptionProblems([base], 1), ['s3: expected an object with the s3.* options (at least s3.bucket), got [{"bucket":"logs-bucket","region":"eu-west-1"}]']);
});

test('retryAttemptsProblems: optional, else the table\'s range', () => {
  assert.deepEqual(retryAttemptsProblems(undefined), []);
  assert.deepEqual(retryAttemptsProblems(0), []);
  assert.deepEqual(retryAttemptsProblems(1.5), ['retryAttempts: expected an integer from 0 to 20, got 1.5']);
});
