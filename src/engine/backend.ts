/**
 * Chooses and starts the TensorFlow.js backend from a preference chain (webgpu → webgl → wasm → cpu),
 * checking what tf.getBackend() really is (setBackend('webgpu') can silently fall back) and time-limiting
 * each init. Browser and Node; Node callers pass wasmPaths from backend-node.ts.
 */
import * as tf from '@tensorflow/tfjs-core';

export type BackendName = 'webgpu' | 'webgl' | 'wasm' | 'cpu';
export const BACKEND_NAMES: readonly BackendName[] = ['webgpu', 'webgl', 'wasm', 'cpu'];

/** What a WebGPU adapter says about itself (GPUAdapterInfo plus isFallbackAdapter). */
export interface GpuAdapterSummary {
  vendor?: string;
  architecture?: string;
  device?: string;
  description?: string;
  isFallbackAdapter?: boolean;
}

export interface BackendChoice {
  name: BackendName;
  /** Why this one, including why earlier ones in the chain were passed over. */
  reason: string;
  adapterInfo?: GpuAdapterSummary;
}

export interface InitBackendOptions {
  /** Per-backend init limit (default 20 s). */
  timeoutMs?: number;
  /** Folder (URL or path, ending in '/') holding the tfjs-backend-wasm .wasm files. */
  wasmPaths?: string;
  /** Use WebGPU even on a software (fallback) adapter such as SwiftShader; default false. */
  allowFallbackAdapter?: boolean;
}

/**
 * Which backend a WebGPU adapter deserves: none → 'wasm'; a fallback (software, e.g. SwiftShader)
 * adapter → 'wasm' (measured ~50x faster here); a real GPU → 'webgpu'.
 */
export function backendForAdapter(info: GpuAdapterSummary | null): { backend: BackendName; reason: string } {
  if (!info) return { backend: 'wasm', reason: 'no WebGPU adapter' };
  if (info.isFallbackAdapter) return { backend: 'wasm', reason: `WebGPU adapter is a software fallback (${describe(info)}); wasm is faster` };
  return { backend: 'webgpu', reason: `WebGPU adapter ${describe(info)}` };
}

const describe = (i: GpuAdapterSummary) => [i.vendor, i.architecture, i.device, i.description].filter(Boolean).join(' ') || 'unknown';

interface GpuLike {
  requestAdapter(): Promise<{ info?: Omit<GpuAdapterSummary, 'isFallbackAdapter'>; isFallbackAdapter?: boolean } | null>;
}

/** The WebGPU adapter's summary, or null when there is no navigator.gpu or no adapter. */
export async function probeWebGpu(): Promise<GpuAdapterSummary | null> {
  const gpu = (globalThis as { navigator?: { gpu?: GpuLike } }).navigator?.gpu;
  if (!gpu) return null;
  const adapter = await gpu.requestAdapter();
  if (!adapter) return null;
  const i = adapter.info ?? {};
  return { vendor: i.vendor, architecture: i.architecture, device: i.device, description: i.description, isFallbackAdapter: adapter.isFallbackAdapter ?? (i as GpuAdapterSummary).isFallbackAdapter ?? false };
}

async function register(name: BackendName, opts: InitBackendOptions): Promise<void> {
  if (name === 'cpu') await import('@tensorflow/tfjs-backend-cpu');
  else if (name === 'webgl') await import('@tensorflow/tfjs-backend-webgl');
  else if (name === 'webgpu') await import('@tensorflow/tfjs-backend-webgpu');
  else {
    const wasm = await import('@tensorflow/tfjs-backend-wasm');
    if (opts.wasmPaths) wasm.setWasmPaths(opts.wasmPaths);
  }
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not start within ${ms} ms`)), ms);
  });
  return Promise.race([p, limit]).finally(() => clearTimeout(timer));
}

/** Tries the chain in order and returns the first backend that really runs. Throws when none does. */
export async function initBackend(preferred: readonly BackendName[], opts: InitBackendOptions = {}): Promise<BackendChoice> {
  const timeoutMs = opts.timeoutMs ?? 20_000;
  const skipped: string[] = [];
  for (const name of preferred) {
    if (!BACKEND_NAMES.includes(name)) throw new Error(`unknown backend "${name}"; expected one of: ${BACKEND_NAMES.join(', ')}`);
    let adapterInfo: GpuAdapterSummary | undefined;
    try {
      if (name === 'webgpu') {
        const info = await withTimeout(probeWebGpu(), timeoutMs, 'WebGPU adapter request');
        const verdict = backendForAdapter(info);
        if (verdict.backend !== 'webgpu' && !(info && opts.allowFallbackAdapter)) {
          skipped.push(`webgpu: ${verdict.reason}`);
          continue;
        }
        adapterInfo = info ?? undefined;
      }
      await withTimeout(register(name, opts), timeoutMs, `loading the ${name} backend`);
      const ok = await withTimeout(tf.setBackend(name), timeoutMs, `the ${name} backend`);
      await tf.ready();
      if (!ok || tf.getBackend() !== name) {
        skipped.push(`${name}: did not start (got ${tf.getBackend() ?? 'none'})`);
        continue;
      }
      const reason = skipped.length ? `${name} (passed over ${skipped.join('; ')})` : `${name}: first choice`;
      return adapterInfo ? { name, reason, adapterInfo } : { name, reason };
    } catch (e) {
      skipped.push(`${name}: ${(e as Error).message}`);
      // A timed-out init that finishes later must not take over: removing the backend makes TF.js ignore it.
      if (tf.findBackendFactory(name)) {
        try {
          tf.removeBackend(name);
        } catch {
          /* already gone */
        }
      }
    }
  }
  throw new Error(`no TensorFlow.js backend started: ${skipped.join('; ') || 'empty preference list'}`);
}
