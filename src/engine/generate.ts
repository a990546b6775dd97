/**
 * Text generation as one readable loop (after transformers.js): forward with a KV cache → logits
 * processors → sampler (greedy, temperature, top-k, top-p; seeded) → stopping criteria (EOS, stop strings,
 * max tokens, time limit, abort), streaming each token. Yields to the event loop between tokens.
 * Without logits processors the token is chosen on the device and only a few numbers are read back (selectToken);
 * with processors (they are host functions over a Float32Array) the logits come to the host as before.
 * Streamed text is decoded incrementally (TextStream), not the whole answer again at every token.
 */
import * as tf from '@tensorflow/tfjs-core';
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
  const processors = opts.processors ?? [];
  const ids: number[] = [];
  const stream = new TextStream(opts.decode);
  let text = '';
  const cache = model.createKvCache();
  let pending: tf.Tensor1D | undefined;
  const finish = (stopReason: GenerateResult['stopReason']): GenerateResult => ({ ids, text: stream.flush(ids), stopReason, ms: now() - start });
  try {
    for (let step = 0; ; step++) {
      if (opts.signal?.aborted) return finish('aborted');
      if (opts.timeLimitMs !== undefined && now() - start > opts.timeLimitMs) return finish('time_limit');
      if (ids.length >= opts.maxNewTokens) return finish('max_tokens');
      if (cache.length + (step === 0 ? promptIds.length : 1) > model.config.maxPositionEmbeddings) return finish('max_tokens');
      pending = model.decode(step === 0 ? promptIds : [ids[ids.length - 1]], cache, opts.forward);
      let token: number;
      if (processors.length === 0) {
        token = await selectToken(pending, opts, rng);
      } else {
        let logits: Float32Array = new Float32Array((await pending.data()) as Float32Array);
        for (const p of processors) logits = p(ids, logits, step);
        token = sampleToken(logits, opts, rng);
      }
      pending.dispose();
      pending = undefined;
      if (stopIds.has(token)) return finish('eos');
      ids.push(token);
      text = stream.push(ids);
      const hit = firstStop(text, opts.stopStrings);
      if (hit >= 0) {
        text = text.slice(0, hit);
        opts.onToken?.(token, text);
        return { ids, text, stopReason: 'stop_string', ms: now() - start };
      }
      opts.onToken?.(token, text);
      await tick(); // let a time limit, an abort or the UI run between tokens
    }
  } finally {
    pending?.dispose();
    disposeKvCache(cache);
  }
}

/**
 * Text of a growing list of token ids, decoding only a window of the last tokens per call (the prefix/read
 * offsets of text-generation-inference): the window starts where the previous settled text ended, so a partial
 * UTF-8 character (a byte-level token run that decodes to U+FFFD so far) is held back until it completes, and
 * decoders that treat a first token specially (SentencePiece's leading space) see the same context as a full decode.
 */
export class TextStream {
  private prefix = 0;
  private read = 0;
  private text = '';

  constructor(private readonly decode: (ids: readonly number[]) => string) {}

  /** The settled text of `ids` (which only ever grow): the full decode without a trailing incomplete character. */
  push(ids: readonly number[]): string {
    const before = this.decode(ids.slice(this.prefix, this.read));
    const after = this.decode(ids.slice(this.prefix));
    if (after.length > before.length && !after.endsWith('\uFFFD')) {
      this.text += after.slice(before.length);
      this.prefix = this.read;
      this.read = ids.length;
    }
    return this.text;
  }

  /** The whole text of `ids`, an unfinished character included (the end of generation). */
  flush(ids: readonly number[]): string {
    const before = this.decode(ids.slice(this.prefix, this.read));
    const after = this.decode(ids.slice(this.prefix));
    return after.length > before.length ? this.text + after.slice(before.length) : this.text;
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

/** The sampler's settings with their defaults applied: temperature 0 = greedy; topK ≥ V and topP 1 mean off. */
function samplerSettings(opts: SamplerOptions, V: number): { temperature: number; topK: number; topP: number } {
  const temperature = opts.temperature ?? 0;
  const topK = opts.topK && opts.topK > 0 ? Math.min(opts.topK, V) : V;
  const topP = opts.topP !== undefined && opts.topP > 0 && opts.topP < 1 ? opts.topP : 1;
  return { temperature: temperature > 0 ? temperature : 0, topK, topP };
}

/** Picks the next token on the host: argmax when temperature is 0 or absent, else samples after top-k then top-p filtering. */
export function sampleToken(logits: Float32Array, opts: SamplerOptions, rng: Rng): number {
  return sampleWith(logits, opts, () => rng.next());
}

/** sampleToken with the uniform draw given as a function (called at most once). */
function sampleWith(logits: Float32Array, opts: SamplerOptions, draw: () => number): number {
  const { temperature, topK, topP } = samplerSettings(opts, logits.length);
  if (temperature === 0) return argmax(logits);
  let idx = Array.from({ length: logits.length }, (_, i) => i).filter((i) => !Number.isNaN(logits[i]) && logits[i] !== -Infinity);
  if (idx.length === 0) throw new Error('sampleToken: every logit is -Infinity or NaN');
  if (topK < idx.length || topP < 1) {
    idx.sort((a, b) => logits[b] - logits[a]);
    idx = idx.slice(0, topK);
  }
  let max = -Infinity; // a loop, not Math.max(...): a spread of 151936 arguments overflows the stack
  for (const i of idx) if (logits[i] > max) max = logits[i];
  const probs = idx.map((i) => Math.exp((logits[i] - max) / temperature));
  const sum = probs.reduce((a, b) => a + b, 0);
  return drawFrom(idx, probs, topP < 1 ? nucleusSize(probs, topP * sum) : probs.length, draw);
}

/** How many of `probs` (sorted, largest first) top-p keeps: the fewest whose sum reaches `mass`; all of them when none do. */
function nucleusSize(probs: readonly number[], mass: number): number {
  let cum = 0, keep = 0;
  while (keep < probs.length && cum < mass) cum += probs[keep++];
  return Math.max(1, keep);
}

/** Draws one of the first `n` candidates in proportion to their (unnormalised) probabilities, with one uniform draw. */
function drawFrom(ids: readonly number[], probs: readonly number[], n: number, draw: () => number): number {
  let sum = 0;
  for (let j = 0; j < n; j++) sum += probs[j];
  let r = draw() * sum;
  for (let j = 0; j < n; j++) {
    r -= probs[j];
    if (r <= 0) return ids[j];
  }
  return ids[n - 1];
}

/** Candidates top-p alone reads back per try (then the full logits when the nucleus is still larger). */
export const TOP_P_CANDIDATES: readonly number[] = [64, 1024];

/**
 * sampleToken's choice, made from what the device computes so that a few numbers come back instead of all V logits
 * (151,936 floats for Qwen3): greedy → the argmax (one number); top-k → the k best logits and their ids; top-p
 * alone → the best 64 (then 1024) logits with their ids and the softmax normaliser Σ exp((l − max)/T), reading
 * every logit only when the nucleus is larger still; temperature alone → the inverse CDF on the device (a
 * cumulative sum in vocabulary order, the order sampleToken walks) at the host's uniform draw. The same draws of
 * `rng` as sampleToken, so a seed gives the same tokens, except where a float32 sum on the device and sampleToken's
 * float64 sum fall on either side of the draw. `logits` is not disposed.
 */
export async function selectToken(logits: tf.Tensor1D, opts: SamplerOptions, rng: Rng): Promise<number> {
  const V = logits.shape[0];
  const { temperature, topK, topP } = samplerSettings(opts, V);
  if (temperature === 0) return (await readFloats(() => tf.cast(tf.argMax(logits), 'float32')))[0];
  if (topK < V) {
    const [values, ids] = await readTopK(logits, topK);
    const live = Array.from(values, (_, j) => j).filter((j) => !Number.isNaN(values[j]) && values[j] !== -Infinity);
    if (live.length === 0) throw new Error('sampleToken: every logit is -Infinity or NaN');
    const probs = live.map((j) => Math.exp((values[j] - values[live[0]]) / temperature));
    const sum = probs.reduce((a, b) => a + b, 0);
    return drawFrom(live.map((j) => ids[j]), probs, topP < 1 ? nucleusSize(probs, topP * sum) : probs.length, () => rng.next());
  }
  if (topP < 1) {
    const [max, z] = await readFloats(() => normaliser(logits, temperature));
    for (const k of TOP_P_CANDIDATES) {
      if (k >= V || !(Number.isFinite(max) && z > 0 && Number.isFinite(z))) break; // NaN or all -Infinity: the host says which
      const [values, ids] = await readTopK(logits, k);
      const probs = Array.from(values, (v) => Math.exp((v - max) / temperature));
      const n = nucleusSize(probs, topP * z);
      let inside = 0;
      for (let j = 0; j < n; j++) inside += probs[j];
      if (inside >= topP * z) return drawFrom(Array.from(ids), probs, n, () => rng.next());
    }
    return sampleToken((await logits.data()) as Float32Array, opts, rng);
  }
  const u = rng.next();
  const [index, max, total] = await readFloats(() => {
    const [m] = tf.split(normaliser(logits, temperature), 2);
    const cdf = tf.cumsum(tf.exp(tf.div(tf.sub(logits, m), temperature))); // [V], vocabulary order
    const all = tf.slice(cdf, [V - 1], [1]);
    const below = tf.sum(tf.cast(tf.less(cdf, tf.mul(all, u)), 'float32'), 0, true); // first index whose CDF reaches u·total
    return tf.concat([below, m, all]);
  });
  if (Number.isFinite(max) && total > 0 && Number.isFinite(total)) return Math.min(index, V - 1);
  return sampleWith((await logits.data()) as Float32Array, opts, () => u); // NaN or all -Infinity: the host's error or choice
}

/** [max, Σ exp((l − max)/T)] of the logits, on the device. */
function normaliser(logits: tf.Tensor1D, temperature: number): tf.Tensor1D {
  const m = tf.max(logits, 0, true); // [1]
  const z = tf.sum(tf.exp(tf.div(tf.sub(logits, m), temperature)), 0, true);
  return tf.concat([m, z]) as tf.Tensor1D;
}

async function readFloats(f: () => tf.Tensor): Promise<Float32Array> {
  const t = tf.tidy(f);
  try {
    return (await t.data()) as Float32Array;
  } finally {
    t.dispose();
  }
}

/** The k largest logits (largest first) and their token ids. */
async function readTopK(logits: tf.Tensor1D, k: number): Promise<[Float32Array, Int32Array]> {
  const { values, indices } = tf.topk(logits, k);
  try {
    return [(await values.data()) as Float32Array, (await indices.data()) as Int32Array];
  } finally {
    tf.dispose([values, indices]);
  }
}

/** Index of the largest logit (a NaN loses to any number; the first of equals). */
export function argmax(x: Float32Array): number {
  let best = 0;
  for (let i = 1; i < x.length; i++) if (x[i] > x[best] || Number.isNaN(x[best])) best = i;
  return best;
}
