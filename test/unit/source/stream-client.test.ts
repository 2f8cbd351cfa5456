/**
 * Which change-stream client capture uses: the raw one (events as bytes, commands to the primary)
 * where every command reaches the server holding the cursor, the driver's where a command may
 * reach another one (mongos routers, a load balancer).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { changeStreamClientFor } from '../../../src/source/stream-client.js';

test('a replica set is read with the raw change stream; mongos and load-balanced connections through the driver', () => {
  assert.equal(changeStreamClientFor({ loadBalanced: false }, { isWritablePrimary: true, setName: 'rs0' }), 'raw');
  assert.equal(changeStreamClientFor({ loadBalanced: false }, { isWritablePrimary: true, msg: 'isdbgrid' }), 'driver');
  assert.equal(changeStreamClientFor({ loadBalanced: true }, {}), 'driver');
});
