/**
 * Greedy answers to many prompts at once (the fixed eval sets): the prompts run as one left-padded batch with a
 * shared KV cache, then one batched forward per new token for every row still answering, instead of one forward per
 * token per prompt. Each row stops at an end token or its own token cap; its answer is what generate() with
 * temperature 0 gives for that prompt alone (the same logits up to float rounding: padding is masked out exactly).
 */
import * as tf from '@tensorflow/tfjs-core';
import { argmax } from './generate.ts';
import { disposeKvCache, type DecodeInputs, type ForwardOptions, type KvCache } from './model.ts';
import type { GenerateResult, LogitsProcessor, ModelConfig } from './types.ts';

/** What batched decoding needs of a model (Qwen3Model has it). */
export interface BatchDecodingModel {
  readonly config: ModelConfig;
  createKvCache(): KvCache;
  decodeBatch(x: DecodeInputs, cache: KvCache, opts?: ForwardOptions): tf.Tensor2D;
}

export interface BatchPrompt {
  ids: readonly number[];
  maxNewTokens: number;
  /** Host-side logits processors of this row (the profile's); rows without any choose on the device. */
  processors?: readonly LogitsProcessor[];
}

export interface GreedyBatchOptions {
  eosTokenIds: readonly number[];
  decode: (ids: readonly number[]) => string;
  forward?: ForwardOptions;
  /** Rows still answering when the whole batch has taken this long stop with 'time_limit'. */
  timeLimitMs?: number;
}

const now = () => (typeof performance !== 'undefined' ? performance.now() : Date.now());

/** Greedy continuations of `prompts`, in their order; every tensor made is freed, also on error. */
export async function greedyBatch(model: BatchDecodingModel, prompts: readonly BatchPrompt[], opts: GreedyBatchOptions): Promise<GenerateResult[]> {
  const B = prompts.length;
  if (B === 0) return [];
  for (const p of prompts) if (p.ids.length === 0) throw new Error('greedyBatch: a prompt has no tokens');
  const start = now();
  const stop = new Set(opts.eosTokenIds);
  const out: number[][] = prompts.map(() => []);
  const reason: (GenerateResult['stopReason'] | undefined)[] = prompts.map((p) => (p.maxNewTokens <= 0 ? 'max_tokens' : undefined));
  const next = Int32Array.from(prompts, (p) => p.ids.length); // each row's next position id
  const cache = model.createKvCache();
  try {
    let x = firstColumnBlock(prompts);
    for (let step = 0; reason.some((r) => r === undefined); step++) {
      if (opts.timeLimitMs !== undefined && now() - start > opts.timeLimitMs) {
        for (let r = 0; r < B; r++) reason[r] ??= 'time_limit';
        break;
      }
      if (cache.length + x.ids.length / B > model.config.maxPositionEmbeddings) {
        for (let r = 0; r < B; r++) reason[r] ??= 'max_tokens';
        break;
      }
      const logits = model.decodeBatch(x, cache, opts.forward);
      const tokens = await chooseTokens(logits, prompts, out, step).finally(() => logits.dispose());
      const fed = new Int32Array(B), seg = new Int32Array(B), pos = new Int32Array(B);
      for (let r = 0; r < B; r++) {
        pos[r] = next[r];
        if (reason[r] !== undefined) continue; // finished rows ride along as padding
        if (stop.has(tokens[r])) {
          reason[r] = 'eos';
          continue;
        }
        out[r].push(tokens[r]);
        if (out[r].length >= prompts[r].maxNewTokens) reason[r] = 'max_tokens';
        else (fed[r] = tokens[r], (seg[r] = 1), next[r]++);
      }
      x = { batch: B, ids: fed, positions: pos, segments: seg };
    }
  } finally {
    disposeKvCache(cache);
  }
  const ms = now() - start;
  return out.map((ids, r) => ({ ids, text: opts.decode(ids), stopReason: reason[r]!, ms }));
}

/** The prompts as one left-padded block [B, Tmax]: padding has segment 0; positions count each row's own tokens. */
function firstColumnBlock(prompts: readonly BatchPrompt[]): DecodeInputs {
  const B = prompts.length, T = Math.max(...prompts.map((p) => p.ids.length));
  const ids = new Int32Array(B * T), positions = new Int32Array(B * T), segments = new Int32Array(B * T);
  prompts.forEach((p, r) => {
    const pad = T - p.ids.length;
    for (let t = 0; t < p.ids.length; t++) {
      ids[r * T + pad + t] = p.ids[t];
      positions[r * T + pad + t] = t;
      segments[r * T + pad + t] = 1;
    }
  });
  return { batch: B, ids, positions, segments };
}

/** Each row's greedy token: argmax on the device, or on the host after the row's processors when it has any. */
async function chooseTokens(logits: tf.Tensor2D, prompts: readonly BatchPrompt[], generated: readonly number[][], step: number): Promise<Int32Array> {
  const [B, V] = logits.shape;
  if (!prompts.some((p) => p.processors?.length)) {
    const best = tf.argMax(logits, 1);
    try {
      return Int32Array.from((await best.data()) as Int32Array);
    } finally {
      best.dispose();
    }
  }
  const all = (await logits.data()) as Float32Array;
  const tokens = new Int32Array(B);
  for (let r = 0; r < B; r++) {
    let row: Float32Array = all.slice(r * V, (r + 1) * V);
    for (const p of prompts[r].processors ?? []) row = p(generated[r], row, step);
    tokens[r] = argmax(row);
  }
  return tokens;
}
