/**
 * Handshake and topology: the driver sees the primary of a replica set (also through a direct
 * connection), hello has the replica set fields, every reply carries $clusterTime and
 * operationTime, legacy isMaster over OP_QUERY works, standalone mode looks like a standalone.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect as netConnect } from 'node:net';
import { once } from 'node:events';
import { BSON, MongoClient, ObjectId, Timestamp } from 'mongodb';
import type { CommandSucceededEvent, Document, TopologyDescriptionChangedEvent , MongoServerError} from 'mongodb';
import { needsEmulator, startTestMongo, uniqueDbName } from '../src/testing.js';
import type { TestMongo } from '../src/testing.js';
import { connect } from './support.js';

let mongo: TestMongo;
let client: MongoClient;
let hello: Document;
const dbName = uniqueDbName('topology');

before(async () => {
  mongo = await startTestMongo();
  client = await connect(mongo.uri);
  hello = await client.db('admin').command({ hello: 1 });
});

after(async () => {
  await client?.db(dbName).dropDatabase();
  await client?.close();
  await mongo?.close();
});

test('the driver sees a replica set with a writable primary', async () => {
  const events: TopologyDescriptionChangedEvent[] = [];
  const c = new MongoClient(mongo.uri, { serverSelectionTimeoutMS: 10_000 });
  c.on('topologyDescriptionChanged', (e) => events.push(e));
  try {
    await c.connect();
    await c.db('admin').command({ ping: 1 });
    const last = events.at(-1)!.newDescription;
    assert.equal(last.type, 'ReplicaSetWithPrimary');
    assert.equal(last.setName, hello.setName);
    const servers = [...last.servers.values()];
    assert.ok(servers.some((s) => s.type === 'RSPrimary' && s.address === hello.me));
  } finally {
    await c.close();
  }
});

test('a direct connection sees the primary', async () => {
  const events: TopologyDescriptionChangedEvent[] = [];
  const c = new MongoClient(`mongodb://${hello.me as string}/?directConnection=true`, { serverSelectionTimeoutMS: 10_000 });
  c.on('topologyDescriptionChanged', (e) => events.push(e));
  try {
    await c.connect();
    const coll = c.db(dbName).collection('direct');
    await coll.insertOne({ via: 'direct' });
    assert.equal(await coll.countDocuments({ via: 'direct' }), 1);
    const last = events.at(-1)!.newDescription;
    assert.equal(last.type, 'Single');
    assert.equal([...last.servers.values()][0]!.type, 'RSPrimary');
  } finally {
    await c.close();
  }
});

test('hello answers as the writable primary of the replica set', () => {
  assert.equal(hello.isWritablePrimary, true);
  assert.equal(hello.secondary, false);
  assert.equal(typeof hello.setName, 'string');
  assert.ok(Array.isArray(hello.hosts) && hello.hosts.includes(hello.me));
  assert.equal(hello.primary, hello.me);
  assert.equal(typeof hello.setVersion, 'number');
  assert.ok(hello.electionId instanceof ObjectId);
  assert.ok(hello.maxWireVersion >= 21, `maxWireVersion ${hello.maxWireVersion} is a current server's`);
  assert.equal(typeof hello.logicalSessionTimeoutMinutes, 'number');
  assert.ok(hello.topologyVersion?.processId instanceof ObjectId);
  assert.ok(hello.localTime instanceof Date);
});

test('every reply carries $clusterTime and operationTime, also errors', async () => {
  const replies: Document[] = [];
  const c = new MongoClient(mongo.uri, { monitorCommands: true, serverSelectionTimeoutMS: 10_000 });
  c.on('commandSucceeded', (e: CommandSucceededEvent) => replies.push(e.reply as Document));
  try {
    await c.connect();
    const coll = c.db(dbName).collection('times');
    await coll.insertOne({ a: 1 });
    await coll.find({}).toArray();
    await c.db('admin').command({ ping: 1 });
    await assert.rejects(c.db(dbName).command({ thisCommandDoesNotExist: 1 }), (err: MongoServerError) => {
      assert.ok(err.errorResponse.$clusterTime, 'error reply has $clusterTime');
      assert.ok(err.errorResponse.operationTime instanceof Timestamp);
      return true;
    });
    assert.ok(replies.length >= 3);
    for (const r of replies) {
      assert.ok((r.$clusterTime as Document)?.clusterTime instanceof Timestamp, 'reply has $clusterTime.clusterTime');
      assert.ok(r.operationTime instanceof Timestamp, 'reply has operationTime');
    }
  } finally {
    await c.close();
  }
});

test('explicit sessions (lsid) are accepted', async () => {
  const session = client.startSession();
  try {
    const coll = client.db(dbName).collection('sessions');
    await coll.insertOne({ s: 1 }, { session });
    assert.equal(await coll.countDocuments({ s: 1 }, { session }), 1);
  } finally {
    await session.endSession();
  }
});

/** Encodes an OP_QUERY for `<db>.$cmd` as pre-OP_MSG drivers send it. */
function opQuery(requestId: number, collection: string, query: Document): Buffer {
  const name = Buffer.from(`${collection}\0`, 'utf8');
  const body = Buffer.from(BSON.serialize(query));
  const buf = Buffer.alloc(16 + 4 + name.length + 8 + body.length);
  buf.writeInt32LE(buf.length, 0);
  buf.writeInt32LE(requestId, 4);
  buf.writeInt32LE(0, 8);
  buf.writeInt32LE(2004, 12);
  buf.writeInt32LE(0, 16);
  name.copy(buf, 20);
  buf.writeInt32LE(0, 20 + name.length);
  buf.writeInt32LE(-1, 24 + name.length);
  body.copy(buf, 28 + name.length);
  return buf;
}

test('legacy isMaster over OP_QUERY is answered with OP_REPLY', async () => {
  const [host, port] = (hello.me as string).split(':');
  const socket = netConnect(Number(port), host);
  await once(socket, 'connect');
  try {
    socket.write(opQuery(7, 'admin.$cmd', { isMaster: 1, helloOk: true }));
    let data = Buffer.alloc(0);
    while (data.length < 4 || data.length < data.readInt32LE(0)) {
      const [chunk] = (await once(socket, 'data')) as [Buffer];
      data = Buffer.concat([data, chunk]);
    }
    assert.equal(data.readInt32LE(8), 7, 'responseTo is the request id');
    assert.equal(data.readInt32LE(12), 1, 'opCode OP_REPLY');
    assert.equal(data.readInt32LE(32), 1, 'one document');
    const reply = BSON.deserialize(data.subarray(36));
    assert.equal(reply.ismaster, true);
    assert.equal(reply.setName, hello.setName);
    assert.equal(reply.helloOk, true);
    assert.equal(reply.ok, 1);
  } finally {
    socket.destroy();
  }
});

test('standalone mode presents a standalone mongod', { skip: needsEmulator }, async () => {
  const standalone = await startTestMongo({ standalone: true });
  const events: TopologyDescriptionChangedEvent[] = [];
  const c = new MongoClient(standalone.uri, { serverSelectionTimeoutMS: 10_000 });
  c.on('topologyDescriptionChanged', (e) => events.push(e));
  try {
    await c.connect();
    const h = await c.db('admin').command({ hello: 1 });
    assert.equal(h.isWritablePrimary, true);
    assert.equal(h.setName, undefined);
    assert.equal(h.hosts, undefined);
    const last = events.at(-1)!.newDescription;
    assert.equal(last.type, 'Single');
    assert.equal([...last.servers.values()][0]!.type, 'Standalone');
    const coll = c.db('s').collection('c');
    await coll.insertOne({ a: 1 });
    await assert.rejects(coll.watch([], { maxAwaitTimeMS: 100 }).next(), (err: MongoServerError) => {
      assert.equal(err.code, 40573);
      assert.match(err.message, /The \$changeStream stage is only supported on replica sets/);
      return true;
    });
    await assert.rejects(c.db('admin').command({ replSetGetStatus: 1 }), { code: 76 });
  } finally {
    await c.close();
    await standalone.close();
  }
});

test('replSetGetStatus and serverStatus describe the primary', async () => {
  const status = await client.db('admin').command({ replSetGetStatus: 1 });
  assert.equal(status.set, hello.setName);
  assert.equal(status.myState, 1);
  const self = (status.members as Document[]).find((m) => m.self === true);
  assert.ok(self);
  assert.equal(self.stateStr, 'PRIMARY');
  assert.ok((self.optime as Document).ts instanceof Timestamp);
  const server = await client.db('admin').command({ serverStatus: 1 });
  assert.equal(server.process, 'mongod');
  assert.equal((server.repl as Document).setName, hello.setName);
  assert.ok(typeof (server.connections as Document).current === 'number');
  const build = await client.db('admin').command({ buildInfo: 1 });
  assert.match(build.version as string, /^\d+\.\d+\.\d+/);
  assert.ok(Array.isArray(build.versionArray));
});
