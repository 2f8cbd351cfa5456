/**
 * MongoDB replica-set emulator: a TCP server speaking the MongoDB wire protocol well enough
 * for the official driver (6.x, 7.x) to see the primary of a one-member replica set, with
 * CRUD, aggregation (mingo), unique indexes, an oplog, change streams with resume tokens,
 * the failCommand fail point and optional persistence. See server.ts for the options.
 */
export { startEmulator, DEFAULT_OPLOG_SIZE } from './server.js';
export type { EmulatorHandle, EmulatorOptions, EmulatorStats } from './server.js';
export { DbPathError } from './persistence.js';
