/**
 * CPU of the BSON line writer alone (src/spool/bson-lines.ts, with a type tree, as capture runs
 * it): 20,000 generated API-log documents (~325 BSON bytes) written to analytics JSON lines,
 * 5 passes a round, 20 rounds; prints the best round's nanoseconds per document. Not one of the
 * `npm run bench` benchmarks (no baseline): for comparing two trees, run it in each, alternated.
 *
 *   node --import tsx bench/extmem/line-writer-cpu.ts
 */
import { BSON } from 'bson';
import { BsonLineWriter } from '../../src/spool/bson-lines.js';
import { TypeTree } from '../../src/spool/type-summary.js';
import { makeDocs } from '../lib/documents.js';

const docs = makeDocs(20_000, Date.UTC(2024, 0, 15), Date.UTC(2024, 0, 15, 1));
const bins = docs.map((d) => BSON.serialize(d));
const out = new Uint8Array(1 << 20);
const writer = new BsonLineWriter();
const tree = new TypeTree();
let bytes = 0;
let best = Infinity;
for (let round = 0; round < 20; round++) {
  const t0 = process.hrtime.bigint();
  for (let pass = 0; pass < 5; pass++) {
    for (const b of bins) {
      bytes += writer.write(b, 0, out, 0, tree);
      writer.commitTypes();
    }
  }
  const ns = Number(process.hrtime.bigint() - t0) / (5 * bins.length);
  // The first rounds pay the JIT.
  if (round >= 2) best = Math.min(best, ns);
}
console.log(`line writer: best ${best.toFixed(0)} ns per document (${(bytes / (20 * 5 * bins.length)).toFixed(0)} JSON bytes per document)`);
