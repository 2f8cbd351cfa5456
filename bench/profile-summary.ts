/**
 * Summarizes a V8 CPU profile (.cpuprofile, from `node --cpu-prof` or `npm run bench --
 * --cpu-prof DIR`): the top functions by self time, and self time per file/package.
 *
 *   node --import tsx bench/profile-summary.ts FILE.cpuprofile [--top 25]
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

const { values, positionals } = parseArgs({ options: { top: { type: 'string', default: '25' } }, allowPositionals: true });
const file = positionals[0];
if (file === undefined) {
  process.stderr.write('usage: node --import tsx bench/profile-summary.ts FILE.cpuprofile [--top N]\n');
  process.exit(2);
}
const top = Number(values.top);
const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const selfUs = new Map<number, number>();
for (let i = 0; i < profile.samples.length; i++) {
  const id = profile.samples[i] as number;
  selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
}
const total = profile.endTime - profile.startTime;

/** Where a frame lives: a package name, a project path, or node:internal. */
function place(url: string): string {
  if (url === '') return '(native/V8)';
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (nm) return nm[1] as string;
  if (url.startsWith('node:')) return url.replace(/^node:internal\/.*/, 'node:internal');
  const m = /\/work\/main\/(.*)$/.exec(url.replace(/^file:\/\//, ''));
  return m ? (m[1] as string) : url;
}

const fnSelf = new Map<string, number>();
const placeSelf = new Map<string, number>();
for (const [id, us] of selfUs) {
  const n = byId.get(id);
  if (!n) continue;
  const f = n.callFrame;
  const where = place(f.url);
  const name = `${f.functionName || '(anonymous)'}  ${where}${f.url ? `:${f.lineNumber + 1}` : ''}`;
  fnSelf.set(name, (fnSelf.get(name) ?? 0) + us);
  placeSelf.set(where, (placeSelf.get(where) ?? 0) + us);
}
let out = '';
const print = (line: string): void => void (out += line);
const pct = (us: number): string => `${((100 * us) / total).toFixed(1).padStart(5)}%`;
const ms = (us: number): string => `${(us / 1000).toFixed(0).padStart(7)} ms`;
const idle = fnSelf.get('(idle)  (native/V8)') ?? 0;
print(`${file}\n  wall ${(total / 1000).toFixed(0)} ms, idle ${pct(idle)}\n\nTop functions by self time:\n`);
for (const [name, us] of [...fnSelf].sort((a, b) => b[1] - a[1]).slice(0, top)) print(`${ms(us)} ${pct(us)}  ${name}\n`);
print('\nSelf time by file / package:\n');
for (const [where, us] of [...placeSelf].sort((a, b) => b[1] - a[1]).slice(0, top)) print(`${ms(us)} ${pct(us)}  ${where}\n`);
process.stdout.on('error', () => undefined); // e.g. piped into head
process.stdout.write(out);
