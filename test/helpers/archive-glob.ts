/**
 * What a reader that globs a `file` destination sees, for the fault tests: DuckDB's
 * `read_json_auto('<dir>/**\/*.ndjson.gz')`, say. Every file whose name ends with `.ndjson.gz`
 * (readArchiveDir: node:zlib and split2, none of the archiver's own decoding code), each line
 * parsed with JSON.parse for its `_id`.
 */
import { promises as fs } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { readArchiveDir } from './spool-reader.js';

export interface GlobbedObject {
  /** The key (path relative to the destination directory, with `/`). */
  key: string;
  /** The `_id` of every line, as its JSON text. */
  ids: string[];
}

/** Every `*.ndjson.gz` object under `root/prefix` (recursively), with the `_id`s of its lines. */
export async function globObjects(root: string, prefix = ''): Promise<GlobbedObject[]> {
  const objects = await readArchiveDir(join(root, prefix));
  return objects.map((o) => ({
    key: [prefix, o.key.split(sep).join('/')].filter((p) => p !== '').join('/'),
    ids: o.lines.map((l) => JSON.stringify((JSON.parse(l) as { _id: unknown })._id)),
  }));
}

/** How many times each `_id` occurs across `objects`. */
export function idCounts(objects: readonly GlobbedObject[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const o of objects) for (const id of o.ids) counts.set(id, (counts.get(id) ?? 0) + 1);
  return counts;
}

/** Every file under `root` (relative keys), with its bytes: to prove an operation changed nothing. */
export async function snapshotFiles(root: string): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  async function walk(dir: string): Promise<void> {
    for (const e of await fs.readdir(dir, { withFileTypes: true })) {
      const path = join(dir, e.name);
      if (e.isDirectory()) await walk(path);
      else out.set(relative(root, path).split(sep).join('/'), await fs.readFile(path));
    }
  }
  await walk(root);
  return out;
}
