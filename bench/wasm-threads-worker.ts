/**
 * The worker side of `npm run bench:wasm-threads`: in a dedicated module worker of a cross-origin isolated page (as
 * the trainer runs), starts TF.js's wasm backend with one build and thread count, trains the tiny preset (random
 * weights, seed 0) on a fixed batch and posts the tokens per second of the steps after the warm-up and the losses.
 * One worker per run: the wasm module, its build and its thread pool are fixed once it has started.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { initBackend } from '../src/engine/backend.ts';
import { Qwen3Model } from '../src/engine/model.ts';
import { presetConfig } from '../src/engine/config/model-config.ts';
import { parseTrainConfig } from '../src/engine/config/train-config.ts';
import { runJob } from '../src/engine/train.ts';
import { Rng } from '../src/engine/rng.ts';
import type { ExampleSource, TokenizedExample } from '../src/engine/types.ts';

export interface WasmThreadsRun {
  /** false: TF.js's non-threaded SIMD build (what a page that is not cross-origin isolated gets). */
  threaded: boolean;
  threads: number;
  batch: number;
  seq: number;
  warmup: number;
  steps: number;
}

export interface WasmThreadsResult {
  build: string;
  threads: number;
  tokensPerSecond: number;
  msPerStep: number;
  /** Loss of every logged step (logEvery 1), to compare builds: the same seed and batch give the same losses. */
  losses: number[];
  crossOriginIsolated: boolean;
}

function fixedSource(batch: number, seq: number, vocab: number): ExampleSource {
  const rng = new Rng(1);
  const ex: TokenizedExample[] = Array.from({ length: batch }, () => ({ ids: Int32Array.from({ length: seq }, () => rng.int(0, vocab - 1)), trainMask: new Uint8Array(seq).fill(1) }));
  return { size: ex.length, get: (i) => ex[i] };
}

self.onmessage = async (e: MessageEvent<WasmThreadsRun>) => {
  const r = e.data;
  try {
    if (!r.threaded) tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
    const chosen = await initBackend(['wasm'], { wasmPaths: '/tfjs-wasm/', wasmThreads: r.threads });
    const model = Qwen3Model.random(presetConfig('tiny'), 0);
    const config = parseTrainConfig({ batchSize: r.batch, gradAccumSteps: 1, maxLength: Math.max(16, r.seq), logEvery: 1, saveSteps: 0, evalSteps: 0, warmupSteps: 0, seed: 0 }, 'tiny');
    const total = r.warmup + r.steps;
    const losses: number[] = [];
    let t0 = performance.now();
    let t1 = t0;
    await runJob(
      { model, source: fixedSource(r.batch, r.seq, model.config.vocabSize), config, padTokenId: 0, steps: total, nonFiniteBaseline: new Map() },
      {
        beforeStep(s) {
          if (s.fileStep === r.warmup) t0 = performance.now();
          return 'continue';
        },
        onLog(m) {
          losses.push(m.loss);
          if (m.fileStep === total) t1 = performance.now();
        },
      },
    );
    const ms = (t1 - t0) / r.steps;
    const result: WasmThreadsResult = {
      build: chosen.wasm?.build ?? chosen.name,
      threads: chosen.wasm?.threads ?? 1,
      tokensPerSecond: (r.batch * r.seq) / (ms / 1000),
      msPerStep: ms,
      losses,
      crossOriginIsolated: self.crossOriginIsolated,
    };
    self.postMessage({ ok: true, result });
  } catch (err) {
    self.postMessage({ ok: false, error: (err as Error).message ?? String(err) });
  }
};
