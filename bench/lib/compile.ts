/**
 * Compiles TypeScript sources to plain ESM JavaScript in a temp directory (TypeScript's
 * transpileModule, per file, no type check: what `npm run build` emits into dist/), so a child
 * process can run the archiver as an installed package does — plain `node`, no tsx loader in its
 * memory. The output mirrors the repository layout (relative imports keep working), gets a copy
 * of package.json (ESM, and read by src/seal/manifest.ts) and a node_modules symlink.
 *
 * The tree also holds the command as an installed package runs it: bin/cron-log-service.js (a
 * copy) and the bundle `npm run build` writes to dist/bundle/ (scripts/bundle.ts, esbuild; its
 * modules' `import.meta.url` point at their compiled twins under src/ here), so
 * `node <tree>/bin/cron-log-service.js run` runs the bundle (the startup benchmark).
 *
 * One tree per bench process: src/, bench/lib/ and bench/children/ are compiled once, on the first
 * call, into a temp directory removed when the process exits; every benchmark that runs a
 * compiled child (memory, startup, memory-catchup) uses it.
 */
import { rmSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readFile, readdir, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { bundleCli } from '../../scripts/bundle.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

async function tsFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await tsFiles(p)));
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

const FOLDERS = ['src', 'bench/lib', 'bench/children'];

let tree: Promise<string> | undefined;

/** The compiled tree of this process (compiled on the first call); the path of `entry` (a .ts under FOLDERS) there, as .js. */
export async function compileForNode(entry: string): Promise<string> {
  return join(await compiledTree(), entry.replace(/\.ts$/, '.js'));
}

/** The directory of this process's compiled tree (compiled on the first call). */
export function compiledTree(): Promise<string> {
  tree ??= (async () => {
    const outDir = await mkdtemp(join(tmpdir(), 'cls-bench-compiled-'));
    process.once('exit', () => rmSync(outDir, { recursive: true, force: true }));
    await compileInto(outDir);
    return outDir;
  })();
  return tree;
}

/** Compiles FOLDERS into `outDir`. */
async function compileInto(outDir: string): Promise<void> {
  const options: ts.CompilerOptions = {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.ESNext,
    verbatimModuleSyntax: true,
    esModuleInterop: true,
  };
  for (const folder of FOLDERS) {
    for (const file of await tsFiles(join(ROOT, folder))) {
      const rel = relative(ROOT, file);
      const js = ts.transpileModule(await readFile(file, 'utf8'), { compilerOptions: options, fileName: rel }).outputText;
      const target = join(outDir, rel.replace(/\.ts$/, '.js'));
      await mkdir(dirname(target), { recursive: true });
      await writeFile(target, js);
    }
  }
  await writeFile(join(outDir, 'package.json'), await readFile(join(ROOT, 'package.json')));
  await symlink(join(ROOT, 'node_modules'), join(outDir, 'node_modules'), 'dir');
  await mkdir(join(outDir, 'bin'));
  await copyFile(join(ROOT, 'bin', 'cron-log-service.js'), join(outDir, 'bin', 'cron-log-service.js'));
  await bundleCli(join(outDir, 'dist', 'bundle'), join(outDir, 'src'));
}

/** The path of the installed command in this process's compiled tree (it runs the bundle). */
export async function compiledBin(): Promise<string> {
  return join(await compiledTree(), 'bin', 'cron-log-service.js');
}
