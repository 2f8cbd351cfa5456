/**
 * Makes a directory unwritable for this process, root included. File modes do not stop root
 * (which is how CI runs the tests), so as root the directory also gets the immutable attribute
 * (`chattr +i`, from e2fsprogs: .ci/run installs it; it needs a file system with attributes such
 * as ext4 and CAP_LINUX_IMMUTABLE). Fails rather than skip when it cannot.
 */
import { execFile } from 'node:child_process';
import { chmod } from 'node:fs/promises';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface Unwritable {
  /** The error code a write (or `access(W_OK)`) into the directory fails with. */
  code: 'EACCES' | 'EPERM';
  /** Makes the directory writable again. */
  restore(): Promise<void>;
}

export async function makeUnwritable(dir: string): Promise<Unwritable> {
  await chmod(dir, 0o555);
  if (process.getuid?.() !== 0) return { code: 'EACCES', restore: () => chmod(dir, 0o755) };
  await run('chattr', ['+i', dir]);
  return {
    code: 'EPERM',
    restore: async () => {
      await run('chattr', ['-i', dir]);
      await chmod(dir, 0o755);
    },
  };
}
