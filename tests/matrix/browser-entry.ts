// The browser side of the backend matrix: registers TF.js's webgpu backend and exposes the core checks to the
// Playwright spec (tests/e2e/backend-matrix.spec.ts) as `window.__matrix`. Bundled at test time by browser-bundle.ts,
// never part of the product's build. Fixtures are fetched from `./fixtures/qwen3-reference/` next to this bundle.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-webgpu';
import type { FolderReader } from '../../src/engine/checkpoint.ts';
import { CORE_CHECKS } from './core-checks.ts';

/** What the spec reads back from the page: plain data only. */
export interface MatrixApi {
  /** Starts the webgpu backend; `backend` is what tf.getBackend() says afterwards. */
  init(): Promise<{ started: boolean; backend: string; adapter: string }>;
  names: string[];
  /** Runs one check; resolves with the error's message (and stack) instead of rejecting. */
  run(name: string): Promise<{ ok: true } | { ok: false; message: string; stack?: string }>;
}

// Not `new URL(..., import.meta.url)` inline: Vite would try to resolve that as an asset at build time.
const fixturesBase = new URL('fixtures/qwen3-reference/', location.href);

const fixtures: FolderReader = {
  async read(name) {
    const res = await fetch(new URL(name, fixturesBase));
    if (res.status === 404) return null;
    if (!res.ok) throw new Error(`fetching fixture ${name}: HTTP ${res.status}`);
    return new Uint8Array(await res.arrayBuffer());
  },
};

interface GpuAdapterLike {
  info?: { vendor?: string; architecture?: string; description?: string };
  isFallbackAdapter?: boolean;
}

const api: MatrixApi = {
  async init() {
    const gpu = (navigator as unknown as { gpu?: { requestAdapter(): Promise<GpuAdapterLike | null> } }).gpu;
    const adapter = gpu ? await gpu.requestAdapter() : null;
    const i = adapter?.info;
    const described = adapter ? `${[i?.vendor, i?.architecture, i?.description].filter(Boolean).join(' ') || 'unknown'}${adapter.isFallbackAdapter ? ' (fallback)' : ''}` : 'none';
    const started = await tf.setBackend('webgpu');
    await tf.ready();
    return { started, backend: tf.getBackend(), adapter: described };
  },
  names: CORE_CHECKS.map((c) => c.name),
  async run(name) {
    const check = CORE_CHECKS.find((c) => c.name === name);
    if (!check) return { ok: false, message: `no check named "${name}"` };
    if (tf.getBackend() !== 'webgpu') return { ok: false, message: `the backend is ${tf.getBackend()}, not webgpu` };
    try {
      await check.run({ fixtures });
      return { ok: true };
    } catch (e) {
      const err = e instanceof Error ? e : new Error(String(e));
      return { ok: false, message: err.message, stack: err.stack };
    }
  },
};

(globalThis as unknown as { __matrix: MatrixApi }).__matrix = api;
