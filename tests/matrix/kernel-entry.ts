// The browser side of the fused-kernel checks: starts TF.js's webgpu backend, counts the device's work
// (src/engine/gpu-counters.ts) and exposes the checks of kernel-checks.ts to tests/e2e/fused-kernels.spec.ts as
// `window.__kernels`. Bundled at test time by browser-bundle.ts, never part of the product's build.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-webgpu';
import { instrumentDevice, type GpuCounter } from '../../src/engine/gpu-counters.ts';
import { KERNEL_CHECKS } from './kernel-checks.ts';

/** What the spec reads back from the page: plain data only. */
export interface KernelApi {
  /** Starts the webgpu backend; `backend` is what tf.getBackend() says afterwards. */
  init(): Promise<{ started: boolean; backend: string }>;
  /** Runs one check; resolves with what it measured, or the error's message (and stack) instead of rejecting. */
  run(name: string): Promise<{ ok: true; measured: string } | { ok: false; message: string; stack?: string }>;
}

let counter: GpuCounter | undefined;

const api: KernelApi = {
  async init() {
    const started = await tf.setBackend('webgpu');
    await tf.ready();
    if (tf.getBackend() === 'webgpu') counter ??= instrumentDevice((tf.backend() as unknown as { device: GPUDevice }).device);
    return { started, backend: tf.getBackend() };
  },
  async run(name) {
    const check = KERNEL_CHECKS.find((c) => c.name === name);
    if (!check) return { ok: false, message: `no check named "${name}"` };
    if (tf.getBackend() !== 'webgpu' || !counter) return { ok: false, message: `the backend is ${tf.getBackend()}, not webgpu` };
    try {
      return { ok: true, measured: await check.run({ counter }) };
    } catch (e) {
      const err = e instanceof Error ? e : new Error(String(e));
      return { ok: false, message: err.message, stack: err.stack };
    }
  },
};

(globalThis as unknown as { __kernels: KernelApi }).__kernels = api;
