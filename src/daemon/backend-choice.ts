/**
 * The trainer's TF.js backend preference chain: the person's choice (`?backend=` or the setting) first, then wasm
 * and cpu; automatic = WebGPU first (the engine passes over a software fallback adapter), then wasm, cpu.
 */
import { BACKEND_NAMES, type BackendName } from '../engine/backend.ts';

export function backendChain(choice: string | null | undefined): BackendName[] {
  const pick = choice && (BACKEND_NAMES as readonly string[]).includes(choice) ? (choice as BackendName) : null;
  return [...new Set<BackendName>(pick ? [pick, 'wasm', 'cpu'] : ['webgpu', 'wasm', 'cpu'])];
}
