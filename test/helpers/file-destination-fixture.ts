/**
 * A file destination in a temp directory of the test file's own (`<dir>/archive`), and a put of
 * in-memory bytes. Call it at the top level of a test file: it registers the `before`/`after`
 * hooks that make the directory and remove it.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';
import { FileDestination } from '../../src/deliver/file.js';

export interface FileDestinationFixture {
  destination(): FileDestination;
  /** The temp directory; the archive is its `archive` folder. */
  dir(): string;
  put(key: string, body: Buffer): Promise<void>;
}

export function fileDestinationFixture(prefix: string): FileDestinationFixture {
  let dir: string;
  let destination: FileDestination;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), prefix));
    destination = new FileDestination({ directory: join(dir, 'archive') });
  });
  after(async () => {
    await destination.close();
    await rm(dir, { recursive: true, force: true });
  });
  return {
    destination: () => destination,
    dir: () => dir,
    async put(key, body) {
      await destination.put({ key, source: { body }, size: body.length, sha256: createHash('sha256').update(body).digest('hex') });
    },
  };
}
