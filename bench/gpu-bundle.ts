/**
 * Builds bench/gpu.ts and the engine into one ES-module file for Node with esbuild (the `webgpu` package stays
 * outside: it is loaded at run time), then runs it: `npm run bench:gpu [-- <bench/gpu.ts options>]`.
 * `--out <file>` writes the bundle there (default: node_modules/.cache/bench-gpu/gpu.mjs); `--build-only` stops after it.
 */
import { spawnSync } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

/** Bundles bench/gpu.ts into `outFile` (minified: it travels to the GPU box); returns its size in bytes. */
export async function buildGpuBundle(outFile: string): Promise<number> {
  const r = await build({
    entryPoints: [join(ROOT, 'bench/gpu.ts')], bundle: true, format: 'esm', platform: 'node', target: 'node20',
    outfile: outFile, minify: true, legalComments: 'none', external: ['webgpu'], metafile: true, logLevel: 'warning',
    define: { 'process.env.NODE_ENV': '"production"' },
    // TF.js's ES-module builds (the CommonJS "main" of tfjs-backend-cpu is not in its sideEffects list and would be dropped).
    mainFields: ['module', 'main'],
    // tfjs-backend-wasm's Emscripten loader calls require() and reads __dirname: give an ES module both.
    banner: {
      js: "import { createRequire as __cr } from 'node:module'; import { fileURLToPath as __fp } from 'node:url'; import { dirname as __dn } from 'node:path'; const require = __cr(import.meta.url); const __filename = __fp(import.meta.url); const __dirname = __dn(__filename);",
    },
  });
  return Object.values(r.metafile.outputs)[0].bytes;
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  let out = join(ROOT, 'node_modules/.cache/bench-gpu/gpu.mjs');
  const at = argv.indexOf('--out');
  if (at >= 0) {
    out = resolve(argv[at + 1]);
    argv.splice(at, 2);
  }
  const buildOnly = argv.includes('--build-only');
  const bytes = await buildGpuBundle(out);
  process.stderr.write(`[bench:gpu] bundle ${out} (${(bytes / 1e6).toFixed(2)} MB)\n`);
  if (buildOnly) return;
  const run = spawnSync(process.execPath, [out, ...argv.filter((a) => a !== '--build-only')], { stdio: 'inherit' });
  process.exit(run.status ?? 1);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) void main();
