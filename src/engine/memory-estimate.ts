/**
 * Estimates the accelerator memory a training config needs (weights, gradients, optimizer state,
 * activations, LM-head chunk, a step's transients) and checks it against what an adapter allows, with
 * advice on what to change. TF.js trains in float32 and keeps every intermediate of the forward pass
 * and its gradient while a step runs (unless gradient checkpointing is on), so activations dominate at long
 * sequence lengths. The wasm backend's extra needs (packed weight copies, a 4 GiB heap) are in capacity.ts.
 *
 * Calibrated against tf.profile's peak of live tensor bytes (bench/wasm-capacity.ts --train, Qwen3-0.6B's width,
 * 2 layers, batch 1, 2026-12): one layer's activations grow by 0.40 GB per 256 tokens (256 → 512), 5.7× the
 * count of what backprop strictly needs (perTokenPerLayer and the scores below), hence ACTIVATION_LIVE_FACTOR.
 */
import type { ModelConfig } from './types.ts';

/** The parts of a training config that decide memory. */
export interface MemoryRelevantConfig {
  batchSize: number;
  maxLength: number;
  /** Tokens per LM-head chunk (logits are never materialised for more at once). */
  lmHeadChunkTokens?: number;
  lora?: { enabled: boolean; rank: number; targetModules: readonly string[] };
  /** Only each layer's input is kept; one layer's activations exist at a time during backprop. */
  gradientCheckpointing?: boolean;
}

export interface MemoryEstimate {
  parameters: number;
  trainableParameters: number;
  weightsBytes: number;
  gradientsBytes: number;
  optimizerBytes: number;
  activationsBytes: number;
  /** One chunk's logits, softmax and gradient. */
  lmHeadChunkBytes: number;
  /**
   * What a step makes for a moment: the head's gradient and transposed copy (2 · H · V), each matMul gradient's
   * transposed weight and weight gradient (made for frozen weights too), the optimizer's per-parameter temporaries
   * (5 × the largest trained tensor).
   */
  transientBytes: number;
  totalBytes: number;
  /** The largest single tensor: it must fit one storage-buffer binding on WebGPU. */
  largestTensorBytes: number;
}

export interface AdapterLimits {
  /** Memory the device can give us; unknown on WebGPU, so the caller passes what it knows (e.g. 24 GiB). */
  deviceBytes?: number;
  maxStorageBufferBindingSize?: number;
  /** WebGPU's largest buffer (maxBufferSize), which also bounds one tensor. */
  maxBufferSize?: number;
}

export interface MemoryVerdict {
  fits: boolean;
  /** One sentence per problem, with what to change. Empty when it fits. */
  advice: string[];
}

const F32 = 4;

/** Live activation bytes of a training step over the floats layerActivationFloats counts (measured 5.7×, see above). */
export const ACTIVATION_LIVE_FACTOR = 6;

/** [in, out] of each projection of one layer, by name: LoRA targets, totals, and the matrices a forward multiplies by. */
export function matrixShapes(c: ModelConfig): Record<string, [number, number]> {
  const q = c.numAttentionHeads * c.headDim;
  const kv = c.numKeyValueHeads * c.headDim;
  return {
    q_proj: [c.hiddenSize, q],
    k_proj: [c.hiddenSize, kv],
    v_proj: [c.hiddenSize, kv],
    o_proj: [q, c.hiddenSize],
    gate_proj: [c.hiddenSize, c.intermediateSize],
    up_proj: [c.hiddenSize, c.intermediateSize],
    down_proj: [c.intermediateSize, c.hiddenSize],
  };
}

export function countParameters(c: ModelConfig): number {
  const shapes = matrixShapes(c);
  const perLayer =
    Object.values(shapes).reduce((sum, [i, o]) => sum + i * o, 0) + 2 * c.headDim + 2 * c.hiddenSize;
  const embed = c.vocabSize * c.hiddenSize;
  return embed + c.numHiddenLayers * perLayer + c.hiddenSize + (c.tieWordEmbeddings ? 0 : embed);
}

/**
 * Floats one layer's forward pass needs to keep for backprop, for `batch` sequences of `T` tokens: per token the
 * norms' inputs and outputs (4H), q/k/v before and after norm and rope (3q + 4kv), the attention output (q), the
 * MLP's gate/up/act/product (4I) and residuals (2H); per sequence the scores, masked scores and softmax [heads, T, T].
 * What TF.js really holds is a multiple of this (ACTIVATION_LIVE_FACTOR in training; capacity.ts for inference).
 */
export function layerActivationFloats(c: ModelConfig, batch: number, T: number): number {
  const q = c.numAttentionHeads * c.headDim;
  const kv = c.numKeyValueHeads * c.headDim;
  const perTokenPerLayer = 6 * c.hiddenSize + 4 * q + 4 * kv + 4 * c.intermediateSize;
  return batch * T * perTokenPerLayer + 3 * batch * c.numAttentionHeads * T * T;
}

export function estimateTrainingMemory(c: ModelConfig, t: MemoryRelevantConfig): MemoryEstimate {
  const parameters = countParameters(c);
  const shapes = matrixShapes(c);
  const trainableParameters = t.lora?.enabled
    ? c.numHiddenLayers *
      t.lora.targetModules.reduce((sum, m) => {
        const s = shapes[m];
        return s ? sum + t.lora!.rank * (s[0] + s[1]) : sum;
      }, 0)
    : parameters;

  const tokens = t.batchSize * t.maxLength;
  const H = c.hiddenSize;
  const oneLayer = ACTIVATION_LIVE_FACTOR * layerActivationFloats(c, t.batchSize, t.maxLength);
  // With checkpointing only each layer's input is kept, and one layer is recomputed at a time in backprop.
  const activationsBytes =
    F32 * (t.gradientCheckpointing ? c.numHiddenLayers * tokens * H + oneLayer : c.numHiddenLayers * oneLayer) + F32 * tokens * 2 * H;

  const chunk = Math.min(t.lmHeadChunkTokens ?? 256, tokens);
  // Logits, their softmax and the gradient of one chunk.
  const lmHeadChunkBytes = 3 * F32 * chunk * c.vocabSize;

  const weightsBytes = F32 * parameters;
  const gradientsBytes = F32 * trainableParameters;
  const optimizerBytes = 2 * F32 * trainableParameters;
  const layerMatrices = c.numHiddenLayers * Object.values(shapes).reduce((sum, [i, o]) => sum + i * o, 0);
  const largestTrainable = t.lora?.enabled
    ? Math.max(0, ...t.lora.targetModules.map((m) => (shapes[m] ? t.lora!.rank * Math.max(...shapes[m]) : 0)))
    : Math.max(c.vocabSize * H, ...Object.values(shapes).map(([i, o]) => i * o));
  // Frozen weights' gradients are made and dropped too (LoRA: 3×; full training counts them as gradients: 1× more).
  const transientBytes = F32 * (2 * H * c.vocabSize + (t.lora?.enabled ? 3 : 1) * layerMatrices + 5 * largestTrainable);
  const largestTensorBytes = Math.max(
    F32 * c.vocabSize * H,
    F32 * t.batchSize * c.numAttentionHeads * t.maxLength * t.maxLength,
    F32 * chunk * c.vocabSize,
  );
  return {
    parameters,
    trainableParameters,
    weightsBytes,
    gradientsBytes,
    optimizerBytes,
    activationsBytes,
    lmHeadChunkBytes,
    transientBytes,
    totalBytes: weightsBytes + gradientsBytes + optimizerBytes + activationsBytes + lmHeadChunkBytes + transientBytes,
    largestTensorBytes,
  };
}

const GiB = 1024 ** 3;
const gib = (b: number) => `${(b / GiB).toFixed(1)} GiB`;

export function judgeMemory(e: MemoryEstimate, t: MemoryRelevantConfig, limits: AdapterLimits): MemoryVerdict {
  const advice: string[] = [];
  if (limits.deviceBytes !== undefined && e.totalBytes > limits.deviceBytes) {
    const tips: string[] = [];
    if (e.activationsBytes > e.weightsBytes) tips.push(`lower max length (now ${t.maxLength}) or batch size (now ${t.batchSize})`);
    if (!t.gradientCheckpointing) tips.push('turn on gradient checkpointing');
    if (!t.lora?.enabled) tips.push('train with LoRA to drop the gradients and optimizer state of the base weights');
    advice.push(`Needs about ${gib(e.totalBytes)} but the device has ${gib(limits.deviceBytes)}: ${tips.join(', or ') || 'use a smaller model'}.`);
  }
  const binding = Math.min(limits.maxStorageBufferBindingSize ?? Infinity, limits.maxBufferSize ?? Infinity);
  if (e.largestTensorBytes > binding) {
    advice.push(
      `One tensor needs ${gib(e.largestTensorBytes)} but a buffer binding is limited to ${gib(binding)}: lower max length or batch size, or the LM-head chunk.`,
    );
  }
  return { fits: advice.length === 0, advice };
}
