/**
 * ModelConfig: read from and written back to a Hugging Face Qwen3 `config.json`, plus the presets
 * (tiny, small, qwen3-0.6b). Keys the engine does not use are ignored; values it cannot honour throw
 * a ConfigError naming the field.
 */
import { ConfigError } from '../errors.ts';
import type { ModelConfig, TorchDtype } from '../types.ts';

/** Qwen3's special tokens: `<|im_end|>` ends a turn, `<|endoftext|>` pads (and is the BOS in config.json). */
export const QWEN3_EOS_TOKEN_ID = 151645;
export const QWEN3_PAD_TOKEN_ID = 151643;
export const QWEN3_VOCAB_SIZE = 151936;

const base = {
  modelType: 'qwen3',
  vocabSize: QWEN3_VOCAB_SIZE,
  rmsNormEps: 1e-6,
  ropeTheta: 1e6,
  tieWordEmbeddings: true,
  maxPositionEmbeddings: 40960,
  torchDtype: 'bfloat16',
  bosTokenId: QWEN3_PAD_TOKEN_ID,
  eosTokenId: QWEN3_EOS_TOKEN_ID,
} as const;

export const presets = {
  tiny: { ...base, hiddenSize: 64, intermediateSize: 192, numHiddenLayers: 2, numAttentionHeads: 4, numKeyValueHeads: 2, headDim: 16, torchDtype: 'float32' },
  small: { ...base, hiddenSize: 256, intermediateSize: 768, numHiddenLayers: 4, numAttentionHeads: 8, numKeyValueHeads: 4, headDim: 32, torchDtype: 'float32' },
  'qwen3-0.6b': { ...base, hiddenSize: 1024, intermediateSize: 3072, numHiddenLayers: 28, numAttentionHeads: 16, numKeyValueHeads: 8, headDim: 128 },
} satisfies Record<string, ModelConfig>;

export type PresetName = keyof typeof presets;
export const presetNames = Object.keys(presets) as PresetName[];

/** A preset's config (a fresh copy); unknown names throw a ConfigError listing the valid ones. */
export function presetConfig(name: string): ModelConfig {
  if (!(name in presets)) {
    throw new ConfigError(`unknown model preset "${name}"; expected one of: ${presetNames.join(', ')}`, 'preset', presetNames.join(' | '));
  }
  return { ...presets[name as PresetName] };
}

function posInt(raw: Record<string, unknown>, key: string, fallback?: number): number {
  const v = raw[key] ?? fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) {
    throw new ConfigError(`config.json: "${key}" must be a positive integer, got ${JSON.stringify(v)}`, key, 'integer >= 1');
  }
  return v;
}

function posNum(raw: Record<string, unknown>, key: string, fallback: number): number {
  const v = raw[key] ?? fallback;
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) {
    throw new ConfigError(`config.json: "${key}" must be a positive number, got ${JSON.stringify(v)}`, key, 'number > 0');
  }
  return v;
}

function optTokenId(raw: Record<string, unknown>, key: string): number | number[] | undefined {
  const v = raw[key];
  if (v === undefined || v === null) return undefined;
  const ok = (x: unknown) => typeof x === 'number' && Number.isInteger(x) && x >= 0;
  if (ok(v) || (Array.isArray(v) && v.every(ok))) return v as number | number[];
  throw new ConfigError(`config.json: "${key}" must be a token id or a list of them, got ${JSON.stringify(v)}`, key);
}

/** Parses a Hugging Face config.json object (already JSON-parsed) into a ModelConfig. */
export function parseModelConfig(raw: unknown): ModelConfig {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new ConfigError('config.json must be a JSON object', 'config.json');
  }
  const r = raw as Record<string, unknown>;
  if (r.model_type !== 'qwen3') {
    throw new ConfigError(`config.json: "model_type" must be "qwen3", got ${JSON.stringify(r.model_type)}`, 'model_type', 'qwen3');
  }
  if (r.rope_scaling !== undefined && r.rope_scaling !== null) {
    throw new ConfigError('config.json: "rope_scaling" is not supported (must be null or absent)', 'rope_scaling', 'null');
  }
  if (r.attention_bias !== undefined && r.attention_bias !== false) {
    throw new ConfigError('config.json: "attention_bias" must be false (Qwen3 has no attention bias)', 'attention_bias', 'false');
  }
  if (r.use_sliding_window !== undefined && r.use_sliding_window !== false) {
    throw new ConfigError('config.json: "use_sliding_window" must be false (sliding-window attention is not supported)', 'use_sliding_window', 'false');
  }
  if (r.hidden_act !== undefined && r.hidden_act !== 'silu') {
    throw new ConfigError(`config.json: "hidden_act" must be "silu", got ${JSON.stringify(r.hidden_act)}`, 'hidden_act', 'silu');
  }
  const hiddenSize = posInt(r, 'hidden_size');
  const numAttentionHeads = posInt(r, 'num_attention_heads');
  const numKeyValueHeads = posInt(r, 'num_key_value_heads', numAttentionHeads);
  if (numAttentionHeads % numKeyValueHeads !== 0) {
    throw new ConfigError(
      `config.json: "num_attention_heads" (${numAttentionHeads}) must be a multiple of "num_key_value_heads" (${numKeyValueHeads})`,
      'num_key_value_heads',
    );
  }
  // As transformers' Qwen3Config: head_dim defaults to 128, not hidden_size / heads (Qwen3 decouples them).
  const headDim = posInt(r, 'head_dim', 128);
  if (headDim % 2 !== 0) throw new ConfigError(`config.json: "head_dim" must be even for rotary embeddings, got ${headDim}`, 'head_dim');
  const tie = r.tie_word_embeddings ?? false;
  if (typeof tie !== 'boolean') throw new ConfigError('config.json: "tie_word_embeddings" must be true or false', 'tie_word_embeddings');
  const dtype = r.torch_dtype ?? 'float32';
  if (dtype !== 'float32' && dtype !== 'bfloat16' && dtype !== 'float16') {
    throw new ConfigError(`config.json: "torch_dtype" must be float32, bfloat16 or float16, got ${JSON.stringify(dtype)}`, 'torch_dtype');
  }
  const cfg: ModelConfig = {
    modelType: 'qwen3',
    vocabSize: posInt(r, 'vocab_size'),
    hiddenSize,
    intermediateSize: posInt(r, 'intermediate_size'),
    numHiddenLayers: posInt(r, 'num_hidden_layers'),
    numAttentionHeads,
    numKeyValueHeads,
    headDim,
    rmsNormEps: posNum(r, 'rms_norm_eps', 1e-6),
    ropeTheta: posNum(r, 'rope_theta', 10000),
    tieWordEmbeddings: tie,
    maxPositionEmbeddings: posInt(r, 'max_position_embeddings', 40960),
    torchDtype: dtype as TorchDtype,
  };
  const bos = optTokenId(r, 'bos_token_id');
  if (typeof bos === 'number') cfg.bosTokenId = bos;
  const eos = optTokenId(r, 'eos_token_id');
  if (eos !== undefined) cfg.eosTokenId = eos;
  return cfg;
}

/** The config.json object Hugging Face `transformers` expects for this config. */
export function toHfConfig(cfg: ModelConfig): Record<string, unknown> {
  return {
    architectures: ['Qwen3ForCausalLM'],
    attention_bias: false,
    attention_dropout: 0.0,
    bos_token_id: cfg.bosTokenId ?? QWEN3_PAD_TOKEN_ID,
    eos_token_id: cfg.eosTokenId ?? QWEN3_EOS_TOKEN_ID,
    head_dim: cfg.headDim,
    hidden_act: 'silu',
    hidden_size: cfg.hiddenSize,
    initializer_range: 0.02,
    intermediate_size: cfg.intermediateSize,
    max_position_embeddings: cfg.maxPositionEmbeddings,
    max_window_layers: cfg.numHiddenLayers,
    model_type: 'qwen3',
    num_attention_heads: cfg.numAttentionHeads,
    num_hidden_layers: cfg.numHiddenLayers,
    num_key_value_heads: cfg.numKeyValueHeads,
    rms_norm_eps: cfg.rmsNormEps,
    rope_scaling: null,
    rope_theta: cfg.ropeTheta,
    sliding_window: null,
    tie_word_embeddings: cfg.tieWordEmbeddings,
    torch_dtype: cfg.torchDtype,
    transformers_version: '4.51.0',
    use_cache: true,
    use_sliding_window: false,
    vocab_size: cfg.vocabSize,
  };
}

/** generation_config.json for a Qwen3 model (both turn ends stop generation). */
export function toHfGenerationConfig(cfg: ModelConfig): Record<string, unknown> {
  const eos = cfg.eosTokenId ?? QWEN3_EOS_TOKEN_ID;
  const eosList = Array.isArray(eos) ? eos : [eos, QWEN3_PAD_TOKEN_ID].filter((v, i, a) => a.indexOf(v) === i);
  return { bos_token_id: cfg.bosTokenId ?? QWEN3_PAD_TOKEN_ID, eos_token_id: eosList, pad_token_id: QWEN3_PAD_TOKEN_ID, transformers_version: '4.51.0' };
}

/** Stop token ids of a config: every eos id. */
export function eosTokenIds(cfg: ModelConfig): number[] {
  const e = cfg.eosTokenId;
  return e === undefined ? [] : Array.isArray(e) ? [...e] : [e];
}
