/**
 * Compiles TypeScript sources to plain ESM JavaScript in a temp directory (TypeScript's
 * transpileModule, per file, no type check: what `npm run build` emits into dist/), so a child
 * process can run the archiver as an installed package does — plain `node`, no tsx loader in its
 * memory. The output mirrors the repository layout (relative imports keep working), gets a copy
 * of package.json (ESM, and read by src/seal/manifest.ts) and a node_modules symlink.
 */
import { mkdir, readFile, readdir, symlink, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

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

/** Compiles src/ and the given bench folders into `outDir`; returns the path of `entry` there (.js). */
export async function compileForNode(outDir: string, folders: readonly string[], entry: string): Promise<string> {
  const options: ts.CompilerOptions = {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.ESNext,
    verbatimModuleSyntax: true,
    esModuleInterop: true,
  };
  for (const folder of ['src', ...folders]) {
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
  return join(outDir, entry.replace(/\.ts$/, '.js'));
}
