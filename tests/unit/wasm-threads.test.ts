// The threaded wasm build's thread count from the cores, and how the header names the build.
import { describe, expect, it } from 'vitest';
import { wasmThreadCount } from '../../src/daemon/backend-choice.ts';
import { describeWasmBuild } from '../../src/engine/backend.ts';

describe('wasm threads', () => {
  it('uses every core but one, at least 1, at most 4, 1 when unknown', () => {
    expect([1, 2, 3, 4, 5, 8, 64].map(wasmThreadCount)).toEqual([1, 1, 2, 3, 4, 4, 4]);
    expect(wasmThreadCount(undefined)).toBe(1);
    expect(wasmThreadCount(0)).toBe(1);
    expect(wasmThreadCount(2.5)).toBe(1);
  });

  it('names the build and the threads', () => {
    expect(describeWasmBuild({ build: 'threaded-simd', threads: 2 })).toBe('wasm · threaded SIMD · 2 threads');
    expect(describeWasmBuild({ build: 'simd', threads: 1 })).toBe('wasm · SIMD · 1 thread');
    expect(describeWasmBuild({ build: 'plain', threads: 1 })).toBe('wasm · no SIMD · 1 thread');
  });
});
