/**
 * Local-directory destination: the same key layout under `directory` (a key `a/b/c.ndjson.gz`
 * is the file `directory/a/b/c.ndjson.gz`).
 *
 * put() is atomic and durable: the bytes go to a temp file `.<name>.tmp-<pid>-<random>` in the
 * target directory (same file system, so the rename is atomic), are hashed on the way and compared
 * with the declared size and sha256, fsynced, renamed over the final name, and the directory is
 * fsynced (as are the parents of directories it had to create). A crash leaves at most a temp file,
 * which list() never reports; a reader never sees a partial object at the key. Memory is one
 * 1 MiB read buffer whatever the size. Re-putting the same bytes replaces the file with identical
 * content. get() reads the bytes the file held when it was opened, in reads sized to what is
 * left (at most 1 MiB).
 *
 * head() computes the SHA-256 of the file (no sidecar files that consumers of the directory would
 * have to skip, and the answer is always the truth about the bytes on disk); the result is cached
 * per (device, inode, size, mtime, ctime), and put() seeds the cache, so the usual
 * put-then-head costs nothing extra.
 */
import { createHash, randomBytes } from 'node:crypto';
import { constants as fsConstants, createReadStream } from 'node:fs';
import { access, lstat, mkdir, open, readdir, rename, rm, stat, unlink } from 'node:fs/promises';
import type { BigIntStats } from 'node:fs';
import { basename, dirname, join, resolve, sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import { retryAttemptsProblems } from '../config/index.js';
import { ConfigError, CronLogError } from '../errors.js';
import { abortReason, errorCode, raceAbort, retryPolicy, withRetry, type RetryPolicy } from '../retry.js';
import {
  objectKeyProblem,
  overwriteRefused,
  putInputProblems,
  type Destination,
  type ObjectInfo,
  type ProbeResult,
  type ProbeStep,
  type PutInput,
  type PutResult,
} from './destination.js';
import { silentLogger } from '../log.js';
import type { Logger } from '../log.js';
import { IntegrityError, ObjectNotFoundError, describeFsError } from './errors.js';
import { Operations } from './operations.js';
import { isRetryableError } from './retryable.js';

export interface FileDestinationOptions {
  /** Root directory of the archive; created when missing. */
  directory: string;
  /** Retries of a put that failed with a transient file-system error (EAGAIN, EBUSY, EMFILE...). Default 2. */
  retryAttempts?: number;
  logger?: Logger;
  tuning?: { retryBaseDelayMs?: number; retryMaxDelayMs?: number };
}

const MiB = 1024 * 1024;
const TEMP_NAME = /^\..+\.tmp-\d+-[0-9a-f]{12}$/;
const PROBE_BODY = Buffer.from('cron-log-service probe file: safe to delete\n');
const SHA_CACHE_LIMIT = 4096;

function isMissing(err: unknown): boolean {
  const code = errorCode(err);
  return code === 'ENOENT' || code === 'ENOTDIR';
}

async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } catch (err) {
    // Some platforms/file systems refuse fsync on a directory; the rename is still atomic there.
    const code = errorCode(err);
    if (code !== 'EINVAL' && code !== 'EISDIR' && code !== 'EPERM' && code !== 'ENOTSUP') throw err;
  } finally {
    await fh.close();
  }
}

export class FileDestination implements Destination {
  readonly kind = 'file' as const;
  readonly directory: string;
  private readonly policy: RetryPolicy;
  private readonly logger: Logger;
  private readonly shaCache = new Map<string, string>();
  private readonly operations = new Operations(() => this.describe());

  constructor(options: FileDestinationOptions) {
    if (typeof options.directory !== 'string' || options.directory.trim() === '') {
      throw new CronLogError('CONFIG_INVALID', 'directory: expected the path of the archive directory');
    }
    const problems = retryAttemptsProblems(options.retryAttempts);
    if (problems.length > 0) throw new ConfigError(problems);
    this.directory = resolve(options.directory);
    this.policy = retryPolicy(options.retryAttempts ?? 2, {
      ...(options.tuning?.retryBaseDelayMs !== undefined ? { baseDelayMs: options.tuning.retryBaseDelayMs } : {}),
      ...(options.tuning?.retryMaxDelayMs !== undefined ? { maxDelayMs: options.tuning.retryMaxDelayMs } : {}),
    });
    this.logger = options.logger ?? silentLogger;
  }

  describe(): string {
    return pathToFileURL(this.directory).href;
  }

  private pathOf(key: string): string {
    const problem = objectKeyProblem(key);
    if (problem !== undefined) throw new CronLogError('USAGE', `invalid key ${JSON.stringify(key)}: ${problem}`);
    const p = join(this.directory, ...key.split('/'));
    const base = this.directory.endsWith(sep) ? this.directory : this.directory + sep;
    if (!p.startsWith(base)) throw new CronLogError('USAGE', `invalid key ${JSON.stringify(key)}: it leaves the directory`);
    return p;
  }

  private cacheKey(st: BigIntStats): string {
    return `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
  }

  private remember(st: BigIntStats, sha256: string): void {
    const k = this.cacheKey(st);
    this.shaCache.delete(k);
    this.shaCache.set(k, sha256);
    if (this.shaCache.size > SHA_CACHE_LIMIT) {
      const oldest = this.shaCache.keys().next().value;
      if (oldest !== undefined) this.shaCache.delete(oldest);
    }
  }

  async put(input: PutInput): Promise<PutResult> {
    const problems = putInputProblems(input);
    if (problems.length > 0) throw new CronLogError('USAGE', `invalid put of ${String(input.key)}: ${problems.join('; ')}`);
    const target = this.pathOf(input.key);
    return this.operations.run((signal) => this.putFile(input, target, signal), input.signal);
  }

  private async putFile(input: PutInput, target: string, signal: AbortSignal): Promise<PutResult> {
    input.onSourceRead?.();
    if (input.after !== undefined) {
      await raceAbort(input.after, signal).catch((err: unknown) => {
        throw signal.aborted ? this.abortedPut(input.key, signal, err) : err;
      });
    }
    if (input.noOverwrite === true) {
      const existing = await this.headFile(input.key, target);
      if (existing && existing.size === input.size && existing.sha256 === input.sha256) {
        return { key: input.key, size: input.size, sha256: input.sha256, attempts: 1, alreadyPresent: true };
      }
      if (existing) throw overwriteRefused(input.key, existing);
    }
    try {
      const { attempts } = await withRetry(() => this.writeAtomically(target, input, signal), this.policy, {
        signal,
        isRetryable: isRetryableError,
        onRetry: ({ retry, delayMs, error }) => {
          this.logger.warn('retrying a local write', { key: input.key, retry, delayMs, error: describeFsError(error, target) });
        },
      });
      this.logger.info('delivered', { key: input.key, size: input.size, attempts });
      return { key: input.key, size: input.size, sha256: input.sha256, attempts };
    } catch (err) {
      if (signal.aborted) throw this.abortedPut(input.key, signal, err);
      const why = err instanceof IntegrityError ? err.message : describeFsError(err, target);
      throw new CronLogError('DELIVERY_FAILED', `cannot deliver ${input.key} to ${this.describe()}: ${why}`, { cause: err });
    }
  }

  private abortedPut(key: string, signal: AbortSignal, cause: unknown): CronLogError {
    return new CronLogError('ABORTED', `delivery of ${key} to ${this.describe()} was aborted: ${abortReason(signal).message}`, { cause });
  }

  private async writeAtomically(target: string, input: PutInput, signal: AbortSignal): Promise<void> {
    if ('path' in input.source) {
      // Fail fast on a size mismatch; the hash is checked while copying.
      const size = (await stat(input.source.path)).size;
      if (size !== input.size) {
        throw new IntegrityError('source', `${input.source.path} has ${size} bytes, expected ${input.size}: the source changed after it was sealed`);
      }
    }
    const dir = dirname(target);
    const firstCreated = await mkdir(dir, { recursive: true });
    if (firstCreated !== undefined) {
      // Make the new directory entries durable: fsync the parent of every directory created.
      for (let d = dir; ; d = dirname(d)) {
        await fsyncDir(dirname(d));
        if (d === firstCreated || dirname(d) === d) break;
      }
    }
    const tmp = join(dir, `.${basename(target)}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`);
    const fh = await open(tmp, 'wx', 0o644);
    let renamed = false;
    try {
      const hash = createHash('sha256');
      let size = 0;
      try {
        if ('body' in input.source) {
          hash.update(input.source.body);
          size = input.source.body.length;
          await fh.writeFile(input.source.body);
        } else {
          for await (const chunk of createReadStream(input.source.path, { highWaterMark: MiB, signal })) {
            const buf = chunk as Buffer;
            hash.update(buf);
            size += buf.length;
            await fh.write(buf);
          }
        }
        await fh.sync();
      } finally {
        await fh.close();
      }
      if (signal.aborted) throw abortReason(signal);
      const sha = hash.digest('hex');
      const label = 'path' in input.source ? input.source.path : `the body of ${input.key}`;
      if (size !== input.size) throw new IntegrityError('source', `${label} has ${size} bytes, expected ${input.size}: the source changed after it was sealed`);
      if (sha !== input.sha256) throw new IntegrityError('source', `${label} has sha256 ${sha}, expected ${input.sha256}: the source changed after it was sealed`);
      await rename(tmp, target);
      renamed = true;
      await fsyncDir(dir);
      const st = await stat(target, { bigint: true });
      if (Number(st.size) !== input.size) throw new IntegrityError('stored', `${target} has ${st.size} bytes after the rename, expected ${input.size}`);
      this.remember(st, input.sha256);
    } finally {
      if (!renamed) await rm(tmp, { force: true }); // this put's own temp copy; the spool file is untouched
    }
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    const path = this.pathOf(key);
    return this.operations.run(() => this.headFile(key, path));
  }

  private async headFile(key: string, path: string): Promise<ObjectInfo | undefined> {
    let st: BigIntStats;
    try {
      st = await stat(path, { bigint: true });
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw new CronLogError('DESTINATION_UNAVAILABLE', `cannot inspect ${key} in ${this.describe()}: ${describeFsError(err, path)}`, { cause: err });
    }
    if (!st.isFile()) return undefined;
    let sha = this.shaCache.get(this.cacheKey(st));
    if (sha === undefined) {
      const hash = createHash('sha256');
      try {
        for await (const chunk of createReadStream(path, { highWaterMark: MiB })) hash.update(chunk as Buffer);
      } catch (err) {
        if (isMissing(err)) return undefined;
        throw new CronLogError('DESTINATION_UNAVAILABLE', `cannot read ${key} in ${this.describe()}: ${describeFsError(err, path)}`, { cause: err });
      }
      sha = hash.digest('hex');
      // Only cache when the file did not change while it was read.
      const after = await stat(path, { bigint: true }).catch(() => undefined);
      if (after !== undefined && this.cacheKey(after) === this.cacheKey(st)) this.remember(st, sha);
    }
    return { key, size: Number(st.size), sha256: sha };
  }

  async get(key: string): Promise<NodeJS.ReadableStream> {
    const path = this.pathOf(key);
    return this.operations.run(() => this.openFile(key, path));
  }

  private async openFile(key: string, path: string): Promise<NodeJS.ReadableStream> {
    let fh;
    try {
      fh = await open(path, 'r');
    } catch (err) {
      if (isMissing(err)) throw new ObjectNotFoundError(this.describe(), key, { cause: err });
      throw new CronLogError('DESTINATION_UNAVAILABLE', `cannot read ${key} from ${this.describe()}: ${describeFsError(err, path)}`, { cause: err });
    }
    const st = await fh.stat();
    if (!st.isFile()) {
      await fh.close();
      throw new ObjectNotFoundError(this.describe(), key);
    }
    // Up to the size the file had when it was opened (put() replaces a file by a rename, never
    // in place), in reads of at most 1 MiB: a small object (a manifest) costs one buffer of its
    // own size, not two of 1 MiB (the read that finds the end allocates one too).
    const size = st.size;
    return fh.createReadStream({ highWaterMark: Math.max(1, Math.min(MiB, size)), ...(size > 0 ? { end: size - 1 } : {}) });
  }

  /** Deletes an object at the destination (used by the probe on its own probe object; never a spool file). */
  async delete(key: string): Promise<void> {
    const path = this.pathOf(key);
    await this.operations.run(() => this.deleteFile(key, path));
  }

  private async deleteFile(key: string, path: string): Promise<void> {
    try {
      await unlink(path);
      await fsyncDir(dirname(path));
    } catch (err) {
      if (isMissing(err)) return;
      throw new CronLogError('DESTINATION_UNAVAILABLE', `cannot delete ${key} from ${this.describe()}: ${describeFsError(err, path)}`, { cause: err });
    }
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    this.operations.assertOpen();
    // Start at the deepest directory the prefix names completely ("a/b/c" → "a/b").
    const cut = prefix.lastIndexOf('/');
    const startKey = cut < 0 ? '' : prefix.slice(0, cut);
    if (startKey !== '' && objectKeyProblem(startKey) !== undefined) return;
    const start = startKey === '' ? this.directory : join(this.directory, ...startKey.split('/'));
    const found: ObjectInfo[] = [];
    const walk = async (dir: string, keyPrefix: string): Promise<void> => {
      let entries;
      try {
        entries = await readdir(dir, { withFileTypes: true });
      } catch (err) {
        if (isMissing(err)) return;
        throw new CronLogError('DESTINATION_UNAVAILABLE', `cannot list ${prefix} in ${this.describe()}: ${describeFsError(err, dir)}`, { cause: err });
      }
      for (const e of entries) {
        const key = `${keyPrefix}${e.name}`;
        if (e.isDirectory()) {
          // Only descend where keys can still match the prefix.
          const asDir = `${key}/`;
          if (asDir.startsWith(prefix) || prefix.startsWith(asDir)) await walk(join(dir, e.name), asDir);
        } else if (e.isFile() && !TEMP_NAME.test(e.name) && key.startsWith(prefix)) {
          const st = await lstat(join(dir, e.name)).catch(() => undefined);
          if (st !== undefined) found.push({ key, size: st.size });
        }
      }
    };
    await walk(start, startKey === '' ? '' : `${startKey}/`);
    // S3 order: by the UTF-8 bytes of the key.
    found.sort((a, b) => Buffer.compare(Buffer.from(a.key), Buffer.from(b.key)));
    yield* found;
  }

  async probe(prefix: string): Promise<ProbeResult> {
    return this.operations.run((signal) => this.probeDirectory(prefix, signal));
  }

  private async probeDirectory(prefix: string, signal: AbortSignal): Promise<ProbeResult> {
    const steps: ProbeStep[] = [];
    const clean = prefix.replace(/^\/+|\/+$/g, '');
    const key = `${clean === '' ? '' : `${clean}/`}.cron-log-service-probe-${process.pid}-${randomBytes(4).toString('hex')}`;
    const failed = (name: ProbeStep['name'], err: unknown, path: string): void => {
      const cause = err instanceof CronLogError && err.cause !== undefined && !(err instanceof IntegrityError) ? err.cause : err;
      steps.push({
        name,
        status: 'failed',
        message: err instanceof IntegrityError ? err.message : `cannot ${name === 'directory' ? 'use' : name} ${path}: ${describeFsError(cause, path)}`,
        reason: (errorCode(cause) ?? 'error').toLowerCase(),
      });
    };
    const skipAll = (from: ProbeStep['name'][]): void => {
      for (const name of from) steps.push({ name, status: 'skipped', message: 'skipped: an earlier step failed' });
    };
    const problem = objectKeyProblem(key);
    if (problem !== undefined) {
      steps.push({ name: 'directory', status: 'failed', message: `invalid prefix ${JSON.stringify(prefix)}: ${problem}`, reason: 'invalid-prefix' });
      return { ok: false, destination: this.describe(), steps };
    }
    const probeDir = dirname(join(this.directory, ...key.split('/')));
    try {
      await mkdir(probeDir, { recursive: true });
      await access(probeDir, fsConstants.W_OK | fsConstants.X_OK);
      steps.push({ name: 'directory', status: 'ok', message: `${probeDir} exists and is writable` });
    } catch (err) {
      failed('directory', err, probeDir);
      skipAll(['put', 'get', 'delete']);
      return { ok: false, destination: this.describe(), steps };
    }
    const target = join(this.directory, ...key.split('/'));
    try {
      const sha256 = createHash('sha256').update(PROBE_BODY).digest('hex');
      await this.putFile({ key, source: { body: PROBE_BODY }, size: PROBE_BODY.length, sha256 }, target, signal);
      const info = await this.headFile(key, target);
      if (info?.sha256 !== sha256) throw new IntegrityError('stored', `${target} does not hold the probe bytes after the write`);
      steps.push({ name: 'put', status: 'ok', message: `wrote and verified ${target}` });
    } catch (err) {
      failed('put', err, target);
      skipAll(['get', 'delete']);
      return { ok: false, destination: this.describe(), steps };
    }
    try {
      const chunks: Buffer[] = [];
      for await (const c of await this.openFile(key, target)) chunks.push(Buffer.isBuffer(c) ? c : Buffer.from(c));
      if (!Buffer.concat(chunks).equals(PROBE_BODY)) throw new IntegrityError('stored', `reading ${target} back returned different bytes`);
      steps.push({ name: 'get', status: 'ok', message: `read ${target} back` });
    } catch (err) {
      failed('get', err, target);
    }
    try {
      await this.deleteFile(key, target);
      if ((await this.headFile(key, target)) !== undefined) throw new IntegrityError('stored', `${target} is still there after the delete`);
      steps.push({ name: 'delete', status: 'ok', message: `deleted ${target}` });
    } catch (err) {
      failed('delete', err, target);
    }
    return { ok: steps.every((s) => s.status === 'ok'), destination: this.describe(), steps };
  }

  /** Waits for running operations to finish. Idempotent. */
  close(): Promise<void> {
    return this.operations.close();
  }

  /** Aborts running operations (a put removes its temp file; nothing appears at its key). Idempotent. */
  destroy(): Promise<void> {
    return this.operations.destroy();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
