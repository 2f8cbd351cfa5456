/**
 * The option table's value checks (src/config/value-schema.ts, which replaced zod with the same
 * messages): what each accepts, what it answers, and the problems it reports.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { booleanValue, integerIn, listOfValues, nonEmptyString, oneOfValues } from '../../../src/config/value-schema.js';
import type { ParseResult } from '../../../src/config/value-schema.js';

function problems<T>(r: ParseResult<T>): string[] {
  return r.success ? [] : r.issues.map((i) => i.message);
}

test('a non-empty string: the type, the empty string, then the first refinement that finds a problem', () => {
  const s = nonEmptyString('a name', [(v) => (v.includes(' ') ? 'no spaces' : undefined), (v) => (v.startsWith('x') ? 'no x' : undefined), () => undefined]);
  assert.deepEqual(s.safeParse('ok'), { success: true, data: 'ok' });
  assert.deepEqual(problems(s.safeParse(3)), ['expected a name']);
  assert.deepEqual(problems(s.safeParse([])), ['expected a name']);
  assert.deepEqual(problems(s.safeParse('')), ['expected a name, not an empty string']);
  assert.deepEqual(problems(s.safeParse('x y')), ['no spaces']);
  assert.deepEqual(problems(s.safeParse('xy')), ['no x']);
  const empty = nonEmptyString('a path', [(v) => (v === '' ? 'blank' : undefined)]);
  assert.deepEqual(problems(empty.safeParse('')), ['expected a path, not an empty string', 'blank']);
});

test('an integer in its range: safe integers only, bounds included', () => {
  const i = integerIn(1, 9, 'expected an integer from 1 to 9');
  for (const v of [1, 5, 9]) assert.deepEqual(i.safeParse(v), { success: true, data: v });
  for (const v of [0, 10, 1.5, Number.NaN, Infinity, '5', null, undefined]) assert.deepEqual(problems(i.safeParse(v)), ['expected an integer from 1 to 9'], String(v));
  const open = integerIn(0, undefined, 'expected an integer >= 0');
  assert.equal(open.safeParse(2 ** 53 - 1).success, true);
  assert.equal(open.safeParse(2 ** 53).success, false);
  assert.equal(open.safeParse(-1).success, false);
});

test('booleans, one of a list, a non-empty list without repeats', () => {
  const b = booleanValue('expected true or false');
  assert.deepEqual(b.safeParse(false), { success: true, data: false });
  assert.deepEqual(problems(b.safeParse('true')), ['expected true or false']);
  const e = oneOfValues(['s3', 'file'], 'expected one of "s3" or "file"');
  assert.deepEqual(e.safeParse('file'), { success: true, data: 'file' });
  for (const v of ['S3', '', 1, ['s3'], 'toString']) assert.deepEqual(problems(e.safeParse(v)), ['expected one of "s3" or "file"'], String(v));
  const l = listOfValues(['a', 'b', 'c'], 'expected a list');
  assert.deepEqual(l.safeParse(['c', 'a', 'c', 'b', 'a']), { success: true, data: ['c', 'a', 'b'] });
  for (const v of [[], ['a', 'd'], 'a', [1], null]) assert.deepEqual(problems(l.safeParse(v)), ['expected a list'], JSON.stringify(v));
});
