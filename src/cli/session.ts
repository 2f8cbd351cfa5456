/**
 * Opens what a one-shot command needs (config, logger, MongoDB, shared context) and closes it.
 * A MongoDB failure during the command ends it with MONGO_UNAVAILABLE or MONGO_FAILED, naming
 * the server and the cause (src/source/mongo-errors.ts).
 */
import type { MongoClient } from 'mongodb';
import type { SharedContext } from '../archive-context.js';
import { openSharedContext } from '../archive-context.js';
import type { Config } from '../config/index.js';
import type { Logger } from '../observe/logger.js';
import { createLogger } from '../observe/logger.js';
import { connectMongo } from '../source/mongo-client.js';
import { mongoFailure, mongoServers } from '../source/mongo-errors.js';
import type { ConfigFlags } from './common.js';
import { configFromFlags } from './common.js';

export interface Session {
  config: Config;
  log: Logger;
  client: MongoClient;
  ctx: SharedContext;
}

export async function withSession<T>(flags: ConfigFlags, name: string, fn: (s: Session) => Promise<T>): Promise<T> {
  const config = await configFromFlags(flags);
  const log = createLogger(config.logging, { name });
  const client = await connectMongo(config.dbUri);
  try {
    const ctx = openSharedContext(config, client, log);
    let done = false;
    try {
      const result = await fn({ config, log, client, ctx });
      done = true;
      return result;
    } catch (err) {
      throw mongoFailure(err, mongoServers(client), name) ?? err;
    } finally {
      // After a failure, what still runs (e.g. the other reads of a reconcile) is aborted.
      await (done ? ctx.close() : ctx.destroy()).catch(() => undefined);
    }
  } finally {
    await client.close().catch(() => undefined);
  }
}
