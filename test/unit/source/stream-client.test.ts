/**
 * Which change-stream client capture uses: the raw one (events as bytes, commands to the primary,
 * in a session) where every command reaches the server holding the cursor and sessions exist,
 * the driver's where a command may reach another one (mongos routers, a load balancer) or the
 * server has no logical sessions.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { changeStreamClientFor } from '../../../src/source/stream-client.js';

const kind = (loadBalanced: boolean, hello: Record<string, unknown>): string => changeStreamClientFor({ loadBalanced }, hello).kind;

test('a replica set with sessions is read with the raw change stream; mongos and load-balanced connections through the driver', () => {
  assert.equal(kind(false, { isWritablePrimary: true, setName: 'rs0', logicalSessionTimeoutMinutes: 30 }), 'raw');
  assert.equal(kind(false, { isWritablePrimary: true, msg: 'isdbgrid', logicalSessionTimeoutMinutes: 30 }), 'driver');
  assert.equal(kind(true, {}), 'driver');
});

test('a server without logical sessions is read through the driver, and the reason says what is missing', () => {
  const choice = changeStreamClientFor({ loadBalanced: false }, { isWritablePrimary: true, setName: 'rs0' });
  assert.equal(choice.kind, 'driver');
  assert.match(choice.reason, /does not support logical sessions/);
  assert.match(choice.reason, /logicalSessionTimeoutMinutes/);
  assert.equal(kind(false, { isWritablePrimary: true, setName: 'rs0', logicalSessionTimeoutMinutes: null }), 'driver');
});

test("the choice carries the server's maxWireVersion (the raw stream's resume rule depends on it)", () => {
  assert.equal(changeStreamClientFor({ loadBalanced: false }, { setName: 'rs0', logicalSessionTimeoutMinutes: 30, maxWireVersion: 8 }).maxWireVersion, 8);
  assert.equal(changeStreamClientFor({ loadBalanced: true }, {}).maxWireVersion, undefined);
});
