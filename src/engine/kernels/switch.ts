/**
 * Whether the model and the optimizer run their fused WebGPU kernels (RMSNorm, attention, SwiGLU, AdamW) or TF.js's
 * op-by-op composition. Fused kernels exist on the `webgpu` backend only; every other backend always composes, and the
 * composition is the reference the kernels are tested against. The trainer sets it from `TrainConfig.fusedKernels`.
 */
import * as tf from '@tensorflow/tfjs-core';

let enabled = true;

/** Turns the fused kernels on or off (they still apply on webgpu only). */
export function setFusedKernels(on: boolean): void {
  enabled = on;
}

/** True when the fused kernels are on and the backend is webgpu. */
export function fusedKernelsActive(): boolean {
  return enabled && tf.getBackend() === 'webgpu';
}
