/**
 * Whether a backend can hold a model for inference or training, decided from the configs before any weight loads,
 * so that a model too big for a backend is refused with a sentence naming the limit instead of computed wrongly.
 * The wasm backend is the one with a hard limit: its heap is a 32-bit wasm memory.
 *
 * Why a rule and not an error: TF.js 4.22's wasm heap stops at 4 GiB (getHeapMax() = 4294901760) and past it nothing
 * throws. XNNPACK keeps a packed copy of every matrix used as the right operand of a matMul (one per fully-connected
 * operator, freed with the weight), so a model needs about twice its float32 weights there; when creating an operator
 * runs out, XNNPACK prints `xnn_create_fully_connected_nc_f32 … Got status 6` to stderr and the matMul's output is left
 * unwritten; a tensor whose malloc fails gets offset 0, unchecked (sometimes "memory access out of bounds", sometimes not).
 *
 * Measured (bench/wasm-capacity.ts, Node 20, 2-core x86, 2026-12), inference: random models with Qwen3-0.6B's
 * vocabulary (151936) and width (1024 / 3072, 16·8 heads), 8 tokens, logits on wasm against the cpu backend:
 *   layers 20 (470M params; this rule: 3.83 GB)  correct, max |diff| 8e-6, heap grew to 3.96 GB
 *   layers 21, 22 (4.09 GB)                      correct, heap 4.09 / 4.21 GB
 *   layers 23 (517M; 4.22 GB)                    correct, max |diff| 1e-5, heap at its 4.29 GB maximum
 *   layers 24 (533M; 4.35 GB)                    WRONG: status 6 on the LM head, max |diff| 2.4e38
 *   layers 28 (596M, Qwen3-0.6B; 4.86 GB)        WRONG: logits max |x| 2.2e-30 where cpu gives 3.2
 * Training (--train, 0.6B width, 2 layers, batch 1, vocabulary 8192 or 32768, 256–1024 tokens): the heap grew to
 * 1.46–3.77 GB, up to 1.25× the live tensors plus packed copies; LoRA at 1024 tokens held 4.21 GB of live tensors in
 * a 4.10 GB heap (allocations failed, silently), and vocabulary 151936 at 256 tokens aborted. The rule allows at most
 * WASM_USABLE_BYTES (3.6 GiB, 90% of the heap): inference from 21 layers on is refused, ≥ 0.48 GB short of the first
 * size measured wrong; for training it is 1.03–1.5× the heap each run reached, refuses every run measured to fail and
 * allows every one whose heap stayed under 3.6 GB.
 */
import type { BackendName } from './backend.ts';
import { countParameters, estimateTrainingMemory, layerActivationFloats, matrixShapes, type MemoryRelevantConfig } from './memory-estimate.ts';
import type { ModelConfig } from './types.ts';

/** The wasm backend's heap limit (tfjs-backend-wasm 4.22: a 32-bit memory; getHeapMax() = 4294901760). */
export const WASM_HEAP_BYTES = 4294901760;
/** What the capacity rule lets a model use of the wasm heap (the rest is allocator slack and what the estimate misses). */
export const WASM_USABLE_BYTES = Math.floor(0.9 * WASM_HEAP_BYTES);

const F32 = 4;
const GiB = 1024 ** 3;
/** Bytes as the person reads them: "4.5 GiB" (the wasm heap is exactly 4 GiB). */
export const formatGiB = (b: number): string => `${(b / GiB).toFixed(b < 10 * GiB ? 1 : 0)} GiB`;

/**
 * What a model is asked to do: answer (`tokens` = the longest sequence one forward pass sees; `cacheTokens` = the
 * longest a KV cache grows to while generating, prompt included) or train.
 */
export type Workload = { kind: 'inference'; tokens: number; cacheTokens?: number } | { kind: 'training'; train: MemoryRelevantConfig };

/** Memory of one workload on one backend, by part. */
export interface CapacityNeed {
  weightsBytes: number;
  /** wasm only: XNNPACK's packed copy of every matrix the model multiplies by. */
  packedBytes: number;
  /** Gradients and optimizer moments (training). */
  trainingStateBytes: number;
  /** Activations kept during a forward (inference keeps every layer's until the pass ends) or for backprop. */
  activationsBytes: number;
  /** LM-head chunk, a generation's KV cache, a training step's transposed and temporary tensors. */
  transientBytes: number;
  /** wasm training: allocator slack (WASM_TRAINING_HEAP_FACTOR). */
  slackBytes: number;
  totalBytes: number;
}

/** Elements of the matrices a forward pass multiplies by (every projection and the LM head). */
function matrixElements(c: ModelConfig): number {
  const perLayer = Object.values(matrixShapes(c)).reduce((s, [i, o]) => s + i * o, 0);
  return c.numHiddenLayers * perLayer + c.hiddenSize * c.vocabSize;
}

/** Tokens per LM-head chunk the engine uses outside training (logits CLI, answer loss). */
const INFERENCE_CHUNK = 128;
/**
 * Live bytes of a forward pass (everything made under one tf.tidy stays until it ends) over layerActivationFloats,
 * per layer: measured 2.75× on the per-token part and 1.75× on the scores (wasm, tf.profile, 0.6B width, 128–1024 tokens).
 */
export const INFERENCE_ACTIVATION_FACTOR = 3;
/**
 * The wasm heap a training step grows to, over its live tensors (memory-estimate.ts) plus the packed copies: up to
 * 1.25 measured (allocator fragmentation: the heap never shrinks, and freed blocks do not always fit the next tensor).
 */
export const WASM_TRAINING_HEAP_FACTOR = 1.3;

/** Memory `workload` needs on `backend` (float32 everywhere; wasm adds packed copies and, training, allocator slack). */
export function capacityNeed(c: ModelConfig, workload: Workload, backend: BackendName | string): CapacityNeed {
  const wasm = backend === 'wasm';
  const packedBytes = wasm ? F32 * matrixElements(c) : 0;
  if (workload.kind === 'inference') {
    const T = Math.max(1, workload.tokens);
    const weightsBytes = F32 * countParameters(c);
    const activationsBytes = F32 * (INFERENCE_ACTIVATION_FACTOR * c.numHiddenLayers * layerActivationFloats(c, 1, T) + 2 * T * c.hiddenSize);
    const cacheBytes = 2 * F32 * c.numHiddenLayers * c.numKeyValueHeads * c.headDim * Math.max(T, workload.cacheTokens ?? 0);
    const transientBytes = 2 * F32 * Math.min(T, INFERENCE_CHUNK) * c.vocabSize + cacheBytes;
    return { weightsBytes, packedBytes, trainingStateBytes: 0, activationsBytes, transientBytes, slackBytes: 0, totalBytes: weightsBytes + packedBytes + activationsBytes + transientBytes };
  }
  const e = estimateTrainingMemory(c, workload.train);
  const trainingStateBytes = e.gradientsBytes + e.optimizerBytes;
  const transientBytes = e.lmHeadChunkBytes + e.transientBytes;
  const live = e.weightsBytes + packedBytes + trainingStateBytes + e.activationsBytes + transientBytes;
  const slackBytes = wasm ? (WASM_TRAINING_HEAP_FACTOR - 1) * live : 0;
  return { weightsBytes: e.weightsBytes, packedBytes, trainingStateBytes, activationsBytes: e.activationsBytes, transientBytes, slackBytes, totalBytes: live + slackBytes };
}

/** The hard limit of a backend in bytes, when it has one we know: wasm's heap; others are limited by the device. */
export function backendLimitBytes(backend: BackendName | string): number | undefined {
  return backend === 'wasm' ? WASM_USABLE_BYTES : undefined;
}

export interface CapacityVerdict {
  ok: boolean;
  need: CapacityNeed;
  /** The limit the need was compared with (undefined: none known). */
  limitBytes?: number;
  /** When not ok: one sentence naming the need, the limit and what to use instead. */
  message?: string;
}

export interface CapacityOptions {
  /** Memory of the device behind a backend with no limit of its own (a GPU's memory, the machine's RAM for cpu). */
  deviceBytes?: number;
  /** What to suggest instead, after "use" (default: WebGPU or the command-line cpu backend). */
  instead?: string;
  /** What is asked, to open the sentence (default: "Running this model (N tokens)" / "Training this model with this config"). */
  what?: string;
}

/**
 * Whether `backend` can run `workload` on model `c`. On wasm the limit is WASM_USABLE_BYTES, whatever the device;
 * elsewhere `deviceBytes` when given. A refusal's message names both numbers and the way out.
 */
export function checkCapacity(c: ModelConfig, workload: Workload, backend: BackendName | string, opts: CapacityOptions = {}): CapacityVerdict {
  const need = capacityNeed(c, workload, backend);
  const limit = backendLimitBytes(backend) ?? opts.deviceBytes;
  if (limit === undefined || need.totalBytes <= limit) return { ok: true, need, limitBytes: limit };
  const what = opts.what ?? (workload.kind === 'inference' ? `running this model (${workload.tokens} tokens)` : 'training this model with this config');
  const parts = [
    `weights ${formatGiB(need.weightsBytes)}`,
    `XNNPACK's packed copy ${formatGiB(need.packedBytes)}`,
    need.trainingStateBytes > 0 ? `gradients and moments ${formatGiB(need.trainingStateBytes)}` : '',
    need.activationsBytes > 0.1 * need.totalBytes ? `activations ${formatGiB(need.activationsBytes)}` : '',
  ].filter(Boolean);
  const message =
    backend === 'wasm'
      ? `${what[0].toUpperCase()}${what.slice(1)} needs ~${formatGiB(need.totalBytes)} of wasm memory (${parts.join(', ')}); the wasm heap is ${formatGiB(WASM_HEAP_BYTES)} and past ~${formatGiB(WASM_USABLE_BYTES)} TF.js computes wrong numbers without an error: use ${opts.instead ?? 'WebGPU (a GPU), or the cpu backend from the command line (--backend cpu)'}.`
      : `${what[0].toUpperCase()}${what.slice(1)} needs ~${formatGiB(need.totalBytes)} on the ${backend} backend but the device has ${formatGiB(limit)}: use ${opts.instead ?? 'a smaller model or a device with more memory'}.`;
  return { ok: false, need, limitBytes: limit, message };
}
