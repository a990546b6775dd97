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
 * page and the validator worker), at least 2 where there are 2 cores (bench:wasm-threads on a 2-core machine: 2
 * threads train the tiny preset about 1.2× faster than 1, same losses), at most 4 (TF.js's own cap; the step's ops
 * are too small to feed more). 1 core, or an unknown count: 1. TF.js's default would be half the cores.
 */
export function wasmThreadCount(cores: number | undefined): number {
  const n = Number.isInteger(cores) && cores! > 0 ? cores! : 1;
  return Math.min(4, Math.max(Math.min(2, n), n - 1));
}
