/**
 * How the fault proxy (fault-proxy.ts) answers as another S3-compatible store does, in front of
 * s3rver (which checks no integrity header at all and makes a multipart object's ETag the MD5 of
 * its bytes). A profile is a few rules, each one taken from the store's documented or reported
 * behaviour (docs/s3-providers.md says which is which):
 *
 *  - refuseChecksumHeaders: a request carrying any `x-amz-checksum-*`, `x-amz-sdk-checksum-algorithm`
 *    or `x-amz-trailer` header is refused, in the store's words:
 *      'not-implemented'    501 NotImplemented "Header 'x-amz-checksum-crc32' with value '…' not
 *                           implemented" (Cloudflare R2, aws-sdk-js-v3#6810);
 *      'unsupported-header' 400 InvalidArgument "Unsupported header 'x-amz-sdk-checksum-algorithm'
 *                           received for this API call." (Backblaze B2, boto/s3transfer#327);
 *  - allowedAmzHeaders: any other `x-amz-*` request header is refused with 400 InvalidArgument
 *    "Invalid argument." and nothing else (GCS's XML API, aws-sdk-js-v3#6430);
 *  - verifyDigests: the body of a PutObject / UploadPart is checked against its `Content-MD5`
 *    (400 BadDigest, or InvalidDigest when it is no MD5) and its `x-amz-checksum-sha256` /
 *    `-crc32c` (400 BadDigest), as S3 does; nothing is stored then;
 *  - multipartEtag: the ETag of a multipart object (CompleteMultipartUpload's answer, HEAD, GET):
 *      'md5-of-md5s'  S3's: MD5 of the concatenated part MD5s, "-N" (AWS S3, R2, MinIO);
 *      'opaque'       no MD5 at all (GCS: a composite object has no MD5);
 *      absent         s3rver's own (the MD5 of the whole object).
 */
import { createHash, randomBytes } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { crc32c } from '../../src/deliver/checksum.js';

export interface StoreEmulation {
  refuseChecksumHeaders?: 'not-implemented' | 'unsupported-header';
  allowedAmzHeaders?: RegExp;
  verifyDigests?: boolean;
  multipartEtag?: 'md5-of-md5s' | 'opaque';
}

/** x-amz-* headers GCS's XML API accepts from an S3 client (SigV4, metadata, the usual object headers). */
const GCS_AMZ_HEADERS = /^x-amz-(date|content-sha256|security-token|meta-.+|acl|storage-class|copy-source.*|server-side-encryption|user-agent)$/;

/** The stores the S3_PROVIDER presets name, as the proxy plays them. */
export const STORE_PROFILES = {
  aws: { verifyDigests: true, multipartEtag: 'md5-of-md5s' },
  r2: { refuseChecksumHeaders: 'not-implemented', verifyDigests: true, multipartEtag: 'md5-of-md5s' },
  gcs: { allowedAmzHeaders: GCS_AMZ_HEADERS, verifyDigests: true, multipartEtag: 'opaque' },
  b2: { refuseChecksumHeaders: 'unsupported-header', verifyDigests: true, multipartEtag: 'opaque' },
  minio: { verifyDigests: true, multipartEtag: 'md5-of-md5s' },
  // Wasabi's handling of x-amz-checksum-* is not documented where we looked: played as a store
  // that checks Content-MD5 and ignores the rest.
  wasabi: { verifyDigests: true, multipartEtag: 'md5-of-md5s' },
} as const satisfies Record<string, StoreEmulation>;

export interface StoreRefusal {
  status: number;
  code: string;
  message: string;
}

const CHECKSUM_HEADER = /^x-amz-(checksum-.+|sdk-checksum-algorithm|trailer)$/;

/** The refusal of a request by its headers, or undefined when the store takes it. */
export function refuseHeaders(store: StoreEmulation, headers: IncomingHttpHeaders): StoreRefusal | undefined {
  for (const [name, value] of Object.entries(headers)) {
    const lower = name.toLowerCase();
    if (store.refuseChecksumHeaders !== undefined && CHECKSUM_HEADER.test(lower)) {
      const shown = Array.isArray(value) ? value.join(',') : String(value);
      return store.refuseChecksumHeaders === 'not-implemented'
        ? { status: 501, code: 'NotImplemented', message: `Header '${lower}' with value '${shown}' not implemented` }
        : { status: 400, code: 'InvalidArgument', message: `Unsupported header '${lower}' received for this API call.` };
    }
    if (store.allowedAmzHeaders !== undefined && lower.startsWith('x-amz-') && !store.allowedAmzHeaders.test(lower)) {
      return { status: 400, code: 'InvalidArgument', message: 'Invalid argument.' };
    }
  }
  return undefined;
}

/** The refusal of a body that does not match its integrity headers (verifyDigests), or undefined. */
export function refuseBody(headers: IncomingHttpHeaders, body: Buffer): StoreRefusal | undefined {
  const md5 = headers['content-md5'];
  if (typeof md5 === 'string') {
    if (Buffer.from(md5, 'base64').length !== 16) return { status: 400, code: 'InvalidDigest', message: 'The Content-MD5 you specified was invalid.' };
    if (createHash('md5').update(body).digest('base64') !== md5) return { status: 400, code: 'BadDigest', message: 'The Content-MD5 you specified did not match what we received.' };
  }
  const sha = headers['x-amz-checksum-sha256'];
  if (typeof sha === 'string' && createHash('sha256').update(body).digest('base64') !== sha) {
    return { status: 400, code: 'BadDigest', message: 'The SHA256 you specified did not match the calculated checksum.' };
  }
  const crc = headers['x-amz-checksum-crc32c'];
  if (typeof crc === 'string') {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(crc32c(body));
    if (b.toString('base64') !== crc) return { status: 400, code: 'BadDigest', message: 'The CRC32C you specified did not match the calculated checksum.' };
  }
  return undefined;
}

/** The ETags the store gives multipart objects: part MD5s recorded per upload, ETags per key. */
export class MultipartEtags {
  private readonly parts = new Map<string, Map<number, Buffer>>();
  private readonly byKey = new Map<string, string>();

  /** A part the store accepted (its bytes as stored). */
  part(uploadId: string, partNumber: number, body: Buffer): void {
    let m = this.parts.get(uploadId);
    if (m === undefined) {
      m = new Map();
      this.parts.set(uploadId, m);
    }
    m.set(partNumber, createHash('md5').update(body).digest());
  }

  /** The upload completed: the object at `key` now has this ETag (quoted). */
  complete(mode: NonNullable<StoreEmulation['multipartEtag']>, key: string, uploadId: string): string {
    const m = this.parts.get(uploadId) ?? new Map<number, Buffer>();
    const digests = [...m.entries()].sort((a, b) => a[0] - b[0]).map(([, d]) => d);
    const etag =
      mode === 'md5-of-md5s'
        ? `"${createHash('md5').update(Buffer.concat(digests)).digest('hex')}-${digests.length}"`
        : `"${randomBytes(12).toString('base64')}"`;
    this.parts.delete(uploadId);
    this.byKey.set(key, etag);
    return etag;
  }

  /** A single PutObject replaced the object at `key`: s3rver's ETag (the MD5) is right again. */
  replaced(key: string): void {
    this.byKey.delete(key);
  }

  etagOf(key: string): string | undefined {
    return this.byKey.get(key);
  }
}
