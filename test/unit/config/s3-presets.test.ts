/**
 * S3_PROVIDER presets: each fills in the S3 options the user did not set (endpoint from its
 * template, path style, checksum mode, region), an explicit option wins, and what a store cannot
 * do or needs is refused with the option's name and what was expected, through the environment
 * (config) and through createDestination (library) alike.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../../../src/config/index.js';
import { createDestination } from '../../../src/deliver/index.js';
import { ConfigError } from '../../../src/errors.js';

const base = { DB_URI: 'mongodb://localhost:27017/myapp', S3_BUCKET: 'archive-bucket' };
const ACCOUNT = '0123456789abcdef0123456789abcdef';

function problems(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return [...err.issues];
  }
  assert.fail('expected a ConfigError');
}

describe('preset defaults', () => {
  test('no S3_PROVIDER: the AWS defaults, as before', () => {
    const c = parseConfig({}, base);
    assert.equal(c.s3.provider, undefined);
    assert.equal(c.s3.region, 'us-east-1');
    assert.equal(c.s3.forcePathStyle, false);
    assert.equal(c.s3.checksumAlgorithm, 'SHA256');
    assert.equal(c.s3.endpoint, undefined);
  });

  test('each preset fills in endpoint, path style, checksum mode and region', () => {
    const cases = [
      { env: { S3_PROVIDER: 'r2', S3_ACCOUNT_ID: ACCOUNT }, endpoint: `https://${ACCOUNT}.r2.cloudflarestorage.com`, region: 'auto', checksum: 'MD5' },
      { env: { S3_PROVIDER: 'gcs' }, endpoint: 'https://storage.googleapis.com', region: 'auto', checksum: 'MD5' },
      { env: { S3_PROVIDER: 'b2', AWS_REGION: 'us-west-004' }, endpoint: 'https://s3.us-west-004.backblazeb2.com', region: 'us-west-004', checksum: 'MD5' },
      { env: { S3_PROVIDER: 'wasabi', AWS_REGION: 'eu-central-2' }, endpoint: 'https://s3.eu-central-2.wasabisys.com', region: 'eu-central-2', checksum: 'MD5' },
      { env: { S3_PROVIDER: 'wasabi' }, endpoint: 'https://s3.us-east-1.wasabisys.com', region: 'us-east-1', checksum: 'MD5' },
      { env: { S3_PROVIDER: 'minio', S3_ENDPOINT: 'http://minio:9000' }, endpoint: 'http://minio:9000', region: 'us-east-1', checksum: 'SHA256' },
      { env: { S3_PROVIDER: 'aws' }, endpoint: undefined, region: 'us-east-1', checksum: 'SHA256' },
    ];
    for (const { env, endpoint, region, checksum } of cases) {
      const c = parseConfig({}, { ...base, ...env });
      assert.equal(c.s3.endpoint, endpoint, JSON.stringify(env));
      assert.equal(c.s3.region, region, JSON.stringify(env));
      assert.equal(c.s3.checksumAlgorithm, checksum, JSON.stringify(env));
      assert.equal(c.s3.forcePathStyle, env.S3_PROVIDER !== 'aws', JSON.stringify(env));
    }
  });

  test('explicit options win over the preset', () => {
    const c = parseConfig(
      {},
      { ...base, S3_PROVIDER: 'r2', S3_ENDPOINT: 'https://eu.r2.example.net', S3_CHECKSUM_ALGORITHM: 'NONE', AWS_REGION: 'weur', S3_FORCE_PATH_STYLE: 'false' },
    );
    assert.deepEqual(
      { endpoint: c.s3.endpoint, checksum: c.s3.checksumAlgorithm, region: c.s3.region, pathStyle: c.s3.forcePathStyle },
      { endpoint: 'https://eu.r2.example.net', checksum: 'NONE', region: 'weur', pathStyle: false },
    );
    // A value equal to the table's default, set explicitly, still wins over the preset.
    assert.equal(parseConfig({ s3: { checksumAlgorithm: 'SHA256' } }, { ...base, S3_PROVIDER: 'gcs' }).s3.checksumAlgorithm, 'SHA256');
  });
});

describe('preset validation names the option and what is expected', () => {
  test('r2 without an account ID or endpoint', () => {
    const issues = problems(() => parseConfig({}, { ...base, S3_PROVIDER: 'r2' }));
    assert.ok(issues.some((i) => /^s3\.endpoint: required with s3\.provider "r2" \(Cloudflare R2\); expected https:\/\/<ACCOUNT_ID>\.r2\.cloudflarestorage\.com .*S3_ACCOUNT_ID.*\(set s3\.endpoint or S3_ENDPOINT\)$/.test(i)), issues.join('\n'));
  });

  test('b2 needs its region: unset, or not a B2 region', () => {
    const unset = problems(() => parseConfig({}, { ...base, S3_PROVIDER: 'b2' }));
    assert.ok(unset.some((i) => /^s3\.region: required with s3\.provider "b2"; expected the region of the bucket's S3 endpoint, e\.g\. us-west-004/.test(i)), unset.join('\n'));
    const wrong = problems(() => parseConfig({}, { ...base, S3_PROVIDER: 'b2', AWS_REGION: 'us-east-1' }));
    assert.ok(wrong.some((i) => /^s3\.region: "us-east-1" is not a Backblaze B2 region; expected .*us-west-004/.test(i)), wrong.join('\n'));
  });

  test('minio without an endpoint', () => {
    const issues = problems(() => parseConfig({}, { ...base, S3_PROVIDER: 'minio' }));
    assert.ok(issues.some((i) => /^s3\.endpoint: required with s3\.provider "minio" \(MinIO\); expected the MinIO server URL/.test(i)), issues.join('\n'));
  });

  test('Object Lock with gcs or r2; an account ID with another provider; an unknown provider', () => {
    const gcs = problems(() => parseConfig({}, { ...base, S3_PROVIDER: 'gcs', S3_OBJECT_LOCK_MODE: 'COMPLIANCE', S3_OBJECT_LOCK_DAYS: '30' }));
    assert.ok(gcs.some((i) => /^s3\.objectLockMode: Google Cloud Storage .* does not honour Object Lock headers on uploads; expected no s3\.objectLockMode/.test(i)), gcs.join('\n'));
    const r2 = problems(() => parseConfig({}, { ...base, S3_PROVIDER: 'r2', S3_ACCOUNT_ID: ACCOUNT, S3_OBJECT_LOCK_MODE: 'GOVERNANCE', S3_OBJECT_LOCK_DAYS: '1' }));
    assert.ok(r2.some((i) => /^s3\.objectLockMode: Cloudflare R2 does not honour/.test(i)), r2.join('\n'));
    const account = problems(() => parseConfig({}, { ...base, S3_ACCOUNT_ID: ACCOUNT }));
    assert.ok(account.some((i) => /^s3\.accountId: only used with s3\.provider "r2"/.test(i)), account.join('\n'));
    const unknown = problems(() => parseConfig({}, { ...base, S3_PROVIDER: 'azure' }));
    assert.ok(unknown.some((i) => /^S3_PROVIDER \(s3\.provider\): expected one of "aws", "r2", "gcs", "b2", "minio" or "wasabi", got "azure"$/.test(i)), unknown.join('\n'));
  });

  test('Object Lock needs an integrity header: not NONE', () => {
    const issues = problems(() => parseConfig({}, { ...base, S3_CHECKSUM_ALGORITHM: 'NONE', S3_OBJECT_LOCK_MODE: 'COMPLIANCE', S3_OBJECT_LOCK_DAYS: '30' }));
    assert.ok(issues.some((i) => /^s3\.checksumAlgorithm: NONE cannot be used with s3\.objectLockMode: .*expected "MD5", "SHA256" or "CRC32C"/.test(i)), issues.join('\n'));
    assert.equal(parseConfig({}, { ...base, S3_CHECKSUM_ALGORITHM: 'MD5', S3_OBJECT_LOCK_MODE: 'COMPLIANCE', S3_OBJECT_LOCK_DAYS: '30' }).s3.checksumAlgorithm, 'MD5');
  });

  test('createDestination applies the same rules and defaults (library use)', async () => {
    const issues = problems(() => createDestination({ kind: 's3', s3: { provider: 'gcs', bucket: 'archive-bucket', objectLockMode: 'COMPLIANCE', objectLockDays: 7 }, retryAttempts: 1 }));
    assert.ok(issues.some((i) => /^s3\.objectLockMode: Google Cloud Storage/.test(i)), issues.join('\n'));
    const b2 = problems(() => createDestination({ kind: 's3', s3: { provider: 'b2', bucket: 'archive-bucket' }, retryAttempts: 1 }));
    assert.ok(b2.some((i) => /^s3\.region: required with s3\.provider "b2"/.test(i)), b2.join('\n'));
    const d = createDestination({ kind: 's3', s3: { provider: 'b2', bucket: 'archive-bucket', region: 'eu-central-003' }, retryAttempts: 1 });
    assert.equal(d.describe(), 's3://archive-bucket (endpoint https://s3.eu-central-003.backblazeb2.com)');
    await d.close();
  });
});
