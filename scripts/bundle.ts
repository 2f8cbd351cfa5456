/**
 * Bundles the `cron-log-service` command (src/cli/main.ts) with esbuild into dist/bundle/: what
 * bin/cron-log-service.js runs in an installed package, the container image and the systemd unit.
 * `npm run build` runs it after `tsc` (which still writes dist/ file by file: the library export
 * `dist/index.js` and its types are unchanged; the bundle is for the command only).
 *
 * Why a bundle: a restarted `run` spent most of its first second loading modules — about 150 ESM
 * files of src/ and several hundred CommonJS files of the driver, zod, winston and node-cron, each
 * resolved, read and compiled on its own (node --cpu-prof: module resolution and compilation were
 * ~85% of the 850 CPU-ms before the stream opened). One file per chunk removes the per-file cost.
 *
 * - ESM with code splitting: each subcommand's dynamic import (src/cli/main.ts) is a chunk of its
 *   own, so `run` still loads only what it needs.
 * - Every statically imported package is bundled. Packages loaded on first use through
 *   `createRequire` (the AWS SDK, @smithy/core/retry, prom-client, @azure/storage-blob) are not
 *   seen by esbuild and stay in node_modules, loaded when needed as before; so do the driver's
 *   optional packages (kerberos, snappy, …: `external`).
 * - `import.meta.url` of each src/ module is rewritten to the URL of its compiled twin in dist/
 *   (dist/ops/dashboard/routes.js, …), so paths built from it (static/dashboard/, package.json,
 *   `createRequire`) resolve as they do in the file-by-file build.
 * - Names are kept (`keepNames`): errors and classes print as in the sources.
 *
 *   node --import tsx scripts/bundle.ts [OUT_DIR]     (default dist/bundle)
 */
import { readFile } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import type { Plugin } from 'esbuild';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SRC = join(ROOT, 'src') + sep;

/** The file of the bundle's entry in `outDir` (what bin/cron-log-service.js imports). */
export const BUNDLE_ENTRY = 'cli.js';

/** The driver's optional packages, required inside try/catch when a feature needs them. */
const OPTIONAL = ['kerberos', '@mongodb-js/zstd', '@aws-sdk/credential-providers', 'gcp-metadata', 'snappy', 'socks', 'mongodb-client-encryption'];

/** Bundled CommonJS code calls `require` for node's built-ins: an ES module has none of its own. */
const BANNER = "import { createRequire as __bundleCreateRequire } from 'node:module';\nconst require = __bundleCreateRequire(import.meta.url);";

/** Rewrites `import.meta.url` in src/ modules to the URL of the module's compiled file in dist/. */
function distImportMetaUrl(outDir: string, distDir: string): Plugin {
  return {
    name: 'dist-import-meta-url',
    setup(b) {
      b.onLoad({ filter: /\.ts$/ }, async (args) => {
        if (!args.path.startsWith(SRC)) return undefined;
        const source = await readFile(args.path, 'utf8');
        if (!source.includes('import.meta.url')) return { contents: source, loader: 'ts' };
        const twin = join(distDir, relative(SRC, args.path)).replace(/\.ts$/, '.js');
        const rel = relative(outDir, twin).split(sep).join('/');
        return { contents: source.replaceAll('import.meta.url', `new URL(${JSON.stringify(rel)}, import.meta.url).href`), loader: 'ts' };
      });
    },
  };
}

/**
 * Bundles src/cli/main.ts into `outDir` (default dist/bundle); `distDir` is where the modules'
 * compiled twins are taken to live (default: the parent of `outDir`). Resolves with the files
 * written (relative to `outDir`).
 */
export async function bundleCli(outDir = join(ROOT, 'dist', 'bundle'), distDir = dirname(resolve(outDir))): Promise<string[]> {
  const result = await build({
    absWorkingDir: ROOT,
    entryPoints: { cli: join(ROOT, 'src', 'cli', 'main.ts') },
    outdir: outDir,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    chunkNames: 'chunk-[hash]',
    external: OPTIONAL,
    keepNames: true,
    banner: { js: BANNER },
    legalComments: 'none',
    logLevel: 'warning',
    metafile: true,
    plugins: [distImportMetaUrl(resolve(outDir), resolve(distDir))],
  });
  return Object.keys(result.metafile.outputs).map((f) => relative(outDir, resolve(ROOT, f)));
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const files = await bundleCli(process.argv[2] !== undefined ? resolve(process.argv[2]) : undefined);
  process.stderr.write(`bundled src/cli/main.ts: ${files.length} files\n`);
}
