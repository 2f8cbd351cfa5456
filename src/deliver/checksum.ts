/**
 * Checksums of the bytes we deliver, computed in one pass over them (part-upload.ts digests a
 * file's part ranges before it streams them out):
 *  - the whole-object SHA-256, compared with the sha256 the seal step declared before anything
 *    is made visible (a changed or truncated spool file is never delivered);
 *  - per-part digests at the part boundaries of part-upload.ts (every part is `partSize` bytes
 *    except the last; one part when size <= partSize, sent as a single PutObject), by mode
 *    (S3_CHECKSUM_ALGORITHM):
 *      SHA256 / CRC32C  sent as each part's `x-amz-checksum-*`; the checksum S3 reports for the
 *                       object is predicted from them: FULL_OBJECT for a single PUT (the digest of
 *                       the bytes), COMPOSITE for multipart (digest of the concatenated binary part
 *                       digests, then "-<number of parts>");
 *      MD5              sent as each part's `Content-MD5`;
 *      NONE             MD5s computed but not sent.
 *    From part MD5s the ETag is predicted where a store makes it an MD5: a single PUT's ETag is
 *    the MD5 of the body, a multipart object's the MD5 of the concatenated binary part MD5s, then
 *    "-<number of parts>" (AWS S3, R2, MinIO, Wasabi without SSE-KMS / SSE-C).
 */
import { createHash, type Hash } from 'node:crypto';
import { IntegrityError } from './errors.js';

export type PartChecksumAlgorithm = 'SHA256' | 'CRC32C' | 'MD5' | 'NONE';

/** Whether a mode sends `x-amz-checksum-*` headers (and the store reports such a checksum). */
export function sendsAmzChecksum(algorithm: PartChecksumAlgorithm): algorithm is 'SHA256' | 'CRC32C' {
  return algorithm === 'SHA256' || algorithm === 'CRC32C';
}

// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), slicing-by-8.
const CRC32C_TABLES: Uint32Array[] = (() => {
  const tables: Uint32Array[] = [];
  const t0 = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    t0[i] = c >>> 0;
  }
  tables.push(t0);
  for (let t = 1; t < 8; t++) {
    const prev = tables[t - 1] as Uint32Array;
    const cur = new Uint32Array(256);
    for (let i = 0; i < 256; i++) {
      const p = prev[i] as number;
      cur[i] = ((p >>> 8) ^ (t0[p & 0xff] as number)) >>> 0;
    }
    tables.push(cur);
  }
  return tables;
})();

/** Continues a CRC-32C over `data`; start with `crc32c(data)` (crc = 0). */
export function crc32c(data: Uint8Array, crc = 0): number {
  const [t0, t1, t2, t3, t4, t5, t6, t7] = CRC32C_TABLES as [
    Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array,
  ];
  let c = ~crc >>> 0;
  let i = 0;
  const n = data.length;
  const end8 = n - (n % 8);
  while (i < end8) {
    const lo = (c ^ ((data[i] as number) | ((data[i + 1] as number) << 8) | ((data[i + 2] as number) << 16) | ((data[i + 3] as number) << 24))) >>> 0;
    c =
      (t7[lo & 0xff] as number) ^
      (t6[(lo >>> 8) & 0xff] as number) ^
      (t5[(lo >>> 16) & 0xff] as number) ^
      (t4[lo >>> 24] as number) ^
      (t3[data[i + 4] as number] as number) ^
      (t2[data[i + 5] as number] as number) ^
      (t1[data[i + 6] as number] as number) ^
      (t0[data[i + 7] as number] as number);
    i += 8;
  }
  while (i < n) {
    c = (t0[(c ^ (data[i] as number)) & 0xff] as number) ^ (c >>> 8);
    i++;
  }
  return ~c >>> 0;
}

interface PartHasher {
  update(data: Buffer): void;
  digest(): Buffer;
}

class Crc32cHasher implements PartHasher {
  private crc = 0;
  update(data: Buffer): void {
    this.crc = crc32c(data, this.crc);
  }
  digest(): Buffer {
    const out = Buffer.alloc(4);
    out.writeUInt32BE(this.crc);
    return out;
  }
}

function newPartHasher(algorithm: PartChecksumAlgorithm): PartHasher {
  if (algorithm === 'CRC32C') return new Crc32cHasher();
  const h: Hash = createHash(algorithm === 'SHA256' ? 'sha256' : 'md5');
  return { update: (d) => h.update(d), digest: () => h.digest() };
}

export interface ObjectDigest {
  size: number;
  /** Lowercase hex SHA-256 of all bytes. */
  sha256: string;
  partSize: number;
  algorithm: PartChecksumAlgorithm;
  /** Raw digest of each part, in order (at least one, for an empty object too): MD5s for MD5 and NONE. */
  parts: Buffer[];
}

export class ObjectDigester {
  private readonly whole = createHash('sha256');
  private part: PartHasher;
  private partFill = 0;
  private size = 0;
  private readonly parts: Buffer[] = [];
  private result: ObjectDigest | undefined;

  constructor(
    readonly partSize: number,
    readonly algorithm: PartChecksumAlgorithm,
  ) {
    if (!Number.isSafeInteger(partSize) || partSize <= 0) throw new RangeError(`invalid part size ${partSize}`);
    this.part = newPartHasher(algorithm);
  }

  update(chunk: Buffer): void {
    if (this.result !== undefined) throw new Error('ObjectDigester: update after finish');
    this.whole.update(chunk);
    this.size += chunk.length;
    let off = 0;
    while (off < chunk.length) {
      const take = Math.min(this.partSize - this.partFill, chunk.length - off);
      this.part.update(chunk.subarray(off, off + take));
      this.partFill += take;
      off += take;
      if (this.partFill === this.partSize) {
        this.parts.push(this.part.digest());
        this.part = newPartHasher(this.algorithm);
        this.partFill = 0;
      }
    }
  }

  /** The digests of the parts completed so far (all of them after `finish`). */
  get partDigests(): readonly Buffer[] {
    return this.parts;
  }

  finish(): ObjectDigest {
    if (this.result === undefined) {
      if (this.partFill > 0 || this.parts.length === 0) this.parts.push(this.part.digest());
      this.result = {
        size: this.size,
        sha256: this.whole.digest('hex'),
        partSize: this.partSize,
        algorithm: this.algorithm,
        parts: this.parts,
      };
    }
    return this.result;
  }
}

export function digestBuffer(body: Buffer, partSize: number, algorithm: PartChecksumAlgorithm): ObjectDigest {
  const d = new ObjectDigester(partSize, algorithm);
  d.update(body);
  return d.finish();
}

/** Whether an object of `size` bytes is uploaded as multipart (else one PutObject). */
export function isMultipart(size: number, partSize: number): boolean {
  return size > partSize;
}

/**
 * The checksum S3 reports (HeadObject with ChecksumMode=ENABLED) for an object we uploaded, or
 * undefined when it cannot be predicted from part digests (a FULL_OBJECT multipart checksum).
 */
export function expectedS3Checksum(d: ObjectDigest, checksumType?: string): string | undefined {
  if (!sendsAmzChecksum(d.algorithm)) return undefined;
  if (!isMultipart(d.size, d.partSize)) return (d.parts[0] as Buffer).toString('base64');
  if (checksumType !== undefined && checksumType !== 'COMPOSITE') return undefined;
  const combined = Buffer.concat(d.parts);
  const outer = newPartHasher(d.algorithm);
  outer.update(combined);
  return `${outer.digest().toString('base64')}-${d.parts.length}`;
}

/**
 * The ETag a store that makes ETags from MD5s reports for the object (quoted, as S3 sends it), or
 * undefined when the part digests are not MD5s (SHA256 / CRC32C modes).
 */
export function expectedMd5Etag(d: ObjectDigest): string | undefined {
  if (sendsAmzChecksum(d.algorithm)) return undefined;
  if (!isMultipart(d.size, d.partSize)) return `"${(d.parts[0] as Buffer).toString('hex')}"`;
  return `"${createHash('md5').update(Buffer.concat(d.parts)).digest('hex')}-${d.parts.length}"`;
}

export function sourceMismatch(d: ObjectDigest, expected: { size: number; sha256: string; label: string }): IntegrityError | null {
  if (d.size !== expected.size) {
    return new IntegrityError('source', `${expected.label} has ${d.size} bytes, expected ${expected.size}: the source changed after it was sealed`);
  }
  if (d.sha256 !== expected.sha256) {
    return new IntegrityError('source', `${expected.label} has sha256 ${d.sha256}, expected ${expected.sha256}: the source changed after it was sealed`);
  }
  return null;
}
