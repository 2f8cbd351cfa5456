/**
 * CPU of restore's revival alone (src/ops/restore/revive.ts, analytics mode with the part's type
 * summary, as `restore` runs it): 20,000 generated API-log lines (the analytics encoder's), parsed
 * and revived, 20 rounds; prints the best round's nanoseconds per line. Not one of the `npm run
 * bench` benchmarks (no baseline): for comparing two trees, run it in each, alternated.
 *
 *   node --import tsx bench/extmem/revive-cpu.ts
 */
import { BSON } from 'bson';
import { newNotes, partReviver } from '../../src/ops/restore/revive.js';
import { decodeOptionsFor, lineEncoder } from '../../src/spool/json-lines.js';
import { TypeTree } from '../../src/spool/type-summary.js';
import { makeDocs } from '../lib/documents.js';

const encode = lineEncoder('analytics');
const tree = new TypeTree();
const lines = makeDocs(20_000, Date.UTC(2024, 0, 15), Date.UTC(2024, 0, 15, 1)).map((d) => {
  const decoded = BSON.deserialize(BSON.serialize(d), decodeOptionsFor('analytics'));
  tree.recordDocument(decoded);
  return encode(decoded);
});
const revive = partReviver('analytics', tree.summary(), 'createdAt', newNotes());
let fields = 0;
let best = Infinity;
for (let round = 0; round < 20; round++) {
  const t0 = process.hrtime.bigint();
  for (const line of lines) fields += Object.keys(revive(line)).length;
  const ns = Number(process.hrtime.bigint() - t0) / lines.length;
  // The first rounds pay the JIT.
  if (round >= 2) best = Math.min(best, ns);
}
console.log(`revive: best ${best.toFixed(0)} ns per line (${(fields / (20 * lines.length)).toFixed(0)} top-level fields)`);
