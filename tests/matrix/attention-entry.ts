// The browser side of the fused-attention checks: starts TF.js's webgpu backend and exposes the checks of
// attention-checks.ts to tests/e2e/attention-kernel.spec.ts as `window.__attention`. Bundled at test time by
// browser-bundle.ts (page attention.html), never part of the product's build.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-webgpu';
import { ATTENTION_CHECKS } from './attention-checks.ts';

/** What the spec reads back from the page: plain data only. */
export interface AttentionApi {
  /** Starts the webgpu backend; `backend` is what tf.getBackend() says afterwards. */
  init(): Promise<{ started: boolean; backend: string }>;
  /** Runs one check; resolves with what it measured, or the error's message (and stack) instead of rejecting. */
  run(name: string): Promise<{ ok: true; measured: string } | { ok: false; message: string; stack?: string }>;
}

const api: AttentionApi = {
  async init() {
    const started = await tf.setBackend('webgpu');
    await tf.ready();
    return { started, backend: tf.getBackend() };
  },
  async run(name) {
    const check = ATTENTION_CHECKS.find((c) => c.name === name);
    if (!check) return { ok: false, message: `no check named "${name}"` };
    if (tf.getBackend() !== 'webgpu') return { ok: false, message: `the backend is ${tf.getBackend()}, not webgpu` };
    try {
      return { ok: true, measured: await check.run() };
    } catch (e) {
      const err = e instanceof Error ? e : new Error(String(e));
      return { ok: false, message: err.message, stack: err.stack };
    }
  },
};

(globalThis as unknown as { __attention: AttentionApi }).__attention = api;
