/**
 * Records and interfaces that cross engine module boundaries, worker messages and the
 * profile/daemon layers. Types only: every implementation lives in the module named beside it.
 */
import type * as tf from '@tensorflow/tfjs-core';

// ---------------------------------------------------------------- chat data (src/engine/data)

export type Role = 'system' | 'user' | 'assistant';
export interface ChatMessage {
  role: Role;
  content: string;
}
/** One training example after normalisation: every accepted row shape becomes this. */
export interface ChatExample {
  messages: ChatMessage[];
  metadata?: Record<string, unknown>;
}

// ---------------------------------------------------------------- model config (src/engine/config/model-config.ts)

export type TorchDtype = 'float32' | 'bfloat16' | 'float16';
/** Architecture only, read from a Hugging Face config.json (camelCase of its keys). */
export interface ModelConfig {
  modelType: 'qwen3';
  vocabSize: number;
  hiddenSize: number;
  intermediateSize: number;
  numHiddenLayers: number;
  numAttentionHeads: number;
  numKeyValueHeads: number;
  headDim: number;
  rmsNormEps: number;
  ropeTheta: number;
  tieWordEmbeddings: boolean;
  maxPositionEmbeddings: number;
  torchDtype: TorchDtype;
  bosTokenId?: number;
  eosTokenId?: number | number[];
}

// ---------------------------------------------------------------- tokenizer (src/engine/tokenizer.ts)

/** `stock`: the template in tokenizer_config.json; `chatml`: plain ChatML without think blocks. */
export type ChatTemplateKind = 'stock' | 'chatml';
export interface ChatRenderOptions {
  template: ChatTemplateKind;
  addGenerationPrompt?: boolean;
  enableThinking?: boolean;
}
/** Token ids of a rendered conversation; trainMask[i] = 1 where token i is a training target. */
export interface EncodedChat {
  ids: Int32Array;
  trainMask: Uint8Array;
}
export interface ChatTokenizer {
  readonly vocabSize: number;
  /** `<|im_end|>`: end of an assistant turn. */
  readonly eosTokenId: number;
  /** `<|endoftext|>`: padding. */
  readonly padTokenId: number;
  encode(text: string): number[];
  decode(ids: readonly number[], opts?: { skipSpecialTokens?: boolean }): string;
  tokenToId(token: string): number | undefined;
  /** Registers added tokens (regime-3 codes); returns their ids. Existing ones keep theirs. */
  addTokens(tokens: readonly string[]): number[];
  /** tokenizer.json and tokenizer_config.json as they stand, added tokens included, for saving with a model. */
  toFiles(): { tokenizerJson: object; tokenizerConfig: object };
  renderChat(messages: readonly ChatMessage[], opts: ChatRenderOptions): string;
  /** Completion-only mask: assistant content and its closing <|im_end|> are trained, nothing else. */
  encodeChat(messages: readonly ChatMessage[], opts: ChatRenderOptions): EncodedChat;
}

// ---------------------------------------------------------------- model (src/engine/model.ts)

/** One collated batch, row-major [B, T]. segmentIds 0 = padding; tokens attend causally within equal segment ids. */
export interface TrainBatch {
  batchSize: number;
  seqLen: number;
  inputIds: Int32Array;
  /** Next-token target per position, -100 where not trained. */
  targets: Int32Array;
  positionIds: Int32Array;
  segmentIds: Int32Array;
  /** Number of targets that are not -100. */
  numTargets: number;
}

/** Tensor inputs of a forward pass, all int32 [B, T]; position ids run 0.. within each row (or segment), plus the KV-cache length when decoding. */
export interface ForwardInputs {
  inputIds: tf.Tensor2D;
  positionIds: tf.Tensor2D;
  segmentIds: tf.Tensor2D;
}

/**
 * Called for every linear layer with its Hugging Face weight name, its input and the base output,
 * returning the output to use (LoRA adds its low-rank term here). Must be differentiable.
 */
export type LinearHook = (weightName: string, x: tf.Tensor, base: tf.Tensor) => tf.Tensor;

export interface CausalLM {
  readonly config: ModelConfig;
  /** Trainable parameters keyed by Hugging Face name, in the model's compute layout (see model.ts). */
  readonly weights: Map<string, tf.Variable>;
  /** Final-norm hidden states [B, T, H]. Differentiable with respect to `weights`. */
  hidden(
    x: ForwardInputs,
    opts?: {
      linearHook?: LinearHook;
      /** Gradient checkpointing: keep only each layer's input and recompute it in backprop (reads these variables). */
      recompute?: { params: ReadonlyMap<string, tf.Variable> };
      /** The base weights are constants for autodiff (LoRA): no weight gradients are computed for them. */
      frozenBase?: boolean;
    },
  ): tf.Tensor3D;
  /** The LM head as [H, V] so that logits = h · W (for tied embeddings, derived from the embedding). */
  headWeight(): tf.Tensor2D;
  dispose(): void;
}

// ---------------------------------------------------------------- generation (src/engine/generate.ts)

/** Profiles shape generation with these: they get the ids generated so far and return adjusted logits. */
export type LogitsProcessor = (generatedIds: readonly number[], logits: Float32Array, step: number) => Float32Array;

export interface GenerateOptions {
  maxNewTokens: number;
  /** 0 = greedy. */
  temperature?: number;
  topP?: number;
  topK?: number;
  seed?: number;
  stopTokenIds?: number[];
  stopStrings?: string[];
  processors?: LogitsProcessor[];
  /** Generation ends with stopReason 'time_limit' past this. */
  timeLimitMs?: number;
  signal?: AbortSignal;
  onToken?: (tokenId: number, textSoFar: string) => void;
}
export interface GenerateResult {
  ids: number[];
  text: string;
  stopReason: 'eos' | 'stop_string' | 'max_tokens' | 'time_limit' | 'aborted';
  ms: number;
}

// ---------------------------------------------------------------- training (src/engine/train.ts)

/** A tokenized example of a file, by index; the trainer decides the order. */
export interface TokenizedExample {
  ids: Int32Array;
  trainMask: Uint8Array;
}
export interface ExampleSource {
  readonly size: number;
  get(index: number): TokenizedExample;
}

export interface StepMetrics {
  /** Global optimizer step, cumulative across files. */
  step: number;
  fileStep: number;
  fileSteps: number;
  /** Null on steps between log intervals (read only at log intervals, without dataSync). */
  loss: number | null;
  lr: number;
  gradNorm: number | null;
  tokens: number;
  msPerStep: number;
  tokensPerSecond: number;
  /** True when a non-finite loss or gradient skipped this update. */
  skipped: boolean;
}

export type StepDecision = 'continue' | 'stop';

export interface JobError {
  kind: 'non_finite' | 'out_of_memory' | 'config' | 'data' | 'checkpoint' | 'internal';
  message: string;
}
