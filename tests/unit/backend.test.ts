// Backend choice: the chain falls through to what really starts, the reason says why, and a software
// WebGPU adapter is passed over for wasm.
import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { backendForAdapter, initBackend, probeWebGpu } from '../../src/engine/backend.ts';
import { initNodeBackend, nodeWasmPaths } from '../../src/engine/backend-node.ts';
import { existsSync } from 'node:fs';

describe('backend', () => {
  it('finds the wasm binaries in Node', () => {
    expect(existsSync(nodeWasmPaths() + 'tfjs-backend-wasm-simd.wasm')).toBe(true);
  });

  it('falls through webgpu and webgl (absent in Node) to wasm and says why', async () => {
    const got = await initNodeBackend(['webgpu', 'webgl', 'wasm', 'cpu']);
    expect(got.name).toBe('wasm');
    expect(tf.getBackend()).toBe('wasm');
    expect(got.reason).toMatch(/webgpu: no WebGPU adapter/);
    expect(got.reason).toMatch(/webgl: /);
    expect(tf.tidy(() => tf.matMul(tf.ones([2, 3]), tf.ones([3, 2])).dataSync()[0])).toBe(3);
  });

  it('switches to cpu when asked and rejects unknown names and empty chains', async () => {
    expect((await initNodeBackend(['cpu'])).name).toBe('cpu');
    expect(tf.getBackend()).toBe('cpu');
    await expect(initBackend(['tpu' as never])).rejects.toThrow(/unknown backend "tpu"; expected one of: webgpu, webgl, wasm, cpu/);
    await expect(initBackend([])).rejects.toThrow(/no TensorFlow.js backend started/);
  });

  it('time-limits a backend whose init hangs and keeps it from taking over later', async () => {
    let finish: (b: tf.KernelBackend) => void = () => {};
    const hanging = new Promise<tf.KernelBackend>((resolve) => (finish = resolve));
    if (tf.findBackendFactory('webgl')) tf.removeBackend('webgl');
    tf.registerBackend('webgl', () => hanging, 100);
    const got = await initBackend(['webgl', 'cpu'], { timeoutMs: 200 });
    expect(got.name).toBe('cpu');
    expect(got.reason).toMatch(/webgl: the webgl backend did not start within 200 ms/);
    expect(tf.findBackendFactory('webgl')).toBeNull();
    const { MathBackendCPU } = await import('@tensorflow/tfjs-backend-cpu');
    finish(new MathBackendCPU()); // the late init resolves: cpu must stay in charge
    await new Promise((r) => setTimeout(r, 10));
    expect(tf.getBackend()).toBe('cpu');
    expect(tf.engine().backend).toBe(tf.findBackend('cpu'));
  });

  it('sends software (fallback) WebGPU adapters to wasm and real GPUs to webgpu', async () => {
    expect(backendForAdapter(null).backend).toBe('wasm');
    expect(backendForAdapter({ vendor: 'google', architecture: 'swiftshader', isFallbackAdapter: true })).toEqual({
      backend: 'wasm', reason: 'WebGPU adapter is a software fallback (google swiftshader); wasm is faster',
    });
    expect(backendForAdapter({ vendor: 'nvidia', architecture: 'ada', isFallbackAdapter: false }).backend).toBe('webgpu');
    // a page's navigator.gpu with a SwiftShader adapter, as Chromium reports it
    const nav = { gpu: { requestAdapter: async () => ({ isFallbackAdapter: true, info: { vendor: 'google', architecture: 'swiftshader', device: '', description: '' } }) } };
    const original = Object.getOwnPropertyDescriptor(globalThis, 'navigator');
    Object.defineProperty(globalThis, 'navigator', { value: nav, configurable: true });
    try {
      expect(await probeWebGpu()).toMatchObject({ vendor: 'google', isFallbackAdapter: true });
      const got = await initNodeBackend(['webgpu', 'wasm']);
      expect(got.name).toBe('wasm');
      expect(got.reason).toMatch(/software fallback/);
    } finally {
      if (original) Object.defineProperty(globalThis, 'navigator', original);
      else delete (globalThis as { navigator?: unknown }).navigator;
    }
  });
});
