/**
 * The trainer's TF.js backend preference chain: the person's choice (`?backend=` or the setting) first, then wasm
 * and cpu; automatic = WebGPU first (the engine passes over a software fallback adapter), then wasm, cpu. And how
 * many threads the threaded wasm build gets.
 */
import { BACKEND_NAMES, type BackendName } from '../engine/backend.ts';

export function backendChain(choice: string | null | undefined): BackendName[] {
  const pick = choice && (BACKEND_NAMES as readonly string[]).includes(choice) ? (choice as BackendName) : null;
  return [...new Set<BackendName>(pick ? [pick, 'wasm', 'cpu'] : ['webgpu', 'wasm', 'cpu'])];
}

/**
 * XNNPACK threads for the threaded wasm build from navigator.hardwareConcurrency: every core but one (left to the
 * page, the validator worker and the browser), at least 1, at most 4 (TF.js's own cap: a step's ops are too small
 * to feed more). TF.js alone would take half the cores. On this shared 2-core machine bench:wasm-threads found 2
 * threads sometimes faster, sometimes slower than 1 (other processes stall a thread the pool waits for), so 2
 * cores get 1.
 */
export function wasmThreadCount(cores: number | undefined): number {
  const n = Number.isInteger(cores) && cores! > 0 ? cores! : 1;
  return Math.min(4, Math.max(1, n - 1));
}
