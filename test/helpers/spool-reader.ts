/** Reads back what the archiver wrote: spool files and delivered objects, decoded. */
import { createReadStream, promises as fs } from 'node:fs';
import type { Dirent } from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import split2 from 'split2';
import { parseSpoolFileName } from '../../src/spool/spool-files.js';

/**
 * The lines of a gzip file. Rejects when it does not decode (e.g. a file read while the archiver
 * writes it: a torn member), instead of an uncaught stream error.
 */
export async function gunzipLines(path: string): Promise<string[]> {
  const out: string[] = [];
  const split = split2();
  const piping = pipeline(createReadStream(path), createGunzip(), split);
  piping.catch(() => undefined);
  for await (const line of split as AsyncIterable<string>) {
    if (line) out.push(line);
  }
  await piping;
  return out;
}

export interface SpoolDoc {
  file: string;
  hour: number;
  part: number;
  doc: Record<string, unknown>;
}

/** Every document in the spool of a namespace (open/ and sealed/), with the hour of its file. */
export async function readSpool(spoolDirectory: string, namespace: string): Promise<SpoolDoc[]> {
  const out: SpoolDoc[] = [];
  for (const sub of ['open', 'sealed']) {
    const dir = join(spoolDirectory, namespace, sub);
    let names: string[] = [];
    try {
      names = await fs.readdir(dir);
    } catch {
      continue;
    }
    for (const name of names) {
      const id = parseSpoolFileName(name);
      if (!id) continue;
      for (const line of await gunzipLines(join(dir, name))) out.push({ file: `${sub}/${name}`, hour: id.hour, part: id.part, doc: JSON.parse(line) as Record<string, unknown> });
    }
  }
  return out;
}

/**
 * What the spool holds now, for polling while an archiver writes it: a read that meets a member
 * being written (it does not decode yet) counts as nothing yet, and the poll tries again.
 */
export function spoolNow(spoolDirectory: string, namespace: string): Promise<SpoolDoc[]> {
  return readSpool(spoolDirectory, namespace).catch(() => []);
}

/** Every data object under a `file` destination directory (recursively), decoded. */
export async function readArchiveDir(root: string): Promise<Array<{ key: string; lines: string[] }>> {
  const out: Array<{ key: string; lines: string[] }> = [];
  async function walk(dir: string): Promise<void> {
    let entries: Dirent[] = [];
    try {
      entries = await fs.readdir(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = join(dir, e.name);
      if (e.isDirectory()) await walk(p);
      else if (e.name.endsWith('.ndjson.gz')) out.push({ key: p.slice(root.length + 1), lines: await gunzipLines(p) });
    }
  }
  await walk(root);
  return out.sort((a, b) => a.key.localeCompare(b.key));
}
