/**
 * The data objects of one archived hour as the destination holds them: every object at one of
 * the hour's keys (any part, any revision: listed by its manifest or not), and the lines of one
 * object, read back with its SHA-256 and byte count. Repair (rebuild.ts) and reconcile's checks
 * read the archive through these.
 */
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import split2 from 'split2';
import type { Destination, ObjectInfo } from '../deliver/destination.js';
import type { HourSlot } from '../hours/hour-clock.js';
import type { KeyLayout, PartRef } from '../hours/keys.js';
import type { HourRecord } from '../ledger/hour-states.js';
import type { IdKey } from '../spool/document-ids.js';
import { idKeyOfLine } from '../spool/document-ids.js';
import { fastIdKey } from '../spool/line-facts.js';
import { HashTap } from './hash-tap.js';
import type { Manifest, ManifestPart } from './manifest.js';

/** A data object at one of an hour's keys. */
export interface HourObject extends ObjectInfo {
  part: PartRef;
}

function commonPrefix(keys: readonly string[]): string {
  const [first = '', ...rest] = keys;
  let n = first.length;
  for (const k of rest) {
    let i = 0;
    while (i < n && i < k.length && k[i] === first[i]) i++;
    n = i;
  }
  return first.slice(0, n);
}

/** Every data object at a key of `slot` (any part, any revision), in key order. */
export async function listHourObjects(destination: Destination, keys: KeyLayout, slot: HourSlot): Promise<HourObject[]> {
  // The keys of the hour differ only where {part} is rendered: list from their common start.
  const prefix = commonPrefix([
    keys.dataKey(slot, { index: 1, revision: 0 }),
    keys.dataKey(slot, { index: 2, revision: 0 }),
    keys.dataKey(slot, { index: 1, revision: 1 }),
  ]);
  const out: HourObject[] = [];
  for await (const info of destination.list(prefix)) {
    const parsed = keys.parse(info.key);
    if (parsed?.kind !== 'data' || keys.dataKey(slot, parsed.part) !== info.key) continue;
    out.push({ ...info, part: parsed.part });
  }
  return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

/**
 * The parts an hour is known to hold: those its manifest lists (what readers and reconcile go
 * by), or, when it has no readable manifest, those its ledger record lists. (The manifest is
 * always written before the ledger records the same parts, so it is never behind the ledger.)
 */
export function listedParts(manifest: Manifest | undefined, record: HourRecord | undefined): ManifestPart[] {
  return [...(manifest?.parts ?? record?.parts ?? [])];
}

/** Part numbers reserved in the ledger by deliveries in flight (their objects are not unlisted). */
export function reservedParts(record: HourRecord | undefined): Set<number> {
  return new Set(
    Object.values(record?.reservations ?? {})
      .filter((r) => r !== null && r !== undefined)
      .map((r) => r.part),
  );
}

/** The objects at the hour's keys that no listed part names and no delivery in flight reserved. */
export function unlistedObjects(found: readonly HourObject[], listed: readonly ManifestPart[], reserved: ReadonlySet<number>): HourObject[] {
  const keys = new Set(listed.map((p) => p.key));
  return found.filter((o) => !keys.has(o.key) && !(o.part.revision === 0 && reserved.has(o.part.index)));
}

/** The `_id` key of an archived line (see src/spool/document-ids.ts). */
export function lineIdKey(line: string): IdKey {
  return fastIdKey(line) ?? idKeyOfLine(line);
}

/** What reading an object back found. */
export interface ObjectRead {
  /** Compressed bytes read. */
  bytes: number;
  /** SHA-256 of the bytes read (hex). */
  sha256: string;
  /** Lines decoded (empty lines are not counted). */
  lines: number;
  /** Why the object does not decode (gzip or JSON), when it does not. */
  error?: string;
}

/** Whether a read failed because of the object's bytes (gzip, JSON), not because of the destination. */
function isDecodeError(err: unknown): boolean {
  if (err instanceof SyntaxError) return true;
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' && code.startsWith('Z_');
}

/**
 * Streams the lines of the object at `key` (gunzipped, split), each with its `_id` key, and, once
 * they are all read, fills `read` with the object's SHA-256, byte and line counts. A gzip error,
 * or a line that is not JSON, ends the lines and is recorded in `read.error`; destination errors
 * (network, permissions) are thrown. Streams: one line at a time.
 */
export async function* objectLines(destination: Destination, key: string, read: ObjectRead): AsyncGenerator<{ line: string; id: IdKey }> {
  read.lines = 0;
  delete read.error;
  const tap = new HashTap();
  const split = split2();
  const body = await destination.get(key);
  const piping = pipeline(body as NodeJS.ReadableStream, tap, createGunzip(), split);
  piping.catch(() => undefined);
  try {
    for await (const line of split as AsyncIterable<string>) {
      if (line.length === 0) continue;
      let id: IdKey;
      try {
        id = lineIdKey(line);
      } catch (err) {
        read.error = `${key} does not decode: line ${read.lines + 1} is not JSON (${(err as Error).message})`;
        return;
      }
      read.lines++;
      yield { line, id };
    }
    await piping;
  } catch (err) {
    if (!isDecodeError(err)) throw err;
    read.error = `${key} does not decode: ${(err as Error).message}`;
  } finally {
    split.destroy();
    read.bytes = tap.bytes;
    read.sha256 = tap.digest();
  }
}

/** The bytes of `{"_id":"` and `{"_id":{"$oid":"`: the shapes fastIdKey reads. */
const ANALYTICS_ID = Buffer.from('{"_id":"');
const EJSON_OID = Buffer.from('{"_id":{"$oid":"');

/**
 * The `_id` key of the line at `b[from, to)` (UTF-8, no line end) read from its bytes for
 * fastIdKey's shapes, else lineIdKey of the decoded line (which throws when it is not JSON).
 * Equal to lineIdKey(the decoded line): the shapes' delimiters are ASCII bytes, which never occur
 * inside a multi-byte UTF-8 sequence, and the ejson shape is read only when the 24 bytes of the
 * hex string are ASCII (one character each, as fastIdKey's character positions assume).
 */
export function lineIdKeyAt(b: Buffer, from: number, to: number): IdKey {
  if (to - from > 8 && b.compare(ANALYTICS_ID, 0, 8, from, from + 8) === 0) {
    const end = b.indexOf(0x22, from + 8);
    if (end > 0 && end < to) {
      const bs = b.indexOf(0x5c, from + 8);
      if (bs < 0 || bs > end) return b.toString('utf8', from + 7, end + 1);
    }
  } else if (to - from > 41 && b[from + 40] === 0x22 && b[from + 41] === 0x7d && b.compare(EJSON_OID, 0, 16, from, from + 16) === 0) {
    let ascii = true;
    for (let k = from + 16; k < from + 40; k++) if ((b[k] as number) >= 0x80) ascii = false;
    if (ascii) return b.toString('latin1', from + 7, from + 42);
  }
  return lineIdKey(b.toString('utf8', from, to));
}

/**
 * The `_id` keys of the lines of the object at `key`, what objectLines gives as `id`, without a
 * string per line: the gunzipped bytes are split at line ends (`\n`, a `\r` before it dropped,
 * as split2 does) and each key read by lineIdKeyAt, a chunk's worth of keys at a time. Fills
 * `read` and handles errors as objectLines does. Used where only the `_id`s matter (the deep
 * check of reconcile and purge's proof: every line of the hour).
 */
export async function* objectIdKeys(destination: Destination, key: string, read: ObjectRead): AsyncGenerator<IdKey[]> {
  read.lines = 0;
  delete read.error;
  const tap = new HashTap();
  const gunzip = createGunzip({ chunkSize: 64 * 1024 });
  const body = await destination.get(key);
  const piping = pipeline(body as NodeJS.ReadableStream, tap, gunzip);
  piping.catch(() => undefined);
  // The start of a line that continues in the next chunk(s), piece by piece.
  let carry: Buffer[] = [];
  try {
    const keys: IdKey[] = [];
    /** Takes the line b[from, to) (its `\n` excluded); false once a line is not JSON. */
    const take = (b: Buffer, from: number, to: number, ended: boolean): boolean => {
      if (ended && to > from && b[to - 1] === 0x0d) to--;
      if (to === from) return true;
      try {
        keys.push(lineIdKeyAt(b, from, to));
      } catch (err) {
        read.error = `${key} does not decode: line ${read.lines + 1} is not JSON (${(err as Error).message})`;
        return false;
      }
      read.lines++;
      return true;
    };
    // The keys before a line that is not JSON are handed out too, as objectLines does.
    let failed = false;
    for await (const chunk of gunzip as AsyncIterable<Buffer>) {
      let b = chunk;
      let at = 0;
      let nl = b.indexOf(0x0a);
      if (carry.length > 0 && nl >= 0) {
        // The line that started in an earlier chunk ends here.
        b = Buffer.concat([...carry, chunk.subarray(0, nl + 1)]);
        carry = [];
        failed = !take(b, 0, b.length - 1, true);
        b = chunk;
        at = nl + 1;
        nl = b.indexOf(0x0a, at);
      }
      for (; nl >= 0 && !failed; nl = b.indexOf(0x0a, at)) {
        failed = !take(b, at, nl, true);
        at = nl + 1;
      }
      if (failed) {
        if (keys.length > 0) yield keys.splice(0);
        return;
      }
      if (at < b.length) carry.push(at === 0 ? b : b.subarray(at));
      if (keys.length > 0) yield keys.splice(0);
    }
    await piping;
    if (carry.length > 0) {
      const last = Buffer.concat(carry);
      take(last, 0, last.length, false);
    }
    if (keys.length > 0) yield keys.splice(0);
  } catch (err) {
    if (!isDecodeError(err)) throw err;
    read.error = `${key} does not decode: ${(err as Error).message}`;
  } finally {
    gunzip.destroy();
    read.bytes = tap.bytes;
    read.sha256 = tap.digest();
  }
}

/** A fresh ObjectRead to pass to objectLines. */
export function newObjectRead(): ObjectRead {
  return { bytes: 0, sha256: '', lines: 0 };
}

/** Why a read-back object is not the part its manifest entry describes; undefined when it is. */
export function partProblem(part: ManifestPart, read: ObjectRead): string | undefined {
  if (read.error !== undefined) return read.error;
  if (read.sha256 !== part.sha256) return `${part.key} sha256 ${read.sha256.slice(0, 12)}… differs from the manifest's ${part.sha256.slice(0, 12)}…`;
  if (read.lines !== part.count) return `${part.key} holds ${read.lines} lines, the manifest says ${part.count}`;
  return undefined;
}
