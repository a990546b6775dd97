/**
 * Text generation as one readable loop (after transformers.js): forward with a KV cache → logits
 * processors → sampler (greedy, temperature, top-k, top-p; seeded) → stopping criteria (EOS, stop strings,
 * max tokens, time limit, abort), streaming each token. Yields to the event loop between tokens.
 */
import type * as tf from '@tensorflow/tfjs-core';
import { Rng } from './rng.ts';
import { disposeKvCache, type ForwardOptions, type KvCache } from './model.ts';
import type { GenerateOptions, GenerateResult, ModelConfig } from './types.ts';

/** What generation needs of a model (Qwen3Model has it). */
export interface DecodingModel {
  readonly config: ModelConfig;
  createKvCache(): KvCache;
  decode(ids: readonly number[], cache: KvCache, opts?: ForwardOptions): tf.Tensor1D;
}

export interface GenerateParams extends GenerateOptions {
  /** Tokens that end generation with stopReason 'eos' (not included in ids or text). */
  eosTokenIds: readonly number[];
  /** Token ids → text (the tokenizer's decode, special tokens skipped as the caller prefers). */
  decode: (ids: readonly number[]) => string;
  /** Passed to every forward (unmerged LoRA). */
  forward?: ForwardOptions;
}

export interface SamplerOptions {
  temperature?: number;
  topK?: number;
  topP?: number;
}

const tick = () => new Promise<void>((resolve) => setTimeout(resolve, 0));
const now = () => (typeof performance !== 'undefined' ? performance.now() : Date.now());

/** Generates after `promptIds`; all tensors it makes are freed, also on abort or error. */
export async function generate(model: DecodingModel, promptIds: readonly number[], opts: GenerateParams): Promise<GenerateResult> {
  if (promptIds.length === 0) throw new Error('generate: the prompt has no tokens');
  if (!Number.isInteger(opts.maxNewTokens) || opts.maxNewTokens < 0) throw new Error(`generate: maxNewTokens must be an integer ≥ 0, got ${opts.maxNewTokens}`);
  const start = now();
  const rng = new Rng(opts.seed ?? 0);
  const stopIds = new Set([...opts.eosTokenIds, ...(opts.stopTokenIds ?? [])]);
  const ids: number[] = [];
  let text = '';
  const cache = model.createKvCache();
  let pending: tf.Tensor1D | undefined;
  const finish = (stopReason: GenerateResult['stopReason']): GenerateResult => ({ ids, text, stopReason, ms: now() - start });
  try {
    for (let step = 0; ; step++) {
      if (opts.signal?.aborted) return finish('aborted');
      if (opts.timeLimitMs !== undefined && now() - start > opts.timeLimitMs) return finish('time_limit');
      if (ids.length >= opts.maxNewTokens) return finish('max_tokens');
      if (cache.length + (step === 0 ? promptIds.length : 1) > model.config.maxPositionEmbeddings) return finish('max_tokens');
      pending = model.decode(step === 0 ? promptIds : [ids[ids.length - 1]], cache, opts.forward);
      let logits: Float32Array = new Float32Array((await pending.data()) as Float32Array);
      pending.dispose();
      pending = undefined;
      for (const p of opts.processors ?? []) logits = p(ids, logits, step);
      const token = sampleToken(logits, opts, rng);
      if (stopIds.has(token)) return finish('eos');
      ids.push(token);
      text = opts.decode(ids);
      const hit = firstStop(text, opts.stopStrings);
      if (hit >= 0) {
        text = text.slice(0, hit);
        opts.onToken?.(token, text);
        return finish('stop_string');
      }
      opts.onToken?.(token, text);
      await tick(); // let a time limit, an abort or the UI run between tokens
    }
  } finally {
    pending?.dispose();
    disposeKvCache(cache);
  }
}

function firstStop(text: string, stops?: readonly string[]): number {
  let at = -1;
  for (const s of stops ?? []) {
    if (!s) continue;
    const i = text.indexOf(s);
    if (i >= 0 && (at < 0 || i < at)) at = i;
  }
  return at;
}

/** Picks the next token: argmax when temperature is 0 or absent, else samples after top-k then top-p filtering. */
export function sampleToken(logits: Float32Array, opts: SamplerOptions, rng: Rng): number {
  const temperature = opts.temperature ?? 0;
  if (!(temperature > 0)) return argmax(logits);
  let idx = Array.from({ length: logits.length }, (_, i) => i).filter((i) => !Number.isNaN(logits[i]) && logits[i] !== -Infinity);
  if (idx.length === 0) throw new Error('sampleToken: every logit is -Infinity or NaN');
  const topK = opts.topK && opts.topK > 0 ? Math.min(opts.topK, idx.length) : idx.length;
  const topP = opts.topP !== undefined && opts.topP > 0 && opts.topP < 1 ? opts.topP : 1;
  if (topK < idx.length || topP < 1) {
    idx.sort((a, b) => logits[b] - logits[a]);
    idx = idx.slice(0, topK);
  }
  let max = -Infinity; // a loop, not Math.max(...): a spread of 151936 arguments overflows the stack
  for (const i of idx) if (logits[i] > max) max = logits[i];
  let probs = idx.map((i) => Math.exp((logits[i] - max) / temperature));
  let sum = probs.reduce((a, b) => a + b, 0);
  if (topP < 1) {
    let cum = 0, keep = 0;
    while (keep < probs.length && cum < topP * sum) cum += probs[keep++];
    idx = idx.slice(0, Math.max(1, keep));
    probs = probs.slice(0, idx.length);
    sum = probs.reduce((a, b) => a + b, 0);
  }
  let r = rng.next() * sum;
  for (let j = 0; j < idx.length; j++) {
    r -= probs[j];
    if (r <= 0) return idx[j];
  }
  return idx[idx.length - 1];
}

function argmax(x: Float32Array): number {
  let best = 0;
  for (let i = 1; i < x.length; i++) if (x[i] > x[best] || Number.isNaN(x[best])) best = i;
  return best;
}
