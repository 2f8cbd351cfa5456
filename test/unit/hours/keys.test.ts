import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '../../../src/errors.js';
import { DEFAULT_KEY_TEMPLATE, KeyLayout, partSuffix, validateKeyTemplate, validateKeyPrefix } from '../../../src/hours/keys.js';
import { HourClock, slotOf } from '../../../src/hours/hour-clock.js';

const utc = (y: number, mo: number, d: number, h: number): number => Date.UTC(y, mo - 1, d, h);

test('default template renders the documented layout for UTC hours', () => {
  const layout = new KeyLayout(DEFAULT_KEY_TEMPLATE, 'api-logs');
  assert.equal(layout.dataKey(slotOf(utc(2024, 1, 15, 0))), 'api-logs/2024-01-15/00-01.ndjson.gz');
  assert.equal(layout.dataKey(slotOf(utc(2024, 1, 15, 13))), 'api-logs/2024-01-15/13-14.ndjson.gz');
  assert.equal(layout.dataKey(slotOf(utc(2024, 1, 15, 23))), 'api-logs/2024-01-15/23-24.ndjson.gz');
  assert.equal(layout.manifestKey(slotOf(utc(2024, 1, 15, 0))), 'api-logs/2024-01-15/00-01.manifest.json');
});

test('parts and revisions get their own suffixes', () => {
  const layout = new KeyLayout(DEFAULT_KEY_TEMPLATE, 'api-logs');
  const slot = slotOf(utc(2024, 1, 15, 7));
  assert.equal(layout.dataKey(slot, { index: 1, revision: 0 }), 'api-logs/2024-01-15/07-08.ndjson.gz');
  assert.equal(layout.dataKey(slot, { index: 2, revision: 0 }), 'api-logs/2024-01-15/07-08.part2.ndjson.gz');
  assert.equal(layout.dataKey(slot, { index: 3, revision: 0 }), 'api-logs/2024-01-15/07-08.part3.ndjson.gz');
  assert.equal(layout.dataKey(slot, { index: 1, revision: 1 }), 'api-logs/2024-01-15/07-08.rev1.ndjson.gz');
  assert.equal(layout.dataKey(slot, { index: 2, revision: 1 }), 'api-logs/2024-01-15/07-08.part2.rev1.ndjson.gz');
  // The manifest is always next to part 1 revision 0.
  assert.equal(layout.manifestKey(slot), 'api-logs/2024-01-15/07-08.manifest.json');
  assert.throws(() => partSuffix({ index: 0, revision: 0 }), RangeError);
  assert.throws(() => partSuffix({ index: 1, revision: -1 }), RangeError);
  assert.throws(() => partSuffix({ index: 1.5, revision: 0 }), RangeError);
});

test('DST fall-back in Europe/Berlin: 25 hours, the repeated 02 hour gets .2, all keys unique', () => {
  const clock = new HourClock('Europe/Berlin');
  // Local day 2024-10-27 runs from 2024-10-26T22:00Z to 2024-10-27T23:00Z (25 hours).
  const slots = clock.slotsBetween(utc(2024, 10, 26, 22), utc(2024, 10, 27, 23));
  assert.equal(slots.length, 25);
  const layout = new KeyLayout('{prefix}/{date}/{hour}-{nextHour}{fold}{part}_{offset}.ndjson.gz', 'api-logs');
  const keys = slots.map((s) => layout.dataKey(s));
  assert.equal(new Set(keys).size, 25);
  const twos = keys.filter((k) => k.includes('/02-03'));
  assert.deepEqual(twos, ['api-logs/2024-10-27/02-03_+0200.ndjson.gz', 'api-logs/2024-10-27/02-03.2_+0100.ndjson.gz']);
  const def = new KeyLayout(DEFAULT_KEY_TEMPLATE, 'api-logs');
  const defKeys = slots.map((s) => def.dataKey(s));
  assert.equal(new Set(defKeys).size, 25);
  assert.ok(defKeys.includes('api-logs/2024-10-27/02-03.ndjson.gz'));
  assert.ok(defKeys.includes('api-logs/2024-10-27/02-03.2.ndjson.gz'));
  assert.ok(defKeys.includes('api-logs/2024-10-27/02-03.2.part2.rev1.ndjson.gz') === false);
  const second = slots.find((s) => s.fold === 1);
  assert.ok(second !== undefined);
  assert.equal(def.dataKey(second, { index: 2, revision: 1 }), 'api-logs/2024-10-27/02-03.2.part2.rev1.ndjson.gz');
  assert.equal(def.manifestKey(second), 'api-logs/2024-10-27/02-03.2.manifest.json');
});

test('DST spring-forward in Europe/Berlin: 23 hours, unique keys, no 02 hour', () => {
  const clock = new HourClock('Europe/Berlin');
  const slots = clock.slotsBetween(utc(2024, 3, 30, 23), utc(2024, 3, 31, 22));
  assert.equal(slots.length, 23);
  const layout = new KeyLayout(DEFAULT_KEY_TEMPLATE, 'api-logs');
  const keys = slots.map((s) => layout.dataKey(s));
  assert.equal(new Set(keys).size, 23);
  assert.ok(!keys.some((k) => k.includes('/02-')));
});

test('Hive-style and split-date templates, nested and empty prefixes', () => {
  const slot = slotOf(utc(2024, 1, 15, 0));
  const hive = new KeyLayout('{prefix}/dt={date}/hour={hour}/{date}-{hour}{fold}{part}.ndjson.gz', 'api-logs');
  assert.equal(hive.dataKey(slot), 'api-logs/dt=2024-01-15/hour=00/2024-01-15-00.ndjson.gz');
  assert.equal(hive.manifestKey(slot), 'api-logs/dt=2024-01-15/hour=00/2024-01-15-00.manifest.json');
  const split = new KeyLayout('{prefix}/{yyyy}/{MM}/{dd}/{hour}{fold}{part}.ndjson.gz', 'prod/api-logs/');
  assert.equal(split.prefix, 'prod/api-logs');
  assert.equal(split.dataKey(slot, { index: 2, revision: 0 }), 'prod/api-logs/2024/01/15/00.part2.ndjson.gz');
  const bare = new KeyLayout(DEFAULT_KEY_TEMPLATE, '');
  assert.equal(bare.dataKey(slot), '2024-01-15/00-01.ndjson.gz');
  assert.equal(bare.listPrefix(), '');
  assert.equal(hive.listPrefix(), 'api-logs/dt=');
  assert.equal(new KeyLayout(DEFAULT_KEY_TEMPLATE, 'api-logs').listPrefix(), 'api-logs/');
});

test('parse() reads back every key a layout writes and rejects others', () => {
  const clock = new HourClock('Europe/Berlin');
  const slots = clock.slotsBetween(utc(2024, 10, 26, 22), utc(2024, 10, 27, 23));
  for (const template of [
    DEFAULT_KEY_TEMPLATE,
    '{prefix}/dt={date}/hour={hour}/{date}-{hour}{fold}{part}.ndjson.gz',
    '{prefix}/{yyyy}/{MM}/{dd}/{hour}{offset}{fold}{part}.ndjson.gz',
  ]) {
    for (const prefix of ['api-logs', '', 'a.b/c+d']) {
      const layout = new KeyLayout(template, prefix);
      for (const slot of slots) {
        for (const part of [{ index: 1, revision: 0 }, { index: 2, revision: 0 }, { index: 1, revision: 3 }, { index: 12, revision: 2 }]) {
          const parsed = layout.parse(layout.dataKey(slot, part));
          assert.ok(parsed, `${template} ${prefix} ${layout.dataKey(slot, part)}`);
          assert.equal(parsed.kind, 'data');
          assert.equal(parsed.date, slot.date);
          assert.equal(parsed.hour, slot.hour);
          assert.equal(parsed.fold, slot.fold);
          assert.deepEqual(parsed.part, part);
        }
        const m = layout.parse(layout.manifestKey(slot));
        assert.equal(m?.kind, 'manifest');
        assert.equal(m?.fold, slot.fold);
      }
    }
  }
  const layout = new KeyLayout(DEFAULT_KEY_TEMPLATE, 'api-logs');
  assert.equal(layout.parse('other/2024-01-15/00-01.ndjson.gz'), undefined);
  assert.equal(layout.parse('api-logs/2024-01-15/00-01.part1.ndjson.gz'), undefined);
  assert.equal(layout.parse('api-logs/2024-01-15/00-01.rev0.ndjson.gz'), undefined);
  assert.equal(layout.parse('api-logs/2024-01-15/00-01.part2.manifest.json'), undefined);
  assert.equal(layout.parse('api-logs/2024-01-15/00-01.json'), undefined);
  assert.equal(layout.parse('api-logs/.cron-log-service-probe-x'), undefined);
  const hive = new KeyLayout('{prefix}/dt={date}/hour={hour}/{date}-{hour}{fold}{part}.ndjson.gz', 'api-logs');
  // The repeated {date} must agree with itself.
  assert.equal(hive.parse('api-logs/dt=2024-01-15/hour=00/2024-01-16-00.ndjson.gz'), undefined);
});

test('validateKeyTemplate accepts good templates', () => {
  assert.deepEqual(validateKeyTemplate(DEFAULT_KEY_TEMPLATE), []);
  assert.deepEqual(validateKeyTemplate('{prefix}/dt={date}/hour={hour}/{date}-{hour}{fold}{part}.ndjson.gz'), []);
  assert.deepEqual(validateKeyTemplate('{prefix}/{yyyy}/{MM}/{dd}/{hour}{offset}{fold}{part}.ndjson.gz'), []);
  assert.deepEqual(validateKeyTemplate('archive/{date}/{hour}{fold}{part}.ndjson.gz'), []);
});

test('validateKeyTemplate names each problem and what is expected', () => {
  const one = (t: string, re: RegExp): void => {
    const problems = validateKeyTemplate(t);
    assert.ok(problems.some((p) => re.test(p)), `${t}: ${JSON.stringify(problems)} should match ${re}`);
  };
  assert.match(validateKeyTemplate('')[0] ?? '', /empty: expected something like/);
  one('/{prefix}/{date}/{hour}{fold}{part}.ndjson.gz', /is absolute \(starts with "\/"\): expected a relative key/);
  one('{prefix}//{date}/{hour}{fold}{part}.ndjson.gz', /empty path segment .*expected non-empty segments/);
  one('{prefix}/{date}/{hour}{fold}{part}.ndjson.gz/', /empty path segment/);
  one('{prefix}/../{date}/{hour}{fold}{part}.ndjson.gz', /"\.\." or "\." segment: expected plain segments/);
  one('{prefix}/{date}/{hour}{fold}{part}{minute}.ndjson.gz', /unknown placeholder \{minute\}: expected one of \{prefix\}, \{date\}/);
  one('{prefix}/{date}/{hour{fold}{part}.ndjson.gz', /unbalanced "\{" or "\}"/);
  one('{prefix}/{date}/{hour}{fold}.ndjson.gz', /lacks \{part\}: expected \{part\} so that late parts/);
  one('{prefix}/{date}/{hour}-{nextHour}{part}.ndjson.gz', /lacks \{fold\}: expected \{fold\} so that the two occurrences .* DST fall-back/);
  one('{prefix}/{date}/{fold}{part}.ndjson.gz', /lacks \{hour\}/);
  one('{prefix}/{hour}{fold}{part}.ndjson.gz', /lacks a date: expected \{date\} or all of \{yyyy\}, \{MM\} and \{dd\}$/);
  one('{prefix}/{yyyy}/{MM}/{hour}{fold}{part}.ndjson.gz', /lacks a date: .*\(missing \{dd\}\)/);
  one('{prefix}/{date}/{hour}{fold}{part}.json', /must end with "\.ndjson\.gz"/);
  one('{prefix}\\{date}\\{hour}{fold}{part}.ndjson.gz', /contains "\\": expected "\/"/);
  // Several problems are all reported.
  assert.ok(validateKeyTemplate('/x/{foo}.json').length >= 5);
});

test('KeyLayout rejects bad templates and prefixes with a ConfigError', () => {
  assert.throws(() => new KeyLayout('{prefix}/{date}/{hour}.ndjson.gz', 'api-logs'), (e: unknown) => e instanceof ConfigError && /\{fold\}/.test(e.message) && /\{part\}/.test(e.message));
  assert.throws(() => new KeyLayout(DEFAULT_KEY_TEMPLATE, '../escape'), ConfigError);
  assert.deepEqual(validateKeyPrefix('api-logs'), []);
  assert.deepEqual(validateKeyPrefix('/api-logs/'), []);
  assert.match(validateKeyPrefix('a//b')[0] ?? '', /empty path segment/);
  assert.match(validateKeyPrefix('a/{date}')[0] ?? '', /"\{" or "\}"/);
});
