/**
 * Scoring one example of a fixed eval set (issue 13): teacher-forced over the golden answer (per answer token the
 * probability given to the golden token, whether it was the top one, and its negative log-likelihood) and a greedy
 * answer capped at the golden answer's length + 16 tokens; then the set's metrics (exact match, mean answer-token loss,
 * expected calibration error, accuracy per skill and difficulty). Pure engine: the caller supplies tokens and compare.
 */
import * as tf from '@tensorflow/tfjs-core';
import { generate, type DecodingModel, type GenerateParams } from './generate.ts';
import { singleSequence } from './model.ts';
import { expectedCalibrationError } from './calibration.ts';
import type { CausalLM, LinearHook } from './types.ts';

/** Extra tokens a generated answer may have beyond the golden answer's length. */
export const ANSWER_SLACK_TOKENS = 16;
/** Rows of [rows, V] logits computed at once (V = 151936 gives ~39 MB per chunk). */
const HEAD_ROWS = 64;

export interface TokenScores {
  /** Probability of the golden token at each answer position. */
  goldenProb: Float32Array;
  /** 1 where the golden token was the model's top token. */
  top: Uint8Array;
  /** Σ −log p(golden) over the answer tokens. */
  nll: number;
}

/**
 * Teacher-forced scores of the tokens `ids[t]` with `trainMask[t] = 1` (the answer), each predicted from `ids[0..t)`.
 * One forward; the head runs only on the answer's positions, in chunks.
 */
export async function scoreAnswerTokens(model: CausalLM, ids: Int32Array, trainMask: Uint8Array, hook?: LinearHook): Promise<TokenScores> {
  const rows: number[] = [], golden: number[] = [];
  for (let t = 1; t < ids.length; t++) if (trainMask[t] === 1) (rows.push(t - 1), golden.push(ids[t]));
  const M = rows.length;
  const goldenProb = new Float32Array(M), top = new Uint8Array(M);
  if (M === 0) return { goldenProb, top, nll: 0 };
  const h = tf.tidy(() => {
    const x = singleSequence(ids);
    const hid = model.hidden(x, { linearHook: hook }); // [1, T, H]
    return tf.gather(tf.reshape(hid, [ids.length, hid.shape[2]]), tf.tensor1d(rows, 'int32')) as tf.Tensor2D; // [M, H]
  });
  let nll = 0;
  try {
    for (let s = 0; s < M; s += HEAD_ROWS) {
      const e = Math.min(M, s + HEAD_ROWS);
      const g = golden.slice(s, e);
      const head = model.headWeight(), V = head.shape[1];
      const out = tf.tidy(() => {
        const logp = tf.logSoftmax(tf.matMul(tf.slice(h, [s, 0], [e - s, h.shape[1]]), head)); // [c, V]
        const picked = tf.sum(tf.mul(logp, tf.cast(tf.oneHot(tf.tensor1d(g, 'int32'), V), 'float32')), 1); // [c]
        return tf.concat([picked, tf.cast(tf.argMax(logp, 1), 'float32')]); // [2c]
      });
      const v = await out.data();
      out.dispose();
      for (let i = 0; i < e - s; i++) {
        goldenProb[s + i] = Math.exp(v[i]);
        top[s + i] = v[e - s + i] === g[i] ? 1 : 0;
        nll -= v[i];
      }
    }
  } finally {
    h.dispose();
  }
  return { goldenProb, top, nll };
}

/** Greedy answer after `promptIds`, at most the golden answer's token count + ANSWER_SLACK_TOKENS. */
export function answerGreedy(model: DecodingModel, promptIds: readonly number[], goldenTokens: number, opts: Omit<GenerateParams, 'maxNewTokens' | 'temperature'>) {
  return generate(model, promptIds, { ...opts, temperature: 0, maxNewTokens: goldenTokens + ANSWER_SLACK_TOKENS });
}

/** One example's outcome, as kept with the result (its answer is inspectable). */
export interface ExampleOutcome {
  prompt: string;
  golden: string;
  answer: string;
  match: boolean;
  /** Mean answer-token loss of this example. */
  loss: number;
  skill?: string;
  difficulty?: string;
}

export interface EvalSetMetrics {
  /** Exact-match share through the profile's compare. */
  em: number;
  /** Mean −log p(golden) over every answer token of the set. */
  loss: number;
  /** ECE over the answer tokens (10 bins) of p(golden) against "golden was the top token". */
  ece: number;
  examples: number;
  tokens: number;
  /** Exact-match share per `metadata.skill` / `metadata.difficulty`, when rows carry them. */
  bySkill: Record<string, { n: number; em: number }>;
  byDifficulty: Record<string, { n: number; em: number }>;
}

/** Folds per-example outcomes and token scores into the set's metrics. */
export function evalSetMetrics(outcomes: readonly ExampleOutcome[], scores: readonly TokenScores[]): EvalSetMetrics {
  const probs: number[] = [], tops: number[] = [];
  let nll = 0;
  for (const s of scores) {
    nll += s.nll;
    for (let i = 0; i < s.goldenProb.length; i++) (probs.push(Math.min(1, Math.max(0, s.goldenProb[i]))), tops.push(s.top[i]));
  }
  const group = (key: 'skill' | 'difficulty') => {
    const g: Record<string, { n: number; em: number }> = {};
    for (const o of outcomes) {
      const k = o[key];
      if (k === undefined) continue;
      const r = (g[k] ??= { n: 0, em: 0 });
      r.em = (r.em * r.n + (o.match ? 1 : 0)) / (r.n + 1);
      r.n++;
    }
    return g;
  };
  return {
    em: outcomes.length ? outcomes.filter((o) => o.match).length / outcomes.length : 0,
    loss: probs.length ? nll / probs.length : NaN,
    ece: expectedCalibrationError(probs, tops, 10).ece,
    examples: outcomes.length,
    tokens: probs.length,
    bySkill: group('skill'),
    byDifficulty: group('difficulty'),
  };
}
