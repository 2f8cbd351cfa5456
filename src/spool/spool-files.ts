/**
 * Names and locations of spool files, and the state of each that a checkpoint records.
 * One directory per watched namespace:
 *   <spoolDirectory>/<db>.<collection>/open/    files still receiving events
 *   <spoolDirectory>/<db>.<collection>/sealed/  closed files waiting for delivery
 *   <spoolDirectory>/<db>.<collection>/unrecognized/<start>/  files found in open/ at a start
 *       that the checkpoint did not cover: kept for an operator, never delivered or removed
 * A file is named after its hour's UTC start and its part:
 *   2024-01-15T00-00Z.ndjson.gz, late parts 2024-01-15T00-00Z.p2.ndjson.gz
 * Names have four-digit years: event times lie in years 1970-9999 (others fall back to the
 * ObjectId time, src/hours/event-time.ts). An hour outside years 0000-9999 gets no name at all
 * rather than one the name pattern would not read back.
 */
import { join } from 'node:path';

export interface SpoolFileId {
  /** Hour start, UTC epoch ms. */
  hour: number;
  /** 1 for the hour's first file; late documents go to parts 2, 3, ... */
  part: number;
}

/** Durable state of one open spool file, as recorded in the checkpoint. */
export interface SpoolFileState extends SpoolFileId {
  /** Durable compressed bytes (a gzip member boundary). */
  offset: number;
  /** NDJSON lines in those bytes. */
  lines: number;
  /** Bytes of the facts sidecar describing them; absent when the file has no usable sidecar. */
  facts?: number;
}

/** The spool files a checkpoint records. */
export interface SpoolState {
  files: SpoolFileState[];
  /** Files detached for sealing whose move to sealed/ may not have happened yet. */
  closing?: SpoolFileState[];
}

const NAME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2})-(\d{2})Z(?:\.p(\d+))?\.ndjson\.gz$/;

/** `2024-01-15T00-00Z`. */
function baseName(hour: number): string {
  const iso = new Date(hour).toISOString(); // 2024-01-15T00:00:00.000Z
  return `${iso.slice(0, 13)}-${iso.slice(14, 16)}Z`;
}

export function spoolFileName(id: SpoolFileId): string {
  const base = baseName(id.hour);
  if (!/^\d{4}-/.test(base)) throw new RangeError(`no spool file name holds the hour ${base}: years 0000-9999 only`);
  return id.part === 1 ? `${base}.ndjson.gz` : `${base}.p${id.part}.ndjson.gz`;
}

export function parseSpoolFileName(name: string): SpoolFileId | undefined {
  const m = NAME.exec(name);
  if (!m) return undefined;
  // Not Date.UTC, which reads years 0-99 as 1900-1999; and only a name written for its hour
  // (no February 30th rolled over into March).
  const hour = Date.parse(`${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:00Z`);
  if (Number.isNaN(hour) || baseName(hour) !== name.slice(0, 17)) return undefined;
  return { hour, part: m[6] === undefined ? 1 : Number(m[6]) };
}

export function fileKey(id: SpoolFileId): string {
  return `${id.hour}:${id.part}`;
}

export interface SpoolLayout {
  root: string;
  open: string;
  sealed: string;
  /** Where files the checkpoint does not cover are kept (one folder per start that found some). */
  unrecognized: string;
}

export function spoolLayout(spoolDirectory: string, namespace: string): SpoolLayout {
  const root = join(spoolDirectory, namespace.replace(/[^A-Za-z0-9._-]/g, '_'));
  return { root, open: join(root, 'open'), sealed: join(root, 'sealed'), unrecognized: join(root, 'unrecognized') };
}
