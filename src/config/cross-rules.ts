/** Rules that involve more than one option (listed in docs/configuration.md). */
import type { OptionPath } from './option-types.js';
import { S3_PRESETS, s3Preset, type S3Provider } from './s3-presets.js';
import { BUCKET_EXPECTED, CONTAINER_EXPECTED } from './value-checks.js';

/** Reports a problem about the option at `path`. */
export type ReportIssue = (path: OptionPath, message: string) => void;

/** Typed values by path; only options that are set and valid are present. */
export type ValueLookup = (path: OptionPath) => unknown;

export interface CrossRule {
  /** Documentation (Markdown), listed in docs/configuration.md. */
  readonly doc: string;
  readonly check: (get: ValueLookup, report: ReportIssue, derived: { database: string | undefined }) => void;
}

export const crossRules: readonly CrossRule[] = [
  {
    doc: '`purge.after` (PURGE_AFTER) is not valid with `captureOperations` containing `delete`: each purged document would be archived again as a delete event.',
    check(get, report) {
      const ops = get('captureOperations');
      if (get('purge.after') !== undefined && Array.isArray(ops) && ops.includes('delete')) {
        report('purge.after', 'not valid while captureOperations contains "delete" (the change stream would archive every purged document again as a delete event); expected no PURGE_AFTER, or captureOperations without "delete"');
      }
    },
  },
  {
    doc: '`s3.bucket` is required when `uploadProvider` is `s3`.',
    check(get, report) {
      if (get('uploadProvider') === 's3' && get('s3.bucket') === undefined) {
        report('s3.bucket', `required when uploadProvider is "s3"; expected ${BUCKET_EXPECTED}`);
      }
    },
  },
  {
    doc: '`azure.container` and one way to reach the account (`azure.connectionString`, or `azure.account` with or without `azure.accountKey`) are required when `uploadProvider` is `azure`; `azure.accountKey` and `azure.endpoint` go with `azure.account`, not with a connection string.',
    check(get, report) {
      const connection = get('azure.connectionString') !== undefined;
      const account = get('azure.account') !== undefined;
      if (get('uploadProvider') === 'azure') {
        if (get('azure.container') === undefined) report('azure.container', `required when uploadProvider is "azure"; expected ${CONTAINER_EXPECTED}`);
        if (!connection && !account) {
          report('azure.connectionString', 'required when uploadProvider is "azure" and azure.account is not set; expected a connection string, or azure.account (with azure.accountKey, or Azure AD)');
        }
      }
      if (connection && account) report('azure.account', 'only one of azure.connectionString and azure.account; expected one way to reach the storage account');
      if (connection && get('azure.accountKey') !== undefined) report('azure.accountKey', 'only valid with azure.account (a connection string carries its own key)');
      if (connection && get('azure.endpoint') !== undefined) report('azure.endpoint', 'only valid with azure.account (a connection string names its own BlobEndpoint)');
      if (!account && !connection && get('azure.accountKey') !== undefined) report('azure.account', 'required when azure.accountKey is set; expected the storage account name');
    },
  },
  {
    doc: '`s3.accessKeyId` and `s3.secretAccessKey` are set together or not at all (then the AWS default credential chain is used); `s3.sessionToken` needs both.',
    check(get, report) {
      const id = get('s3.accessKeyId') !== undefined;
      const secret = get('s3.secretAccessKey') !== undefined;
      if (id && !secret) report('s3.secretAccessKey', 'required when s3.accessKeyId is set (static credentials come in pairs)');
      if (secret && !id) report('s3.accessKeyId', 'required when s3.secretAccessKey is set (static credentials come in pairs)');
      if (get('s3.sessionToken') !== undefined && !(id && secret)) {
        report('s3.sessionToken', 'only valid with s3.accessKeyId and s3.secretAccessKey; expected all three or no session token');
      }
    },
  },
  {
    doc: '`s3.kmsKeyId` is only valid with `s3.serverSideEncryption: aws:kms`.',
    check(get, report) {
      if (get('s3.kmsKeyId') !== undefined && get('s3.serverSideEncryption') !== 'aws:kms') {
        report('s3.kmsKeyId', 'only valid with s3.serverSideEncryption "aws:kms"; expected s3.serverSideEncryption to be "aws:kms" or no KMS key');
      }
    },
  },
  {
    doc: '`s3.objectLockMode` and `s3.objectLockDays` are set together or not at all.',
    check(get, report) {
      const mode = get('s3.objectLockMode') !== undefined;
      const days = get('s3.objectLockDays') !== undefined;
      if (mode && !days) report('s3.objectLockDays', 'required when s3.objectLockMode is set; expected a retention in days');
      if (days && !mode) report('s3.objectLockMode', 'required when s3.objectLockDays is set; expected "GOVERNANCE" or "COMPLIANCE"');
    },
  },
  {
    doc:
      'With `s3.provider` other than `aws`, `s3.endpoint` is needed: the preset fills it in from its template (`r2` from `s3.accountId`, `b2` and `wasabi` from `s3.region`, `gcs` as is), `minio` has none. ' +
      '`b2` needs `s3.region` set to the region of the bucket\'s endpoint (e.g. `us-west-004`). `s3.accountId` is only valid with `r2`.',
    check(get, report) {
      const provider = (get('s3.provider') ?? 'aws') as S3Provider;
      const preset = S3_PRESETS[provider] as (typeof S3_PRESETS)[S3Provider] | undefined;
      if (preset === undefined) return;
      if (get('s3.accountId') !== undefined && provider !== 'r2') {
        report('s3.accountId', `only used with s3.provider "r2" (it fills in the R2 endpoint); expected no s3.accountId with s3.provider "${provider}"`);
      }
      if (get('uploadProvider') !== 's3') return;
      const region = get('s3.region');
      if (preset.regionPattern !== undefined) {
        if (region === undefined) report('s3.region', `required with s3.provider "${provider}"; expected ${preset.regionPattern.expected}`);
        else if (typeof region === 'string' && !preset.regionPattern.test.test(region)) {
          report('s3.region', `"${region}" is not a ${preset.title} region; expected ${preset.regionPattern.expected}`);
        }
      }
      if (provider !== 'aws' && get('s3.endpoint') === undefined && !(preset.regionPattern !== undefined && region === undefined)) {
        report('s3.endpoint', `required with s3.provider "${provider}" (${preset.title}); expected ${preset.endpointExpected}`);
      }
    },
  },
  {
    doc: '`s3.objectLockMode` needs a store that honours Object Lock headers: not `r2` (bucket locks are configured on the bucket) nor `gcs` (no Object Lock through the XML API; use a bucket retention policy).',
    check(get, report) {
      const provider = (get('s3.provider') ?? 'aws') as S3Provider;
      if (get('s3.objectLockMode') === undefined || s3Preset(provider).objectLock) return;
      const instead = provider === 'gcs' ? 'a retention policy or object retention on the bucket, set through the JSON API or the console' : 'a bucket lock rule, set on the bucket';
      report('s3.objectLockMode', `${s3Preset(provider).title} does not honour Object Lock headers on uploads; expected no s3.objectLockMode/s3.objectLockDays with s3.provider "${provider}" (use ${instead})`);
    },
  },
  {
    doc: '`s3.objectLockMode` needs an integrity header on every upload (S3 refuses an Object Lock upload without `Content-MD5` or a checksum): not `s3.checksumAlgorithm: NONE`.',
    check(get, report) {
      if (get('s3.objectLockMode') !== undefined && get('s3.checksumAlgorithm') === 'NONE') {
        report('s3.checksumAlgorithm', 'NONE cannot be used with s3.objectLockMode: S3 requires Content-MD5 or an x-amz-checksum header on uploads with Object Lock retention; expected "MD5", "SHA256" or "CRC32C"');
      }
    },
  },
  {
    doc: 'The three `collections.*` names differ (the archiver must never watch its own writes), and `<database>.<collection>` fits in 255 bytes.',
    check(get, report, { database }) {
      const paths = [
        'collections.apiLogsCollectionName',
        'collections.jobsCollectionName',
        'collections.logsCollectionName',
      ] as const;
      const seen = new Map<string, string>();
      for (const path of paths) {
        const name = get(path);
        if (typeof name !== 'string') continue;
        const other = seen.get(name);
        if (other !== undefined) {
          report(path, `same collection "${name}" as ${other}; expected three different collections`);
        } else {
          seen.set(name, path);
        }
        if (database !== undefined && Buffer.byteLength(`${database}.${name}`) > 255) {
          report(path, `namespace "${database}.${name}" is longer than 255 bytes; expected a shorter collection name`);
        }
      }
    },
  },
  {
    doc: '`captureMode: query` archives inserts only: `captureOperations` must then be `insert` (a query sees documents, not their updates or deletes).',
    check(get, report) {
      const ops = get('captureOperations');
      if (get('captureMode') === 'query' && Array.isArray(ops) && ops.some((op) => op !== 'insert')) {
        report('captureOperations', 'only "insert" can be captured with captureMode "query" (a query sees documents, not their updates or deletes); expected ["insert"] or captureMode "change-stream"');
      }
    },
  },
];
