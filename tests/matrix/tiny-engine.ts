// Shared helpers of the engine tests: tiny model and training configs, a synthetic tokenized source, and exact
// (byte-level) reads of parameters and optimizer state. Engine modules and tfjs-core only, so Node tests and the
// browser run of the backend matrix use the same code.
import * as tf from '@tensorflow/tfjs-core';
import { parseTrainConfig, type TrainConfig } from '../../src/engine/config/train-config.ts';
import type { AdamW } from '../../src/engine/optimizer.ts';
import { Rng } from '../../src/engine/rng.ts';
import type { ExampleSource, ModelConfig, TokenizedExample } from '../../src/engine/types.ts';

/** A tiny config with a small vocabulary for fast tests (vocab 40, hidden 16, 2 layers, 4/2 heads of 4). */
export const testConfig = (over: Partial<ModelConfig> = {}): ModelConfig => ({
  modelType: 'qwen3', vocabSize: 40, hiddenSize: 16, intermediateSize: 24, numHiddenLayers: 2, numAttentionHeads: 4,
  numKeyValueHeads: 2, headDim: 4, rmsNormEps: 1e-6, ropeTheta: 10000, tieWordEmbeddings: true,
  maxPositionEmbeddings: 128, torchDtype: 'float32', ...over,
});

/** Token id that pads rows in the synthetic data (never drawn as a real token). */
export const PAD = 0;

/** A tiny training config: short rows, two examples per micro-batch, a read every step, no evals or saves. */
export const tinyTrainConfig = (over: Record<string, unknown> = {}): TrainConfig =>
  parseTrainConfig(
    { batchSize: 2, maxLength: 16, learningRate: 1e-2, warmupSteps: 0, weightDecay: 0.1, lmHeadChunkTokens: 16, logEvery: 1, saveSteps: 0, evalSteps: 0, ...over },
    'tiny',
  );

export interface SourceOptions {
  /** Token ids are drawn from [1, vocab - 2] (vocab - 1 is left free, e.g. for a poisoned token). */
  vocab: number;
  /** Length of example i is len - (i % 3). */
  len?: number;
  /** Leading tokens that are read but not trained (the "prompt"). */
  promptLen?: number;
}

/** n examples: a prompt (not trained) then an answer, all from a seeded generator. */
export function syntheticExamples(n: number, seed: number, o: SourceOptions): TokenizedExample[] {
  const rng = new Rng(seed);
  const len = o.len ?? 12, promptLen = o.promptLen ?? 4;
  return Array.from({ length: n }, (_, i) => {
    const l = len - (i % 3);
    return {
      ids: Int32Array.from({ length: l }, () => rng.int(1, o.vocab - 2)),
      trainMask: Uint8Array.from({ length: l }, (_, t) => (t >= promptLen ? 1 : 0)),
    };
  });
}

export const sourceOf = (examples: readonly TokenizedExample[]): ExampleSource => ({ size: examples.length, get: (i) => examples[i] });

/** A copy of a tensor's values as bytes (a backend may hand out a view of its own memory). */
export async function bytesOf(t: tf.Tensor): Promise<Uint8Array> {
  const d = await t.data();
  return new Uint8Array(new Float32Array(d as Float32Array).buffer);
}

/** Every tensor of a map, as bytes. */
export async function bytesOfAll(params: ReadonlyMap<string, tf.Tensor>): Promise<Map<string, Uint8Array>> {
  const out = new Map<string, Uint8Array>();
  for (const [k, v] of params) out.set(k, await bytesOf(v));
  return out;
}

/** Parameters, optimizer moments and the optimizer's step count, as bytes: what a skipped step must not change. */
export interface TrainingBytes {
  params: Map<string, Uint8Array>;
  slots: Map<string, Uint8Array>;
  optimizerStep: number;
}

export async function trainingBytes(params: ReadonlyMap<string, tf.Tensor>, optimizer: AdamW): Promise<TrainingBytes> {
  const state = await optimizer.exportState();
  const slots = new Map(state.slots.map((s) => [s.name, new Uint8Array(new Float32Array(s.data).buffer)]));
  return { params: await bytesOfAll(params), slots, optimizerStep: state.step };
}

/** Where two byte maps first differ, as one phrase per differing tensor (at most `limit`); empty when identical. */
export function byteDifferences(what: string, a: ReadonlyMap<string, Uint8Array>, b: ReadonlyMap<string, Uint8Array>, limit = 3): string[] {
  const out: string[] = [];
  for (const name of new Set([...a.keys(), ...b.keys()])) {
    const x = a.get(name), y = b.get(name);
    if (!x || !y) out.push(`${what} ${name} ${x ? 'disappeared' : 'appeared'}`);
    else if (x.length !== y.length) out.push(`${what} ${name} changed size ${x.length / 4} → ${y.length / 4}`);
    else {
      const fx = new Float32Array(x.buffer, x.byteOffset, x.length / 4), fy = new Float32Array(y.buffer, y.byteOffset, y.length / 4);
      const ux = new Uint32Array(x.buffer, x.byteOffset, x.length / 4), uy = new Uint32Array(y.buffer, y.byteOffset, y.length / 4);
      let n = 0, first = -1;
      for (let i = 0; i < ux.length; i++) if (ux[i] !== uy[i]) (n++, first < 0 && (first = i));
      if (n > 0) out.push(`${what} ${name}: ${n} of ${ux.length} values differ (first [${first}]: ${fx[first]} → ${fy[first]})`);
    }
    if (out.length >= limit) break;
  }
  return out;
}

/** Largest |a − b| and where. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): { max: number; at: number } {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let max = 0, at = -1;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (Number.isNaN(d)) return { max: NaN, at: i };
    if (d > max) (max = d), (at = i);
  }
  return { max, at };
}

/** tf.memory()'s tensor count and bytes. */
export interface MemoryCounts {
  numTensors: number;
  numBytes: number;
}
export const memoryCounts = (): MemoryCounts => ({ numTensors: tf.memory().numTensors, numBytes: tf.memory().numBytes });
export const showCounts = (m: MemoryCounts) => `${m.numTensors} tensors / ${m.numBytes} bytes`;
