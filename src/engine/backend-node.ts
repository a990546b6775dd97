/** Node-only backend helpers (imports node:path): where the wasm binaries live, and a ready-made init. */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { initBackend, type BackendChoice, type BackendName } from './backend.ts';

/** The folder (ending in '/') of @tensorflow/tfjs-backend-wasm's .wasm files. */
export function nodeWasmPaths(): string {
  const require = createRequire(import.meta.url);
  const pkg = require.resolve('@tensorflow/tfjs-backend-wasm/package.json');
  return join(dirname(pkg), 'dist') + '/';
}

/** initBackend with the wasm paths set for Node; default chain wasm → cpu. */
export function initNodeBackend(preferred: readonly BackendName[] = ['wasm', 'cpu'], timeoutMs = 30_000): Promise<BackendChoice> {
  return initBackend(preferred, { timeoutMs, wasmPaths: nodeWasmPaths() });
}
