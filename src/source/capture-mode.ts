/**
 * How capture reads new documents: with a change stream, or by query (query-stream.ts).
 *
 *   auto           change streams when the deployment has them (a replica set member, mongos
 *                  routers, a load-balanced connection), else by query (a standalone server);
 *   change-stream  always a change stream (a standalone server makes `run` stop with
 *                  CHANGE_STREAM_UNSUPPORTED);
 *   query          always by query, whatever the deployment.
 *
 * The deployment is told by its hello reply: `setName` (a replica set member), `msg: "isdbgrid"`
 * (mongos); a load-balanced connection has no hello of its own to show.
 */
import type { Db, Document, MongoClient } from 'mongodb';
import type { CaptureMode } from '../config/index.js';

export interface CaptureChoice {
  mode: 'change-stream' | 'query';
  /** Why, for the start-up log line. */
  reason: string;
}

/** The capture mode for a configured mode and a deployment (its hello reply; see the header). */
export function captureModeFor(configured: CaptureMode, client: { loadBalanced: boolean }, hello: Document): CaptureChoice {
  if (configured === 'query') return { mode: 'query', reason: 'captureMode is "query"' };
  if (configured === 'change-stream') return { mode: 'change-stream', reason: 'captureMode is "change-stream"' };
  if (client.loadBalanced) return { mode: 'change-stream', reason: 'a load-balanced connection (change streams available)' };
  if (hello.msg === 'isdbgrid') return { mode: 'change-stream', reason: 'a sharded cluster (mongos): change streams available' };
  if (typeof hello.setName === 'string') return { mode: 'change-stream', reason: `replica set "${hello.setName}": change streams available` };
  return {
    mode: 'query',
    reason: 'the server is a standalone (no replica set, no mongos): it has no change streams, so new documents are read by query on the timestamp field',
  };
}

/** Asks the deployment (its hello reply) which capture mode fits it. */
/**
 * The server's hello (isMaster before 4.4.2 / 5.0): sent once at start, while the spool recovers;
 * the capture mode and the change-stream client (stream-client.ts) both follow it.
 */
export function serverHello(db: Db): Promise<Document> {
  const admin = db.admin();
  return admin.command({ hello: 1 }).catch(() => admin.command({ isMaster: 1 }));
}

export async function chooseCaptureMode(configured: CaptureMode, client: MongoClient, hello: Promise<Document>): Promise<CaptureChoice> {
  if (configured !== 'auto' || client.options.loadBalanced) return captureModeFor(configured, client.options, {});
  return captureModeFor(configured, client.options, await hello);
}
