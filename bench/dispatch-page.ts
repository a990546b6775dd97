/**
 * The browser side of `npm run bench:dispatch`: trains a Qwen3 model of the 0.6B width on TF.js's webgpu backend with
 * the device wrapped by gpu-counters.ts, and reports what one steady-state training step asks of the device.
 * Bundled and served by bench/page-server.ts; driven by bench/dispatch.ts as `window.__dispatch`.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-webgpu';
import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import { instrumentDevice, type GpuCounter, type GpuCounts } from '../src/engine/gpu-counters.ts';
import { Qwen3Model } from '../src/engine/model.ts';
import { presetConfig } from '../src/engine/config/model-config.ts';
import { parseTrainConfig } from '../src/engine/config/train-config.ts';
import { runJob } from '../src/engine/train.ts';
import { fusedKernelsActive } from '../src/engine/kernels/switch.ts';
import { Rng } from '../src/engine/rng.ts';
import type { ExampleSource, TokenizedExample } from '../src/engine/types.ts';

export interface DispatchRun {
  layers: number;
  vocab: number;
  fused: boolean;
  batch: number;
  seq: number;
  /** Steps before the measured window (the first compiles the shaders). */
  warmup: number;
  /** Steps measured; the metrics are read once, at the window's end (logEvery = steps). */
  steps: number;
  gradientCheckpointing: boolean;
  seed: number;
}

export interface DispatchResult {
  /** Totals over the measured window. */
  counts: GpuCounts;
  /** Compute pipelines created during the warm-up and during the window (shader compilations). */
  pipelinesWarmup: number;
  pipelinesWindow: number;
  /** Loss of the first step (initial weights) and of the window's last step. */
  lossFirst: number;
  lossLast: number;
  /** Whether the fused kernels were active during the run (the switch says so on webgpu with fusedKernels on). */
  fusedActive: boolean;
  msPerStep: number;
  warmupMs: number;
}

export interface DispatchApi {
  init(): Promise<{ backend: string; adapter: string }>;
  run(r: DispatchRun): Promise<DispatchResult>;
}

let counter: GpuCounter | undefined;
let pipelines = 0;

/** Counts compute pipelines created (each is a shader compilation in TF.js's webgpu backend). */
function countPipelines(device: GPUDevice): void {
  const sync = device.createComputePipeline.bind(device);
  const async = device.createComputePipelineAsync.bind(device);
  device.createComputePipeline = (d: GPUComputePipelineDescriptor) => (pipelines++, sync(d));
  device.createComputePipelineAsync = (d: GPUComputePipelineDescriptor) => (pipelines++, async(d));
}

/** `batch` random sequences of `seq` tokens, every token after the first a target: the same for every run of a seed. */
function randomSource(batch: number, seq: number, vocab: number, seed: number): ExampleSource {
  const rng = new Rng(seed);
  const ex: TokenizedExample[] = Array.from({ length: batch }, () => ({
    ids: Int32Array.from({ length: seq }, () => rng.int(0, vocab - 1)),
    trainMask: new Uint8Array(seq).fill(1),
  }));
  return { size: ex.length, get: (i) => ex[i] };
}

const api: DispatchApi = {
  async init() {
    const gpu = (navigator as Navigator & { gpu?: GPU }).gpu;
    const adapter = (gpu ? await gpu.requestAdapter() : null) as (GPUAdapter & { info?: GPUAdapterInfo; isFallbackAdapter?: boolean }) | null;
    const i = adapter?.info;
    const described = adapter ? `${[i?.vendor, i?.architecture, i?.description].filter(Boolean).join(' ') || 'unknown'}${adapter.isFallbackAdapter ? ' (fallback)' : ''}` : 'none';
    await tf.setBackend('webgpu');
    await tf.ready();
    if (tf.getBackend() === 'webgpu') {
      const device = (tf.backend() as WebGPUBackend).device;
      counter = instrumentDevice(device);
      countPipelines(device);
    }
    return { backend: tf.getBackend(), adapter: described };
  },

  async run(r) {
    if (!counter) throw new Error('init() first (on webgpu)');
    const c = counter;
    const mc = { ...presetConfig('qwen3-0.6b'), numHiddenLayers: r.layers, vocabSize: r.vocab };
    const tm = performance.now();
    const model = Qwen3Model.random(mc, r.seed);
    console.log(`[dispatch] random weights in ${((performance.now() - tm) / 1000).toFixed(1)} s`);
    const total = r.warmup + r.steps;
    const config = parseTrainConfig(
      {
        batchSize: r.batch, gradAccumSteps: 1, maxLength: Math.max(16, r.seq), fusedKernels: r.fused, gradientCheckpointing: r.gradientCheckpointing,
        logEvery: r.steps, saveSteps: 0, evalSteps: 0, warmupSteps: 0, seed: r.seed,
      },
      'qwen3-0.6b',
    );
    let counts: GpuCounts | undefined;
    let lossFirst = NaN, lossLast = NaN, fusedActive = false;
    let p0 = pipelines, pipelinesWarmup = 0, pipelinesWindow = 0;
    const t0 = performance.now();
    let tWindow = t0, tEnd = t0;
    const result = await runJob(
      { model, source: randomSource(r.batch, r.seq, r.vocab, r.seed), config, padTokenId: 0, steps: total, nonFiniteBaseline: new Map() },
      {
        beforeStep(s) {
          if (s.fileStep === r.warmup) {
            pipelinesWarmup = pipelines - p0;
            p0 = pipelines;
            c.reset();
            tWindow = performance.now();
          }
          return 'continue';
        },
        onStep(m) {
          fusedActive = fusedKernelsActive();
          console.log(`[dispatch] ${r.fused ? 'fused' : 'composed'} ${r.layers} layer(s): step ${m.fileStep}/${total} enqueued at ${((performance.now() - t0) / 1000).toFixed(1)} s${m.loss !== null ? ` (loss ${m.loss.toFixed(4)})` : ''}`);
          if (m.fileStep === total) {
            counts = c.counts(); // the window's last step has read the metrics (a log step) before onStep
            pipelinesWindow = pipelines - p0;
            tEnd = performance.now();
          }
        },
        onLog(m) {
          if (m.fileStep === 1) lossFirst = m.loss;
          if (m.fileStep === total) lossLast = m.loss;
        },
      },
    );
    result.optimizer.dispose();
    model.dispose();
    if (!counts) throw new Error('the measured window did not finish');
    return { counts, pipelinesWarmup, pipelinesWindow, lossFirst, lossLast, fusedActive, msPerStep: (tEnd - tWindow) / r.steps, warmupMs: tWindow - t0 };
  },
};

(globalThis as unknown as { __dispatch: DispatchApi }).__dispatch = api;
