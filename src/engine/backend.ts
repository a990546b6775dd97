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
  /** On wasm: which of TF.js's three binaries runs and with how many XNNPACK threads. */
  wasm?: WasmBuild;
}

/**
 * TF.js ships three wasm binaries and picks one at init: threaded SIMD where SharedArrayBuffer exists (a
 * cross-origin isolated page or worker) and SIMD validates, else SIMD, else plain.
 */
export interface WasmBuild {
  build: 'threaded-simd' | 'simd' | 'plain';
  /** XNNPACK's thread pool size (the calling thread included); 1 on the non-threaded builds. */
  threads: number;
}

/** `wasm · threaded SIMD · 2 threads` — what the header shows. */
export function describeWasmBuild(w: WasmBuild): string {
  const build = w.build === 'threaded-simd' ? 'threaded SIMD' : w.build === 'simd' ? 'SIMD' : 'no SIMD';
  return `wasm · ${build} · ${w.threads} thread${w.threads === 1 ? '' : 's'}`;
}

export interface InitBackendOptions {
  /** Per-backend init limit (default 20 s). */
  timeoutMs?: number;
  /** Folder (URL or path, ending in '/') holding the tfjs-backend-wasm .wasm files. */
  wasmPaths?: string;
  /** Use WebGPU even on a software (fallback) adapter such as SwiftShader; default false. */
  allowFallbackAdapter?: boolean;
  /** XNNPACK threads for the threaded wasm build (TF.js's own default: half the cores, at most 4). */
  wasmThreads?: number;
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
    if (opts.wasmThreads !== undefined) wasm.setThreadsCount(opts.wasmThreads);
  }
}

/**
 * TF.js 4.22's threaded build caps setThreadsCount at half of navigator.hardwareConcurrency (backend.cc's
 * init_with_threads_count; tensorflow/tfjs#6081, #8513), read when the module instantiates: one thread on a 2-core
 * machine whatever is asked. While the backend starts, the worker's navigator reports twice the count asked for, so
 * XNNPACK's pool gets exactly that count (at most 8, the workers TF.js spawns up front); restored right after.
 */
async function withCoresFor<T>(threads: number, run: () => Promise<T>): Promise<T> {
  const nav = (globalThis as { navigator?: object }).navigator;
  if (!nav) return run();
  const own = Object.getOwnPropertyDescriptor(nav, 'hardwareConcurrency');
  Object.defineProperty(nav, 'hardwareConcurrency', { value: Math.max(1, Math.round(threads)) * 2, configurable: true });
  try {
    return await run();
  } finally {
    if (own) Object.defineProperty(nav, 'hardwareConcurrency', own);
    else delete (nav as { hardwareConcurrency?: number }).hardwareConcurrency;
  }
}

/** The wasm binary TF.js chose (its own feature flags decide it) and the thread count XNNPACK really got. */
async function wasmBuild(): Promise<WasmBuild> {
  const wasm = await import('@tensorflow/tfjs-backend-wasm');
  const [simd, threaded] = await Promise.all([tf.env().getAsync('WASM_HAS_SIMD_SUPPORT'), tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT')]);
  const build = simd && threaded ? 'threaded-simd' : simd ? 'simd' : 'plain';
  return { build, threads: build === 'threaded-simd' ? wasm.getThreadsCount() : 1 };
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
      const start = () => withTimeout(tf.setBackend(name), timeoutMs, `the ${name} backend`);
      const ok = name === 'wasm' && opts.wasmThreads !== undefined ? await withCoresFor(opts.wasmThreads, start) : await start();
      await tf.ready();
      if (!ok || tf.getBackend() !== name) {
        skipped.push(`${name}: did not start (got ${tf.getBackend() ?? 'none'})`);
        continue;
      }
      const reason = skipped.length ? `${name} (passed over ${skipped.join('; ')})` : `${name}: first choice`;
      if (name === 'wasm') return { name, reason, wasm: await wasmBuild() };
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
