import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseSpoolFileName, spoolFileName } from '../../../src/spool/spool-files.js';

test('spool file names read back to the hour and part they were written for', () => {
  for (const iso of ['2024-01-15T00:00:00Z', '1970-01-01T00:00:00Z', '1969-12-31T23:30:00Z', '9999-12-31T23:00:00Z', '0001-01-01T00:00:00Z', '0099-06-01T05:30:00Z']) {
    for (const part of [1, 2, 17]) {
      const hour = Date.parse(iso);
      const name = spoolFileName({ hour, part });
      assert.deepEqual(parseSpoolFileName(name), { hour, part }, name);
    }
  }
  assert.equal(spoolFileName({ hour: Date.parse('2024-01-15T05:30:00Z'), part: 2 }), '2024-01-15T05-30Z.p2.ndjson.gz');
});

test('years 0-99 are not read as 1900-1999; names no hour was written for are not read', () => {
  assert.equal(parseSpoolFileName('0001-01-01T00-00Z.ndjson.gz')?.hour, Date.parse('0001-01-01T00:00:00Z'));
  for (const name of ['2024-02-30T00-00Z.ndjson.gz', '2024-13-01T00-00Z.ndjson.gz', '2024-01-01T24-00Z.ndjson.gz', '2024-01-01T00-60Z.ndjson.gz', 'x.ndjson.gz']) {
    assert.equal(parseSpoolFileName(name), undefined, name);
  }
});

test('an hour outside years 0000-9999 gets no name rather than one that is never read back', () => {
  for (const hour of [Date.UTC(-1, 0, 1), Date.UTC(10000, 0, 1)]) {
    assert.throws(() => spoolFileName({ hour, part: 1 }), /no spool file name holds the hour/);
  }
});
