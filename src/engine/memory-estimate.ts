/**
 * Estimates the accelerator memory a training config needs (weights, gradients, optimizer state,
 * activations kept for backprop, LM-head chunk) and checks it against what an adapter allows, with
 * advice on what to change. TF.js trains in float32 and keeps every intermediate of the forward pass
 * on its tape (no gradient checkpointing), so activations dominate at long sequence lengths.
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
  lmHeadChunkBytes: number;
  totalBytes: number;
  /** The largest single tensor: it must fit one storage-buffer binding on WebGPU. */
  largestTensorBytes: number;
}

export interface AdapterLimits {
  /** Memory the device can give us; unknown on WebGPU, so the caller passes what it knows (e.g. 24 GiB). */
  deviceBytes?: number;
  maxStorageBufferBindingSize?: number;
}

export interface MemoryVerdict {
  fits: boolean;
  /** One sentence per problem, with what to change. Empty when it fits. */
  advice: string[];
}

const F32 = 4;

/** Parameter count per projection name, for LoRA targets and totals. */
function projectionShapes(c: ModelConfig): Record<string, [number, number]> {
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
  const shapes = projectionShapes(c);
  const perLayer =
    Object.values(shapes).reduce((sum, [i, o]) => sum + i * o, 0) + 2 * c.headDim + 2 * c.hiddenSize;
  const embed = c.vocabSize * c.hiddenSize;
  return embed + c.numHiddenLayers * perLayer + c.hiddenSize + (c.tieWordEmbeddings ? 0 : embed);
}

export function estimateTrainingMemory(c: ModelConfig, t: MemoryRelevantConfig): MemoryEstimate {
  const parameters = countParameters(c);
  const shapes = projectionShapes(c);
  const trainableParameters = t.lora?.enabled
    ? c.numHiddenLayers *
      t.lora.targetModules.reduce((sum, m) => {
        const s = shapes[m];
        return s ? sum + t.lora!.rank * (s[0] + s[1]) : sum;
      }, 0)
    : parameters;

  const tokens = t.batchSize * t.maxLength;
  const H = c.hiddenSize;
  const I = c.intermediateSize;
  const q = c.numAttentionHeads * c.headDim;
  const kv = c.numKeyValueHeads * c.headDim;
  // Kept per layer for backprop: norms' inputs and outputs (4H), q/k/v before and after norm and rope
  // (3q + 4kv), attention output (q), MLP gate/up/act/product (4I), residuals (2H).
  const perTokenPerLayer = 6 * H + 4 * q + 4 * kv + 4 * I;
  // Scores, softmax probabilities and the masked scores: [B, heads, T, T] each.
  const scoresPerLayer = 3 * t.batchSize * c.numAttentionHeads * t.maxLength * t.maxLength;
  const oneLayer = tokens * perTokenPerLayer + scoresPerLayer;
  const activationsBytes =
    F32 * (t.gradientCheckpointing ? c.numHiddenLayers * tokens * H + oneLayer : c.numHiddenLayers * oneLayer) + F32 * tokens * 2 * H;

  const chunk = Math.min(t.lmHeadChunkTokens ?? 256, tokens);
  // Logits, their softmax and the gradient of one chunk.
  const lmHeadChunkBytes = 3 * F32 * chunk * c.vocabSize;

  const weightsBytes = F32 * parameters;
  const gradientsBytes = F32 * trainableParameters;
  const optimizerBytes = 2 * F32 * trainableParameters;
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
    totalBytes: weightsBytes + gradientsBytes + optimizerBytes + activationsBytes + lmHeadChunkBytes,
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
  if (limits.maxStorageBufferBindingSize !== undefined && e.largestTensorBytes > limits.maxStorageBufferBindingSize) {
    advice.push(
      `One tensor needs ${gib(e.largestTensorBytes)} but a buffer binding is limited to ${gib(limits.maxStorageBufferBindingSize)}: lower max length or batch size, or the LM-head chunk.`,
    );
  }
  return { fits: advice.length === 0, advice };
}
