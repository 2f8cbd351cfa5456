/**
 * Names and locations of spool files, and the state of each that a checkpoint records.
 * One directory per watched namespace:
 *   <spoolDirectory>/<db>.<collection>/open/    files still receiving events
 *   <spoolDirectory>/<db>.<collection>/sealed/  closed files waiting for delivery
 *   <spoolDirectory>/<db>.<collection>/unrecognized/<start>/  files found in open/ at a start
 *       that the checkpoint did not cover: kept for an operator, never delivered or removed
 * A file is named after its hour's UTC start and its part:
 *   2024-01-15T00-00Z.ndjson.gz, late parts 2024-01-15T00-00Z.p2.ndjson.gz
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

export function spoolFileName(id: SpoolFileId): string {
  const iso = new Date(id.hour).toISOString(); // 2024-01-15T00:00:00.000Z
  const base = `${iso.slice(0, 13)}-${iso.slice(14, 16)}Z`;
  return id.part === 1 ? `${base}.ndjson.gz` : `${base}.p${id.part}.ndjson.gz`;
}

export function parseSpoolFileName(name: string): SpoolFileId | undefined {
  const m = NAME.exec(name);
  if (!m) return undefined;
  const hour = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]));
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
