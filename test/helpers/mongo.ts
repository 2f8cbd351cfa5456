/**
 * The MongoDB of the tests: a real replica set when MONGODB_URI is set, else the emulator
 * in-process (`startTestMongo`, `uniqueDbName`, `needsEmulator`, `emulatorOnly`), and the
 * `failCommand` fail point helpers (`setFailCommand`, `lockFailCommand`). They live in the
 * emulator package (packages/mongo-emulator/src/testing.ts), whose own conformance suite uses them
 * too; the archiver's tests import them from here.
 */
export * from '@cron-log-service/mongo-emulator/testing';
