/**
 * Scoring a fixed eval set's examples (issue 13), a padded batch at a time: teacher-forced over the golden answer (per
 * answer token the probability given to the golden token, whether it was the top one, and its negative log-likelihood);
 * the greedy answers, capped at the golden answer's length + ANSWER_SLACK_TOKENS, come from generate-batch.ts; then the
 * set's metrics (exact match, mean answer-token loss, expected calibration error, accuracy per skill and difficulty).
 * Pure engine: the caller supplies tokens and compare.
 */
import * as tf from '@tensorflow/tfjs-core';
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

/** One sequence to score: its token ids and which of them are the answer (1). */
export interface ScoredSequence {
  ids: Int32Array;
  trainMask: Uint8Array;
}

/**
 * Teacher-forced scores of the tokens `ids[t]` with `trainMask[t] = 1` (the answer), each predicted from `ids[0..t)`,
 * for several sequences at once: one right-padded forward (padding is its own segment 0, attended by nobody); the head
 * runs only on the answers' positions, in chunks.
 */
export async function scoreAnswerTokensBatch(model: CausalLM, seqs: readonly ScoredSequence[], hook?: LinearHook): Promise<TokenScores[]> {
  const B = seqs.length, T = Math.max(1, ...seqs.map((q) => q.ids.length));
  const rows: number[] = [], golden: number[] = [], owner: number[] = [];
  const ids = new Int32Array(B * T), positions = new Int32Array(B * T), segments = new Int32Array(B * T);
  seqs.forEach((q, b) => {
    for (let t = 0; t < q.ids.length; t++) (ids[b * T + t] = q.ids[t], (positions[b * T + t] = t), (segments[b * T + t] = 1));
    for (let t = 1; t < q.ids.length; t++) if (q.trainMask[t] === 1) (rows.push(b * T + t - 1), golden.push(q.ids[t]), owner.push(b));
  });
  const scores = seqs.map((q) => {
    const n = q.trainMask.reduce((k, m, t) => k + (t > 0 && m === 1 ? 1 : 0), 0);
    return { goldenProb: new Float32Array(n), top: new Uint8Array(n), nll: 0 };
  });
  const M = rows.length;
  if (M === 0) return scores;
  const h = tf.tidy(() => {
    const x = {
      inputIds: tf.tensor2d(ids, [B, T], 'int32'), positionIds: tf.tensor2d(positions, [B, T], 'int32'), segmentIds: tf.tensor2d(segments, [B, T], 'int32'),
    };
    const hid = model.hidden(x, { linearHook: hook }); // [B, T, H]
    return tf.gather(tf.reshape(hid, [B * T, hid.shape[2]]), tf.tensor1d(rows, 'int32')) as tf.Tensor2D; // [M, H]
  });
  const filled = new Int32Array(B);
  try {
    for (let s = 0; s < M; s += HEAD_ROWS) {
      const e = Math.min(M, s + HEAD_ROWS);
      const g = golden.slice(s, e);
      const head = model.headWeight(), V = head.shape[1];
      const out = tf.tidy(() => {
        const logits = tf.matMul(tf.slice(h, [s, 0], [e - s, h.shape[1]]), head); // [c, V]
        const at = tf.tensor1d(g.map((id, i) => i * V + id), 'int32');
        const picked = tf.sub(tf.gather(tf.reshape(logits, [-1]), at), tf.logSumExp(logits, 1)); // log p(golden) [c]
        return tf.concat([picked, tf.cast(tf.argMax(logits, 1), 'float32')]); // [2c]
      });
      const v = await out.data();
      out.dispose();
      for (let i = 0; i < e - s; i++) {
        const sc = scores[owner[s + i]], k = filled[owner[s + i]]++;
        sc.goldenProb[k] = Math.exp(v[i]);
        sc.top[k] = v[e - s + i] === g[i] ? 1 : 0;
        sc.nll -= v[i];
      }
    }
  } finally {
    h.dispose();
  }
  return scores;
}

/** scoreAnswerTokensBatch of one sequence. */
export async function scoreAnswerTokens(model: CausalLM, ids: Int32Array, trainMask: Uint8Array, hook?: LinearHook): Promise<TokenScores> {
  return (await scoreAnswerTokensBatch(model, [{ ids, trainMask }], hook))[0];
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
