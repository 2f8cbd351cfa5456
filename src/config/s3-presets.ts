/**
 * The S3 provider presets (`s3.provider`, S3_PROVIDER): for each store its defaults (endpoint
 * template, path style, checksum mode, region) and its limits and known gaps, which the
 * cross rules (cross-rules.ts) check and docs/s3-providers.md explains. An option the user sets
 * explicitly always wins over the preset's default; `aws` has exactly the option table's
 * defaults, so a configuration without S3_PROVIDER behaves as before.
 *
 * Checksum modes (`s3.checksumAlgorithm`): SHA256 / CRC32C send `x-amz-checksum-*` headers that
 * the store verifies per part (AWS S3, recent MinIO); MD5 sends `Content-MD5`, which nearly every
 * S3-compatible store checks; NONE sends no integrity header. Whatever the mode, the stored
 * object is verified after the upload (src/deliver/s3-verify.ts).
 */

export const S3_PROVIDERS = ['aws', 'r2', 'gcs', 'b2', 'minio', 'wasabi'] as const;
export type S3Provider = (typeof S3_PROVIDERS)[number];

export const S3_CHECKSUM_ALGORITHMS = ['SHA256', 'CRC32C', 'MD5', 'NONE'] as const;
export type S3ChecksumAlgorithm = (typeof S3_CHECKSUM_ALGORITHMS)[number];

export interface S3Preset {
  /** The store's name in messages. */
  readonly title: string;
  /** Endpoint template: `{region}` and `{accountId}` are filled in; absent: no default endpoint. */
  readonly endpoint?: string;
  /** What to set `s3.endpoint` to, for the message when no endpoint can be derived. */
  readonly endpointExpected: string;
  readonly forcePathStyle: boolean;
  readonly checksumAlgorithm: S3ChecksumAlgorithm;
  /** The region used when `s3.region` is not set; absent: the option table's default, or required. */
  readonly region?: string;
  /** The region must be set and match this (e.g. B2's `us-west-004`). */
  readonly regionPattern?: { readonly test: RegExp; readonly expected: string };
  /** Multipart limits: part size in MiB (but the last part) and number of parts. */
  readonly minPartMiB: number;
  readonly maxPartMiB: number;
  readonly maxParts: number;
  /** Object Lock retention headers (`x-amz-object-lock-*`) are honoured. */
  readonly objectLock: boolean;
  /** `x-amz-checksum-*` headers are accepted (false: use MD5 or NONE). */
  readonly checksumHeaders: boolean;
}

const S3_LIMITS = { minPartMiB: 5, maxPartMiB: 5120, maxParts: 10_000 } as const;

export const S3_PRESETS: Readonly<Record<S3Provider, S3Preset>> = {
  aws: {
    title: 'AWS S3',
    endpointExpected: 'no endpoint (AWS S3 of s3.region), or a VPC / FIPS endpoint URL',
    forcePathStyle: false,
    checksumAlgorithm: 'SHA256',
    ...S3_LIMITS,
    objectLock: true,
    checksumHeaders: true,
  },
  r2: {
    title: 'Cloudflare R2',
    endpoint: 'https://{accountId}.r2.cloudflarestorage.com',
    endpointExpected: 'https://<ACCOUNT_ID>.r2.cloudflarestorage.com (or set s3.accountId / S3_ACCOUNT_ID and it is filled in)',
    forcePathStyle: true,
    checksumAlgorithm: 'MD5',
    region: 'auto',
    ...S3_LIMITS,
    objectLock: false,
    checksumHeaders: false,
  },
  gcs: {
    title: 'Google Cloud Storage (XML API, HMAC keys)',
    endpoint: 'https://storage.googleapis.com',
    endpointExpected: 'https://storage.googleapis.com',
    forcePathStyle: true,
    checksumAlgorithm: 'MD5',
    region: 'auto',
    ...S3_LIMITS,
    objectLock: false,
    checksumHeaders: false,
  },
  b2: {
    title: 'Backblaze B2',
    endpoint: 'https://s3.{region}.backblazeb2.com',
    endpointExpected: "https://s3.<region>.backblazeb2.com (the bucket's S3 endpoint)",
    forcePathStyle: true,
    checksumAlgorithm: 'MD5',
    regionPattern: { test: /^[a-z]{2}-[a-z]+-\d{3}$/, expected: "the region of the bucket's S3 endpoint, e.g. us-west-004 (s3.us-west-004.backblazeb2.com)" },
    ...S3_LIMITS,
    objectLock: true,
    checksumHeaders: false,
  },
  minio: {
    title: 'MinIO',
    endpointExpected: 'the MinIO server URL, e.g. http://minio:9000',
    forcePathStyle: true,
    checksumAlgorithm: 'SHA256',
    ...S3_LIMITS,
    objectLock: true,
    checksumHeaders: true,
  },
  wasabi: {
    title: 'Wasabi',
    endpoint: 'https://s3.{region}.wasabisys.com',
    endpointExpected: 'https://s3.<region>.wasabisys.com',
    forcePathStyle: true,
    checksumAlgorithm: 'MD5',
    ...S3_LIMITS,
    objectLock: true,
    checksumHeaders: false,
  },
};

/** The S3 options a preset gives defaults for. */
export interface S3PresetFields {
  provider?: S3Provider | undefined;
  region?: string | undefined;
  accountId?: string | undefined;
  endpoint?: string | undefined;
  forcePathStyle?: boolean | undefined;
  checksumAlgorithm?: S3ChecksumAlgorithm | undefined;
}

/** The preset of `provider` (absent: aws). */
export function s3Preset(provider: S3Provider | undefined): S3Preset {
  return S3_PRESETS[provider ?? 'aws'];
}

/** The preset's endpoint for a region and account, when its template can be filled in. */
export function presetEndpoint(preset: S3Preset, region: string | undefined, accountId: string | undefined): string | undefined {
  const template = preset.endpoint;
  if (template === undefined) return undefined;
  if (template.includes('{region}') && region === undefined) return undefined;
  if (template.includes('{accountId}') && accountId === undefined) return undefined;
  return template.replace('{region}', region ?? '').replace('{accountId}', accountId ?? '');
}

/**
 * The preset's defaults for the options not set (`isSet(name)` false): region, path style,
 * checksum mode and endpoint. Values that are set are returned as they are.
 */
export function withS3Preset<T extends S3PresetFields>(given: T, isSet: (name: keyof S3PresetFields) => boolean = (name) => given[name] !== undefined && given[name] !== null): T {
  const preset = s3Preset(given.provider);
  const out: T = { ...given };
  if (!isSet('region') && preset.region !== undefined) out.region = preset.region;
  if (!isSet('forcePathStyle')) out.forcePathStyle = preset.forcePathStyle;
  if (!isSet('checksumAlgorithm')) out.checksumAlgorithm = preset.checksumAlgorithm;
  if (!isSet('endpoint')) {
    const endpoint = presetEndpoint(preset, out.region, out.accountId);
    if (endpoint !== undefined) out.endpoint = endpoint;
  }
  return out;
}

const PRESET_PATHS = ['provider', 'region', 'accountId', 'endpoint', 'forcePathStyle', 'checksumAlgorithm'] as const;

/**
 * withS3Preset over the option values of a configuration (`s3.*` paths → values), in place:
 * `isSet(path)` says whether the user set an option (a default of the option table is not set).
 */
export function applyS3PresetToValues(values: Map<string, unknown>, isSet: (path: string) => boolean): void {
  const given: S3PresetFields = {};
  for (const name of PRESET_PATHS) {
    const value = values.get(`s3.${name}`);
    if (value !== undefined) (given as Record<string, unknown>)[name] = value;
  }
  const provider = given.provider ?? 'aws';
  if (!(S3_PROVIDERS as readonly string[]).includes(provider)) return;
  // A preset that needs the region from the user (B2): the table's default is not it (a cross
  // rule then asks for it; with uploadProvider "file" the S3 options are not used).
  if (!isSet('s3.region') && s3Preset(given.provider).regionPattern !== undefined && values.get('uploadProvider') !== 'file') {
    delete given.region;
    values.delete('s3.region');
  }
  const resolved = withS3Preset(given, (name) => isSet(`s3.${name}`));
  for (const name of PRESET_PATHS) {
    const value = resolved[name];
    if (value !== undefined) values.set(`s3.${name}`, value);
  }
}
