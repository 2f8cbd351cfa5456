/**
 * Reconcile's MongoDB count per hour agrees with the tailer's hour rule (HourClock +
 * event-time fallbacks) in UTC, across a DST fall-back (two local 02:00 hours) and in a
 * half-hour zone; on the default server and on MongoDB 4.4 (the emulator's
 * `--server-version 4.4`, which refuses 5.0 operators such as `$dateTrunc`): the same counts.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { MongoClient, ObjectId } from 'mongodb';
import { countPerHour } from '../../../src/reconcile/mongo-counts.js';
import { eventTimeReader } from '../../../src/hours/event-time.js';
import { HourClock } from '../../../src/hours/hour-clock.js';
import { emulatorOnly, startTestMongo, uniqueDbName } from '../../helpers/mongo.js';
import type { TestMongo } from '../../helpers/mongo.js';
import { uriWithDb } from '../../helpers/archiver-process.js';

/** The servers every test runs against: the default one, and MongoDB 4.4 (emulator only). */
const PROFILES = [
  { name: 'default server', serverVersion: undefined, skip: false },
  { name: 'MongoDB 4.4', serverVersion: '4.4', skip: emulatorOnly('--server-version 4.4') },
] as const;

for (const profile of PROFILES) {
  describe(profile.name, { skip: profile.skip }, () => {
    let mongo: TestMongo;
    let client: MongoClient;
    before(async () => {
      mongo = await startTestMongo(profile.serverVersion === undefined ? {} : { serverVersion: profile.serverVersion });
      client = new MongoClient(uriWithDb(mongo.uri, uniqueDbName('counts')));
      await client.connect();
    });
    after(async () => {
      await client.db().dropDatabase();
      await client.close();
      await mongo.close();
    });

    const from = Date.parse('2024-10-26T20:00:00Z');
    const to = Date.parse('2024-10-27T06:00:00Z');

    /** Counts per hour slot of [start, end) by the tailer's own rule (the event-time reader), to compare with. */
    function expectedCounts(docs: ReadonlyArray<Record<string, unknown>>, clock: HourClock, start: number, end: number): Map<number, number> {
      const read = eventTimeReader('createdAt');
      const expected = new Map<number, number>();
      for (const d of docs) {
        const { ms } = read(d);
        if (ms < start || ms >= end) continue;
        const h = clock.slotOf(ms).start;
        expected.set(h, (expected.get(h) ?? 0) + 1);
      }
      return expected;
    }

    test('counts per hour match the tailer bucketing in UTC, Europe/Berlin (fall-back) and Asia/Kolkata', async () => {
      const coll = client.db().collection('apilogs');
      const docs: Array<Record<string, unknown>> = [];
      for (let t = from - 1_800_000; t < to + 1_800_000; t += 7 * 60_000) docs.push({ _id: new ObjectId(), createdAt: new Date(t) });
      // No date in the timestamp field: the ObjectId time decides.
      docs.push({ _id: ObjectId.createFromTime(Date.parse('2024-10-27T01:10:00Z') / 1000), createdAt: 'n/a' });
      docs.push({ _id: ObjectId.createFromTime(Date.parse('2024-10-27T00:40:00Z') / 1000) });
      await coll.insertMany(docs);
      for (const zone of ['UTC', 'Europe/Berlin', 'Asia/Kolkata']) {
        const clock = new HourClock(zone);
        const start = clock.slotOf(from).start;
        const end = clock.slotOf(to).start;
        const expected = expectedCounts(docs, clock, start, end);
        const got = await countPerHour(coll, 'createdAt', start, end, zone);
        assert.deepEqual(new Map([...got].sort()), new Map([...expected].sort()), zone);
      }
      const berlin = await countPerHour(coll, 'createdAt', from, to, 'Europe/Berlin');
      // 2024-10-27 local 02:00 happens twice: 00:00Z and 01:00Z are two distinct hours.
      assert.ok(berlin.has(Date.parse('2024-10-27T00:00:00Z')) && berlin.has(Date.parse('2024-10-27T01:00:00Z')));
    });

    test('counts per hour follow the slots when the offset phase changes inside the range (Lord Howe, New York)', async () => {
      const coll = client.db().collection('apilogs_phase');
      // A document every 4 minutes around Lord Howe's 30-minute shifts of 2024 (April fall-back to
      // +10:30, October spring-forward to +11) and New York's changes, and two by ObjectId time.
      const windows = [
        ['2024-04-06T10:00:00Z', '2024-04-06T20:00:00Z'],
        ['2024-10-05T10:00:00Z', '2024-10-05T20:00:00Z'],
        ['2024-03-10T03:00:00Z', '2024-03-10T10:00:00Z'],
        ['2024-11-03T03:00:00Z', '2024-11-03T10:00:00Z'],
      ] as const;
      const docs: Array<Record<string, unknown>> = [];
      for (const [a, b] of windows) for (let t = Date.parse(a); t < Date.parse(b); t += 4 * 60_000) docs.push({ _id: new ObjectId(), createdAt: new Date(t) });
      docs.push({ _id: ObjectId.createFromTime(Date.parse('2024-04-06T15:20:00Z') / 1000), createdAt: 'n/a' });
      docs.push({ _id: ObjectId.createFromTime(Date.parse('2024-10-05T15:40:00Z') / 1000) });
      await coll.insertMany(docs);
      for (const zone of ['Australia/Lord_Howe', 'America/New_York']) {
        for (const [a, b] of windows) {
          const clock = new HourClock(zone);
          const start = clock.slotOf(Date.parse(a) + 3_600_000).start;
          const end = clock.slotOf(Date.parse(b) - 3_600_000).start;
          const expected = expectedCounts(docs, clock, start, end);
          const got = await countPerHour(coll, 'createdAt', start, end, zone);
          assert.deepEqual(new Map([...got].sort()), new Map([...expected].sort()), `${zone} ${a}`);
        }
      }
      // Lord Howe's repeated half hour (01:30-02:00 +10:30, 15:00Z-15:30Z) is an hour of its own:
      // 8 documents by timestamp (15:00Z, 15:04Z, ... 15:28Z) and the one by ObjectId time (15:20Z).
      const lh = await countPerHour(coll, 'createdAt', Date.parse('2024-04-06T12:00:00Z'), Date.parse('2024-04-06T18:30:00Z'), 'Australia/Lord_Howe');
      assert.equal(lh.get(Date.parse('2024-04-06T14:00:00Z')), 15);
      assert.equal(lh.get(Date.parse('2024-04-06T15:00:00Z')), 9);
      assert.equal(lh.get(Date.parse('2024-04-06T15:30:00Z')), 15);
      assert.equal([...lh.values()].reduce((x, y) => x + y, 0), 98 + 1);
    });

    test('dates before 1970 or from year 10000 on are counted in the hour of their ObjectId time, as the tailer files them', async () => {
      const coll = client.db().collection('apilogs_range');
      const hour = Date.parse('2024-06-01T10:00:00Z');
      const idAt = (min: number): ObjectId => ObjectId.createFromTime((hour + min * 60_000) / 1000);
      const docs = [
        { _id: idAt(5), createdAt: new Date('0001-01-01T00:30:00Z') },
        { _id: idAt(10), createdAt: new Date(Date.UTC(-1, 0, 1)) },
        { _id: idAt(15), createdAt: new Date(Date.UTC(10000, 0, 1)) },
        { _id: idAt(20), createdAt: new Date(-1) },
        { _id: idAt(25), createdAt: new Date(hour + 3_600_000 + 60_000) }, // a date: the next hour
      ];
      await coll.insertMany(docs);
      assert.deepEqual(
        docs.map((d) => eventTimeReader('createdAt')(d).source),
        ['objectId', 'objectId', 'objectId', 'objectId', 'field'],
      );
      const got = await countPerHour(coll, 'createdAt', hour - 3_600_000, hour + 2 * 3_600_000, 'UTC');
      assert.deepEqual(new Map([...got].sort()), new Map([[hour, 4], [hour + 3_600_000, 1]]));
      // Nothing is counted in the hours their dates name (0001-01-01 was counted under 1901 before).
      for (const [from, to] of [
        [Date.parse('0001-01-01T00:00:00Z'), Date.parse('0001-01-01T02:00:00Z')],
        [Date.parse('1901-01-01T00:00:00Z'), Date.parse('1901-01-01T02:00:00Z')],
        [Date.parse('1969-12-31T23:00:00Z'), Date.parse('1970-01-01T00:00:00Z')],
      ] as const) {
        assert.equal((await countPerHour(coll, 'createdAt', from, to, 'UTC')).size, 0, new Date(from).toISOString());
      }
    });
  });
}
