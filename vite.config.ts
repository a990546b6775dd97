// Vite config for the workbench: Svelte 5, ES-module workers, cross-origin isolation (COOP/COEP, needed by
// wasm threads and OPFS sync handles) on the dev and preview servers, and TF.js's wasm binaries served at /tfjs-wasm/.
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createRequire } from 'node:module';
import { defineConfig, type Plugin, type Connect } from 'vite';
import { svelte } from '@sveltejs/vite-plugin-svelte';
import { workbenchPwa } from './pwa.config.ts';

const require = createRequire(import.meta.url);
/** Folder of @tensorflow/tfjs-backend-wasm's *.wasm files; the trainer worker calls setWasmPaths(TFJS_WASM_PATH). */
const WASM_DIR = join(dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist');
const WASM_URL = '/tfjs-wasm/';

const isolationHeaders = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'Cross-Origin-Resource-Policy': 'same-origin',
};

/** Serves the wasm binaries in dev and copies them into the build (so `vite preview` serves them from dist). */
function tfjsWasm(): Plugin {
  const files = readdirSync(WASM_DIR).filter((f) => f.endsWith('.wasm'));
  const serve: Connect.NextHandleFunction = (req, res, next) => {
    const name = req.url?.startsWith(WASM_URL) ? req.url.slice(WASM_URL.length).split('?')[0] : undefined;
    if (!name || !files.includes(name)) return next();
    res.setHeader('Content-Type', 'application/wasm');
    for (const [k, v] of Object.entries(isolationHeaders)) res.setHeader(k, v);
    res.end(readFileSync(join(WASM_DIR, name)));
  };
  return {
    name: 'workbench:tfjs-wasm',
    configureServer(server) {
      server.middlewares.use(serve);
    },
    generateBundle() {
      for (const f of files) this.emitFile({ type: 'asset', fileName: `tfjs-wasm/${f}`, source: readFileSync(join(WASM_DIR, f)) });
    },
  };
}

export default defineConfig({
  // 'mpa': a missing file is a 404, not index.html (model folders probe optional files such as model.safetensors.index.json).
  appType: 'mpa',
  // workbenchPwa: the offline service worker and the web manifest (pwa.config.ts; issue 16).
  plugins: [svelte(), tfjsWasm(), workbenchPwa()],
  server: { headers: isolationHeaders },
  preview: { headers: isolationHeaders },
  worker: { format: 'es' },
  // WORKBENCH_OUT_DIR: build into (and preview from) another folder, so a second checkout's or agent's test run does
  // not rebuild the dist/ a running suite serves.
  build: { target: 'es2022', chunkSizeWarningLimit: 4096, outDir: process.env.WORKBENCH_OUT_DIR ?? 'dist' },
  optimizeDeps: { exclude: ['@tensorflow/tfjs-backend-wasm'] },
});
